"""``sampan kubelet`` flag errors are one line with exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("args", "message"), [
    (["--cpu", "lots"], "--cpu: 'lots' is not a quantity"),
    (["--node-status-update-frequency", "soon"], "soon"),
    (["--max-pods", "0"], "max-pods must be at least 1"),
    (["--node-labels", "novalue"], "is not key=value"),
    (["--runtime", "docker"], "invalid choice"),
])
def test_bad_flags_are_one_line(args: list[str], message: str, tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "sampan.cli.main", "kubelet", "--root-dir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
