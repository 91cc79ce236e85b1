"""A ``sampan up`` that fails or dies half-way leaves nothing running: ``--wait`` bounds the wait for
readiness, a failed ``--detach`` start returns only after its components are gone, and ``sampan down`` stops
whatever a killed supervisor left (the kubelet, the static control plane and their shims)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sampan.cli.up import READY_TIMEOUT, UpOptions, _wait_seconds, ready_timeout
from tests.support.apiserver import free_port


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes (not zombies) whose argv mentions ``text``."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in argv and state != "Z":
            out.append(f"{proc.name}: {argv[:200]}")
    return out


def sampan(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": os.devnull}
    return subprocess.run([sys.executable, "-m", "sampan.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_wait_flag_values(tmp_path: Path) -> None:
    assert _wait_seconds(None) is None
    assert _wait_seconds("5m") == 300
    assert _wait_seconds("90") == 90
    for bad in ("soon", "0s", "-1s"):
        with pytest.raises(ValueError, match=r"^--wait: invalid value"):
            _wait_seconds(bad)
    assert ready_timeout(UpOptions(data_dir=tmp_path, wait=7.0, control_plane_nodes=3)) == 7.0
    assert ready_timeout(UpOptions(data_dir=tmp_path)) == READY_TIMEOUT


@pytest.mark.slow
def test_failed_detached_up_and_down_after_a_killed_up_leave_nothing_running(tmp_path: Path) -> None:
    data = str(tmp_path / "cluster")
    common = ("--data-dir", data, "--runtime", "simulated", "--no-merge-kubeconfig")
    # 1. Too short a --wait: the detached start fails and returns only once all it started has stopped.
    failed = sampan("up", "--detach", *common, "--port", str(free_port()), "--wait", "1s")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "--wait" in failed.stdout
    assert processes_mentioning(data) == []

    # 2. A foreground `up` killed outright once its static API server runs: `down` stops what is left.
    env = {**os.environ, "KUBECONFIG": os.devnull}
    up = subprocess.Popen([sys.executable, "-m", "sampan.cli.main", "up", *common, "--port", str(free_port())],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not any("apiserver" in line and "kubelet" not in line for line in processes_mentioning(data)):
            assert up.poll() is None, "sampan up exited early"
            assert time.monotonic() < deadline, processes_mentioning(data)
            time.sleep(0.1)
    finally:
        up.send_signal(signal.SIGKILL)
        up.wait()
    assert processes_mentioning(data), "the killed supervisor's components still run"
    down = sampan("down", "--data-dir", data)
    assert down.returncode == 0, down.stderr
    assert "left running" in down.stdout
    deadline = time.monotonic() + 30
    while processes_mentioning(data):
        assert time.monotonic() < deadline, processes_mentioning(data)
        time.sleep(0.1)


def test_the_not_ready_sentence_is_found_however_the_console_wrapped_it(tmp_path: Path) -> None:
    from sampan.cli.up_detached import not_ready_line

    log = tmp_path / "up.log"
    assert not_ready_line(log) == ""  # no log yet
    log.write_text("INFO started\nthe cluster did not become ready in 1s (waiting for the API server; more "
                   "time:\n--wait); apiserver.log says:\nINFO a\nINFO b\n")
    assert not_ready_line(log) == ("the cluster did not become ready in 1s (waiting for the API server; "
                                   "more time: --wait)")
