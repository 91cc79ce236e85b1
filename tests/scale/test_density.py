"""The density benchmark at a reduced size inside the suite (issue 21): ``bench/density.py`` with 1,000
hollow nodes and 3,000 pods (the bench's 30,000 takes several minutes on 2 idle cores, too long for the
suite; run it by hand), real processes throughout.

Asserted at this scale, as upstream's SLOs: every pod Running, every node Ready throughout (none went
NotReady once Ready), no component lost its lease (none restarted), the user-process informer of every pod
synced and in step, API call p99 <= 1 s for single-object mutating calls and GETs, pod start-up p99 <= 5 s
in the latency phase (100 pods/s). ``SAMPAN_SCALE_SLO_FACTOR`` multiplies the latency bounds on a machine
known to be shared (default 1: upstream's bounds)."""

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
    proc = subprocess.run([sys.executable, str(BENCH), "--nodes", "1000", "--pods", "3000", "--replicas", "1000",
                           "--latency-pods", "300", "--latency-rate", "100", "--storage", "sqlite",
                           "--timeout", "900", "--json", str(out)],
                          capture_output=True, text=True, timeout=1150, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    factor = float(os.environ.get("SAMPAN_SCALE_SLO_FACTOR", "1"))
    assert result["node_lapses"] == [], "a node went NotReady"
    assert {name: c["restarts"] for name, c in result["components"].items()} == dict.fromkeys(result["components"], 0)
    assert result["informer"]["items"] >= 3000
    assert result["informer"]["in_step"]
    assert result["latency"]["startup"]["count"] == 300
    assert result["latency"]["startup"]["p99"] <= 5.0 * factor, result["latency"]
    slow = {key: v["p99"] for key, v in result["api"].items()
            if key.split()[0] in (*MUTATING, "GET") and v["count"] >= 20 and v["p99"] > 1.0 * factor}
    assert not slow, f"p99 above 1 s: {slow}"
