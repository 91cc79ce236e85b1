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
    (["--file-check-frequency", "often"], "often"),
    (["--file-check-frequency", "0s"], "file-check-frequency must be positive"),
    (["--static-pod-runtime", "docker"], "invalid choice"),
])
def test_bad_flags_are_one_line(args: list[str], message: str, tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "sampan.cli.main", "kubelet", "--root-dir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_static_pod_flags_reach_the_options(tmp_path) -> None:
    import argparse

    from sampan.cli.kubelet import options_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["kubelet", "--root-dir", str(tmp_path), "--runtime", "simulated",
                              "--pod-manifest-path", "manifests", "--file-check-frequency", "500ms",
                              "--static-pod-runtime", "process"])
    options = options_from_args(args)
    assert options.pod_manifest_path is not None
    assert options.pod_manifest_path.is_absolute()
    assert options.pod_manifest_path.name == "manifests"
    assert options.file_check_frequency == 0.5
    assert options.static_pod_runtime == "process"
    defaults = options_from_args(parser.parse_args(["kubelet", "--root-dir", str(tmp_path)]))
    assert defaults.pod_manifest_path is None
    assert defaults.file_check_frequency == 20.0
