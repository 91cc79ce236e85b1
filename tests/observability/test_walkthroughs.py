"""Every walkthrough in docs/walkthroughs runs as written: its ``sh`` blocks, in order, as one bash script
(``set -euo pipefail``) in a fresh directory, with this checkout's ``sampan`` first on PATH. A cluster left
behind by a failing step is stopped. The walkthroughs use simulated nodes (no kube-proxy, no pod network),
so they program nothing in the kernel and need not queue behind ``/tmp/sampan-net.lock``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "walkthroughs"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")]


def script_of(doc: Path) -> str:
    blocks = BLOCK.findall(doc.read_text())
    assert blocks, f"{doc.name} has no sh block"
    assert all("--runtime simulated" in line for b in blocks for line in b.splitlines() if "sampan up" in line)
    return "\n".join(blocks)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("doc", sorted(DOCS.glob("*.md")), ids=lambda p: p.stem)
def test_walkthrough_runs(doc: Path, tmp_path: Path) -> None:
    script = ("set -euo pipefail\n"
              "trap 'sampan down --data-dir .sampan-demo >/dev/null 2>&1 || true' EXIT\n" + script_of(doc))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", "COLUMNS": "160",
           "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    try:
        run = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=500)
    finally:  # a step that hung was killed with its shell, before the shell's trap could stop the cluster
        subprocess.run(["sampan", "down", "--data-dir", ".sampan-demo"], cwd=tmp_path, env=env,
                       capture_output=True, timeout=120)
    assert run.returncode == 0, f"{doc.name} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    out = run.stdout
    if doc.stem == "trace-a-pod":
        assert "status write (Running)" in out
        assert "'create request', 'store write', 'scheduler receipt'" in out
    elif doc.stem == "node-dies":
        assert "condition met" in out
    elif doc.stem == "relist-after-410":
        assert re.search(r'^sampan_reflector_expired_total\{name="v1/pods"\} [1-9]', out, re.M)
        assert "too old resource version" in out  # the relist span's reason
        assert "Running" in out
    elif doc.stem == "scheduler-preempts":
        assert "Preempted" in out
        assert "scheduling cycle" in out


def test_every_walkthrough_is_listed_in_the_docs_index() -> None:
    index = (DOCS.parent / "tracing.md").read_text()
    for doc in DOCS.glob("*.md"):
        assert f"walkthroughs/{doc.name}" in index
