"""pytest-xdist: one API server per worker, and nothing left behind after a normal run, a Ctrl-C (SIGINT to
pytest) mid-run, or a worker killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.testing.project import Project, listening_ports, passed, port_of

pytestmark = pytest.mark.slow

RECORDING_TESTS = '''import json, os, pathlib, time
import pytest


def record(k8s, name):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    pathlib.Path(os.environ["OUT"], name).write_text(json.dumps(
        {"worker": worker, "server": k8s.server, "host": k8s.pid, "pid": os.getpid()}))


@pytest.mark.parametrize("i", range(6))
def test_records(k8s, k8s_namespace, i):
    record(k8s, f"t{i}.json")
    k8s.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": k8s_namespace}})
    time.sleep(float(os.environ.get("PAUSE", "0")))
'''

KILLER_TESTS = '''import json, os, pathlib, signal


def test_killed(k8s):
    pathlib.Path(os.environ["OUT"], "killed.json").write_text(json.dumps({"server": k8s.server, "host": k8s.pid}))
    os.kill(os.getpid(), signal.SIGKILL)


def test_survivor(k8s):
    k8s.create_namespace("survivor")
'''


def _records(project: Project) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(project.out.glob("*.json"))]


def _assert_nothing_left(project: Project, records: list[dict[str, object]]) -> None:
    deadline = time.monotonic() + 20  # hosts of killed workers notice EOF on their own
    hosts = {int(str(r["host"])) for r in records}
    while time.monotonic() < deadline:
        alive = {h for h in hosts if Path(f"/proc/{h}").exists()}
        if not alive and not project.leftover_processes() and not project.leftover_dirs():
            break
        time.sleep(0.1)
    assert {h for h in hosts if Path(f"/proc/{h}").exists()} == set()
    assert project.leftover_processes() == []
    assert project.leftover_dirs() == []
    ports = {port_of(str(r["server"])) for r in records}
    assert ports & listening_ports() == set()


def test_xdist_gives_each_worker_its_own_server_and_cleans_up(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write({"test_records.py": RECORDING_TESTS})
    result = project.run("-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed(result) == 6
    records = _records(project)
    by_worker: dict[str, set[str]] = {}
    for r in records:
        by_worker.setdefault(str(r["worker"]), set()).add(str(r["server"]))
    assert set(by_worker) == {"gw0", "gw1"}
    assert all(len(servers) == 1 for servers in by_worker.values())  # one server per worker, kept all session
    assert by_worker["gw0"] != by_worker["gw1"]
    _assert_nothing_left(project, records)


def test_sigint_mid_run_leaves_nothing(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write({"test_records.py": RECORDING_TESTS})
    env = {**project.env(), "PAUSE": "60"}
    # a terminal's Ctrl-C finds SIGINT at its default disposition; a suite started in the background by a
    # non-interactive shell inherits it ignored (and Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen(project.argv("-n", "2"), cwd=project.root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len({r["worker"] for r in _records(project)}) < 2:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "both workers should have started a test"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground process group
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in out
    _assert_nothing_left(project, _records(project))


def test_killed_worker_leaves_nothing(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write({"test_killer.py": KILLER_TESTS})
    result = project.run("-n", "2")
    assert "crashed" in result.stdout, result.stdout  # xdist reports the SIGKILLed worker
    killed = json.loads((project.out / "killed.json").read_text())
    _assert_nothing_left(project, [killed])
