"""The density benchmark at a reduced size inside the suite (issue 21): ``bench/density.py`` with 1,000
hollow nodes and 2,000 pods (the bench's 30,000 take many minutes on 2 cores, too long for the suite;
run it by hand), real processes throughout. ``--insecure`` keeps the suite's shape and time (every
component the insecure port's admin); the bench's default (TLS, each component its own identity, APF
ordering them) is covered at small scale by ``test_hollow_identity.py`` and measured by hand (README).

Asserted: every pod Running, every node Ready throughout (none went NotReady once Ready), the
user-process informer of every pod synced and in step, every latency-phase pod started, and latency
bounds at ``SAMPAN_SCALE_SLO_FACTOR`` (default 5) times upstream's SLOs: API call p99 <= 1 s for
single-object mutating calls and GETs, pod start-up p99 <= 5 s at 100 pods/s. Factor 1 (upstream's
bounds) is not met on 2 cores yet — README "Scale" has the figures — so the default guards against
regressions, not for the SLO. Component restarts (a scheduler or controller-manager that lost its lease
on a saturated server exits and is restarted, as in ``sampan up``) are reported in the failure message,
not asserted: on a shared machine they depend on the other load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "density.py"
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_density_1000_nodes(tmp_path: Path) -> None:
    out = tmp_path / "density.json"
    proc = subprocess.Popen([sys.executable, str(BENCH), "--nodes", "1000", "--pods", "2000", "--replicas", "1000",
                             "--latency-pods", "200", "--latency-rate", "100", "--storage", "sqlite",
                             "--timeout", "900", "--insecure", "--json", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=1100)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the bench stops its components (each in a session of its own) first
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    result = json.loads(out.read_text())
    factor = float(os.environ.get("SAMPAN_SCALE_SLO_FACTOR", "5"))
    restarts = {name: c["restarts"] for name, c in result["components"].items()}
    assert result["node_lapses"] == [], "a node went NotReady"
    assert result["informer"]["items"] >= 2000
    assert result["informer"]["in_step"]
    assert result["latency"]["startup"]["count"] == 200
    assert result["latency"]["startup"]["p99"] <= 5.0 * factor, (result["latency"], restarts)
    slow = {key: v["p99"] for key, v in result["api"].items()
            if key.split()[0] in (*MUTATING, "GET") and v["count"] >= 20 and v["p99"] > 1.0 * factor}
    assert not slow, f"p99 above {factor:g} s: {slow} (restarts {restarts})"
