"""pytest plugin benchmark (issue 23): how long a test waits for its cluster, and what a namespace per test costs.

    .venv/bin/python bench/pytest_plugin.py            # 10 sessions per mode, 40+40 tests, 3 `sampan up`
    .venv/bin/python bench/pytest_plugin.py --quick    # 5 sessions per mode, 20+20 tests, 1 `sampan up`

Each figure comes from real ``pytest`` subprocesses on a throw-away project (no conftest; the test module
imports the ``kubernetes`` client as operator tests do). A timing plugin records when pytest starts setting
up the ``k8s`` fixture ("requested") and when the test's first API call (``GET /api/v1/namespaces/default``)
has returned. Modes of ``--sampan-prestart``:

* ``no``: the cluster process is launched when the fixture is requested (a cold start);
* ``auto``, first run of a project: launched when collection reaches a file naming ``k8s`` as a parameter,
  before that module is imported;
* ``auto``, later runs (or with ``--sampan-crds``/``--sampan-storage``; = ``yes``): launched at session
  start, overlapping collection.

Namespace overhead: median (setup + teardown) of tests using ``k8s_namespace`` minus that of tests using
only ``k8s``, in one session. For comparison: ``sampan up --detach`` (memory store, one simulated node,
returns when the node is Ready) and ``Cluster(controllers=True, nodes=1)`` to a Ready node. No real
kube-apiserver binary exists on this machine, so envtest is not measured (its documented default
control-plane start timeout is 20 s). Other load on the machine moves every figure: compare within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMING_PLUGIN = '''
import json, os, time
import pytest

MARKS = {"durations": {}}


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if fixturedef.argname == "k8s":
        MARKS["requested"] = time.perf_counter()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    start = time.perf_counter()
    yield
    MARKS["durations"][item.name] = time.perf_counter() - start


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    start = time.perf_counter()
    yield
    MARKS["durations"][item.name] += time.perf_counter() - start


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(MARKS, f)
'''

FIRST_CALL_TEST = '''
import time, urllib.request
from kubernetes import client, config  # what an operator test module imports
import bench_timing


def test_first_call(k8s):
    urllib.request.urlopen(k8s.server + "/api/v1/namespaces/default").read()
    bench_timing.MARKS["first_call"] = time.perf_counter()
'''

NAMESPACE_TESTS = '''
import pytest


@pytest.mark.parametrize("i", range({n}))
def test_plain(k8s, i):
    pass


@pytest.mark.parametrize("i", range({n}))
def test_namespaced(k8s_namespace, i):
    pass
'''


def _run_session(project: Path, *args: str) -> tuple[dict[str, object], float]:
    out = project / "marks.json"
    env = {**os.environ, "BENCH_OUT": str(out), "PYTHONPATH": str(project)}
    env.pop("KUBECONFIG", None)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "bench_timing", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pytest failed:\n{done.stdout}\n{done.stderr}")
    marks: dict[str, object] = json.loads(out.read_text())
    return marks, wall


def _project(base: Path, name: str, tests: str) -> Path:
    project = base / name
    project.mkdir()
    (project / "bench_timing.py").write_text(TIMING_PLUGIN)
    (project / "test_bench.py").write_text(tests)
    (project / "pytest.ini").write_text("[pytest]\n")
    return project


def first_call(base: Path, runs: int) -> None:
    print(f"k8s fixture requested -> first API call answered (memory store, median of {runs} sessions):")
    modes = [
        ("prestart no (cold start)", ("-p", "no:cacheprovider", "--sampan-prestart", "no")),
        ("prestart auto, first run", ("-p", "no:cacheprovider", "--sampan-prestart", "auto")),
        ("prestart auto, later runs", ("-p", "no:cacheprovider", "--sampan-prestart", "yes")),
    ]
    for label, args in modes:
        project = _project(base, label.split()[1] + label.split()[-2], FIRST_CALL_TEST)
        waits, walls = [], []
        for _ in range(runs):
            marks, wall = _run_session(project, *args)
            waits.append(float(str(marks["first_call"])) - float(str(marks["requested"])))
            walls.append(wall)
        print(f"  {label:28s} median {statistics.median(waits):6.3f} s  (min {min(waits):.3f}, "
              f"max {max(waits):.3f});  whole pytest run median {statistics.median(walls):.2f} s")


def namespace_overhead(base: Path, count: int) -> None:
    project = _project(base, "namespaces", NAMESPACE_TESTS.format(n=count))
    marks, _ = _run_session(project, "-p", "no:cacheprovider")
    durations = marks["durations"]
    assert isinstance(durations, dict)
    plain = [v for k, v in durations.items() if k.startswith("test_plain") and not k.endswith("[0]")]
    spaced = [v for k, v in durations.items() if k.startswith("test_namespaced")]
    overhead = statistics.median(spaced) - statistics.median(plain)
    print(f"k8s_namespace per test ({count} tests each): setup+teardown median "
          f"{statistics.median(spaced) * 1e3:.1f} ms vs {statistics.median(plain) * 1e3:.1f} ms with k8s alone "
          f"-> overhead {overhead * 1e3:.1f} ms")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sampan_up(base: Path, runs: int) -> None:
    times = []
    for i in range(runs):
        data = base / f"up{i}"
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "sampan.cli.main", "up", "--detach", "--storage", "memory", "--nodes", "1",
             "--runtime", "simulated", "--port", str(_free_port()), "--data-dir", str(data), "--no-merge-kubeconfig"],
            capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "KUBECONFIG": os.devnull})
        times.append(time.perf_counter() - start)
        subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(data)], capture_output=True,
                       timeout=60, check=False)
        if done.returncode != 0:
            raise SystemExit(f"sampan up failed:\n{done.stdout}\n{done.stderr}")
    print(f"sampan up --detach (memory, 1 simulated node Ready): median {statistics.median(times):.2f} s "
          f"over {runs} (min {min(times):.2f})")


def cluster_with_node(runs: int) -> None:
    from sampan.testing import Cluster

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with Cluster(controllers=True, nodes=1, set_env=False):
            times.append(time.perf_counter() - start)
    print(f"Cluster(controllers=True, nodes=1) to a Ready node: median {statistics.median(times):.2f} s over {runs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs, tests, ups = (5, 20, 1) if args.quick else (10, 40, 3)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    with tempfile.TemporaryDirectory(prefix="sampan-bench-pytest-") as tmp:
        base = Path(tmp)
        first_call(base, runs)
        namespace_overhead(base, tests)
        sampan_up(base, ups)
        cluster_with_node(ups)
    print("envtest (real kube-apiserver + etcd binaries): not installed here, not measured; controller-runtime "
          "documents a default control-plane start timeout of 20 s")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
