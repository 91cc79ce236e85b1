"""The plugin's options, ini keys, fixture override and marker arguments; and that a session which never asks
for a cluster gets none (the plugin loads in every pytest run where sampan is installed)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.testing.project import Project, passed


def _crd(plural: str) -> str:
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.options.sampan.io}}
spec:
  group: options.sampan.io
  scope: Namespaced
  names: {{plural: {plural}, singular: {plural[:-1]}, kind: {plural[:-1].capitalize()}}}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"""


CHILDREN = '''
import os, pathlib, sys


def children():
    out = set()
    for task in pathlib.Path(f"/proc/{os.getpid()}/task").iterdir():
        out |= set((task / "children").read_text().split())
    return out
'''

UNUSED = CHILDREN + '''

def test_nothing_started():
    assert children() == set()
    assert "KUBECONFIG" not in os.environ
    assert "sampan.client" not in sys.modules  # the plugin imports no client library until asked
'''

EARLY_CONFTEST = CHILDREN + '''
import json

FIRST = {}


def pytest_collectstart(collector):
    if type(collector).__name__ == "Module" and "children" not in FIRST:
        FIRST["children"] = sorted(children())


def pytest_sessionfinish(session):
    pathlib.Path(os.environ["OUT"], "first.json").write_text(json.dumps(FIRST))
'''

# requests the fixture in a way the source scan does not see, so only pytest's cache can tell
EARLY_TEST = '''import pytest


@pytest.mark.usefixtures("k8s")
def test_uses_the_cluster():
    pass
'''

ASYNC_TESTS = '''import pytest


@pytest.mark.parametrize("i", range(3))
async def test_client_in_each_event_loop(k8s, k8s_namespace, i):
    configmaps = await k8s.client.resource("v1", "configmaps")
    await configmaps.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}},
                            namespace=k8s_namespace)
    assert await k8s.aio.wait_for({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": f"c{i}", "namespace": k8s_namespace}})
'''

CONFIGURED_CONFTEST = '''import pathlib
import pytest


@pytest.fixture(scope="session")
def sampan_crds():
    return [pathlib.Path("crds/alphas.yaml")]
'''

CONFIGURED_TESTS = '''import pytest


def crd(k8s, plural):
    return k8s.get({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": f"{plural}.options.sampan.io"}})


def test_fixture_override_and_ini_storage(k8s):
    assert (k8s.kubeconfig.parent / "data" / "state.db").exists()  # sampan_storage = sqlite
    assert crd(k8s, "alphas") is not None
    assert crd(k8s, "betas") is None


@pytest.mark.sampan(crds=["crds_more"])
def test_marker_installs_crds(k8s):
    established = [c for c in crd(k8s, "betas")["status"]["conditions"] if c["type"] == "Established"]
    assert established[0]["status"] == "True"


@pytest.mark.sampan(replicas=3)
def test_bad_marker_argument(k8s):
    pass
'''


def test_a_session_that_never_asks_starts_nothing(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write({"test_unused.py": UNUSED})
    result = project.run()
    assert result.returncode == 0, result.stdout + result.stderr
    prestarted = project.run("--sampan-prestart", "yes")  # launched at session start, stopped after collection
    assert prestarted.returncode == 0, prestarted.stdout + prestarted.stderr
    assert project.leftover_dirs() == []


def test_a_project_that_used_the_cluster_gets_it_launched_at_session_start(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write({"conftest.py": EARLY_CONFTEST, "test_early.py": EARLY_TEST})
    children_at_collection = []
    for _ in range(2):
        result = project.run(cache=True)
        assert result.returncode == 0, result.stdout + result.stderr
        children_at_collection.append(json.loads((project.out / "first.json").read_text())["children"])
    assert children_at_collection[0] == []  # first run: nothing known before the module is collected
    assert len(children_at_collection[1]) == 1  # second run: the cluster process was already launched
    assert project.leftover_dirs() == []


def test_async_tests_get_a_client_per_event_loop_closed_with_it(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write({"test_async.py": ASYNC_TESTS})
    result = project.run("-W", "error")  # an unclosed aiohttp session would surface as an error
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed(result) == 3


def test_a_file_naming_the_fixture_gets_the_cluster_launched_before_its_import(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write({"conftest.py": EARLY_CONFTEST, "test_early.py": "def test_uses_the_cluster(k8s):\n    pass\n"})
    result = project.run()  # no cache: only the source scan can tell
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(json.loads((project.out / "first.json").read_text())["children"]) == 1


def test_ini_storage_fixture_override_and_marker_crds(tmp_path: Path) -> None:
    project = Project(tmp_path)
    (tmp_path / "pytest.ini").write_text((tmp_path / "pytest.ini").read_text() + "sampan_storage = sqlite\n")
    project.write({"crds/alphas.yaml": _crd("alphas"), "crds_more/betas.yaml": _crd("betas"),
                   "conftest.py": CONFIGURED_CONFTEST, "test_configured.py": CONFIGURED_TESTS})
    result = project.run()
    assert passed(result) == 2, result.stdout + result.stderr
    assert "1 error" in result.stdout
    assert "@pytest.mark.sampan takes controllers=, scheduler=, nodes=, crds=" in result.stdout
    assert project.leftover_dirs() == []
    assert project.leftover_processes() == []
