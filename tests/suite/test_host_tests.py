"""Host tests never overlap under pytest-xdist. A generated project with "host" modules (each with a
module-scoped fixture, like the kernel tests' bridges) and plain modules runs on two workers; every host
test and fixture records its interval, and no two may overlap. Once with both mechanisms of
``tests.support.host_tests`` (the host tests then all run on one worker; the plain ones on the other
too), once with the lock alone under ``--dist load`` (host tests spread over both workers, yet queue)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.host_tests import HOST_DIRS, HOST_MODULES, is_host_test

REPO = Path(__file__).resolve().parents[2]

CONFTEST = '''import sys
sys.path.insert(0, {repo!r})
from tests.support import host_tests


def is_host(nodeid):
    return host_tests.is_host_test(nodeid, host_dirs={{"host"}}, host_modules={{"tests/other/test_solo_host.py"}})


def pytest_configure(config):
    host_tests.register(config, is_host, schedule={schedule})
'''

RECORDING = '''import json, os, pathlib, time, uuid
import pytest


def record(what, started):
    out = pathlib.Path(os.environ["OUT"], uuid.uuid4().hex + ".json")
    out.write_text(json.dumps({{"module": {module!r}, "what": what, "kind": {kind!r},
                               "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                               "start": started, "end": time.monotonic()}}))


@pytest.fixture(scope="module")
def bridge():
    started = time.monotonic()
    time.sleep(0.05)
    yield
    time.sleep(0.05)
    record("fixture", started)


@pytest.mark.parametrize("i", range(3))
def test_step(bridge, i):
    started = time.monotonic()
    time.sleep(0.1)
    record(f"test {{i}}", started)
'''

GENERATED_HOST = ("tests/host/test_a.py", "tests/host/test_b.py", "tests/host/sub/test_c.py",
              "tests/other/test_solo_host.py")
PLAIN_MODULES = tuple(f"tests/plain/test_p{i}.py" for i in range(4))


def make_project(root: Path, *, schedule: bool) -> None:
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(CONFTEST.format(repo=str(REPO), schedule=schedule))
    for module in (*GENERATED_HOST, *PLAIN_MODULES):
        path = root / module
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(RECORDING.format(kind="host" if module in GENERATED_HOST else "plain", module=module))


def run(root: Path, *args: str) -> list[dict[str, Any]]:
    out = root / "out"
    out.mkdir()
    # xdist alone: the other installed plugins (schemathesis, hypothesis, sampan's) cost ~1.5 s of CPU per
    # process to import
    env = {**os.environ, "OUT": str(out), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "xdist.plugin", "-p", "no:cacheprovider",
                           "-n", "2", *args], cwd=root, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "24 passed" in proc.stdout, proc.stdout  # 8 modules x 3 tests
    return [json.loads(p.read_text()) for p in out.iterdir()]


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])


def assert_host_intervals_apart(records: list[dict[str, Any]]) -> None:
    host = [r for r in records if r["kind"] == "host"]
    assert len(host) == 4 * 4, records  # 3 tests and 1 fixture per host module
    tests = [r for r in host if r["what"] != "fixture"]
    fixtures = [r for r in host if r["what"] == "fixture"]
    for i, a in enumerate(tests):
        for b in tests[i + 1:]:
            assert not overlap(a, b), (a, b)
    # a host module's fixture lives from before its first test to after its last: it never spans a host test
    # of another module
    for fixture in fixtures:
        for test in tests:
            assert test["module"] == fixture["module"] or not overlap(fixture, test), (fixture, test)


def test_classification_of_the_suite_paths() -> None:
    assert all((REPO / "tests" / d).is_dir() for d in HOST_DIRS), HOST_DIRS  # no stale entry after a rename
    assert all((REPO / m).is_file() for m in HOST_MODULES), HOST_MODULES
    assert is_host_test("tests/proxy/test_up.py::test_services_carry_traffic_on_two_nodes")
    assert is_host_test("tests/kubelet/cri/test_cri_exec.py::test_exec[tty]")
    assert is_host_test("tests/controllers/disruption/test_drain.py::test_drain_respects_the_budget")
    assert not is_host_test("tests/controllers/test_liveness.py::test_x")
    assert not is_host_test("tests/apiserver/test_crud.py::test_create[tests/proxy/x]")


def test_scheduling_keeps_host_tests_on_one_worker_in_order(tmp_path: Path) -> None:
    make_project(tmp_path, schedule=True)
    records = run(tmp_path)
    assert_host_intervals_apart(records)
    host_workers = {r["worker"] for r in records if r["kind"] == "host"}
    assert len(host_workers) == 1, records
    assert {r["worker"] for r in records if r["kind"] == "plain"} - host_workers, records  # the other worker too


def test_the_lock_alone_queues_host_tests_spread_over_workers(tmp_path: Path) -> None:
    make_project(tmp_path, schedule=False)
    records = run(tmp_path, "--dist", "load")
    assert_host_intervals_apart(records)
