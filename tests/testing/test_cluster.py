"""``sampan.testing.Cluster`` used directly (no pytest plugin): both context managers, the helpers, the
namespace controller, the parent-death guard and start-up errors."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sampan.testing import Cluster, ClusterError
from sampan.testing.process import WORKDIR_PREFIX, reap_stale_workdirs

CRD_AND_OBJECT = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: sprockets.cluster.sampan.io}
spec:
  group: cluster.sampan.io
  scope: Namespaced
  names: {plural: sprockets, singular: sprocket, kind: Sprocket}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: cluster.sampan.io/v1
kind: Sprocket
metadata: {name: s1}
spec: {teeth: 12}
"""


def _cm(name: str, namespace: str = "default") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}


def test_sync_cluster_applies_waits_and_cleans_up() -> None:
    saved = os.environ.get("KUBECONFIG")
    with Cluster() as cluster:
        assert os.environ["KUBECONFIG"] == str(cluster.kubeconfig)
        workdir, host = cluster.kubeconfig.parent, cluster.pid
        stored = cluster.apply(CRD_AND_OBJECT)  # the CRD is Established before its object is applied
        assert [o["kind"] for o in stored] == ["CustomResourceDefinition", "Sprocket"]
        assert stored[1]["metadata"]["namespace"] == "default"
        cluster.apply(CRD_AND_OBJECT)  # server-side apply: idempotent
        assert cluster.get({"apiVersion": "cluster.sampan.io/v1", "kind": "Sprocket",
                            "metadata": {"name": "s1"}})["spec"] == {"teeth": 12}
        assert cluster.get(_cm("absent")) is None
        with pytest.raises(TimeoutError, match="ConfigMap/absent"):
            cluster.wait_for(_cm("absent"), "exists", timeout=0.2)
        cluster.apply({**_cm("c"), "data": {"k": "v"}})
        assert cluster.wait_for(_cm("c"), "jsonpath={.data.k}=v")["data"] == {"k": "v"}
        cluster.delete(_cm("c"), wait=True)
        assert cluster.get(_cm("c")) is None
    assert os.environ.get("KUBECONFIG") == saved
    assert not workdir.exists()
    assert not Path(f"/proc/{host}").exists()


def test_namespace_deletion_deletes_its_objects() -> None:
    with Cluster() as cluster:
        cluster.create_namespace("doomed")
        cluster.apply(_cm("inside", "doomed"))
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}
        cluster.delete(namespace, wait=True)  # the namespace controller empties and finalizes it
        assert cluster.get(_cm("inside", "doomed")) is None


async def test_async_cluster_with_per_loop_client_and_aio_helpers() -> None:
    async with Cluster() as cluster:
        configmaps = await cluster.client.resource("v1", "configmaps")
        assert cluster.client is cluster.client  # one client per loop
        await configmaps.create(_cm("a"), namespace="default")
        found = await cluster.aio.wait_for(_cm("a"), lambda obj: obj is not None, timeout=5)
        assert found is not None
        assert found["metadata"]["name"] == "a"
        await cluster.aio.apply({**_cm("b"), "data": {"x": "1"}})
        assert (await cluster.aio.get(_cm("b")))["data"] == {"x": "1"}
        await cluster.aio.delete(_cm("b"), wait=True)
        assert await cluster.aio.get(_cm("b")) is None


@pytest.mark.slow
def test_components_run_pods_on_simulated_nodes() -> None:
    with Cluster(controllers=True, nodes=2) as cluster:
        assert cluster.nodes == ["sampan-node-1", "sampan-node-2"]
        assert cluster.ensure(nodes=1) == cluster.nodes  # nodes only grow
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "default"},
               "spec": {"template": {"metadata": {"annotations": {"sim.sampan.io/run-seconds": "0.2"}},
                                     "spec": {"restartPolicy": "Never",
                                              "containers": [{"name": "c", "image": "busybox"}]}}}}
        cluster.apply(job)
        cluster.wait_for(job, "condition=Complete", timeout=60)
        _cascade_from_a_crd_created_after_the_controllers(cluster)


def _cascade_from_a_crd_created_after_the_controllers(cluster: Cluster) -> None:
    """The garbage collector re-discovers resources every 2 s in a test cluster (upstream: 30 s), so a
    custom object made by a just-installed CRD takes its dependents with it well within the deadline."""
    cluster.apply({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": "owners.qa.sampan.io"},
                   "spec": {"group": "qa.sampan.io", "scope": "Namespaced",
                            "names": {"plural": "owners", "singular": "owner", "kind": "Owner"},
                            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                                "openAPIV3Schema": {"type": "object",
                                                    "x-kubernetes-preserve-unknown-fields": True}}}]}})
    [owner] = cluster.apply({"apiVersion": "qa.sampan.io/v1", "kind": "Owner",
                             "metadata": {"name": "o", "namespace": "default"}})
    ref = {"apiVersion": "qa.sampan.io/v1", "kind": "Owner", "name": "o", "uid": owner["metadata"]["uid"]}
    child = {**_cm("owned"), "metadata": {"name": "owned", "namespace": "default", "ownerReferences": [ref]}}
    cluster.apply(child)
    cluster.delete(owner, wait=True)
    assert cluster.wait_for(child, "delete", timeout=15) is None


def test_killed_parent_leaves_no_process_and_no_directory(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys, time
        from sampan.testing import Cluster
        cluster = Cluster().start()
        print(cluster.pid, cluster.kubeconfig.parent, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        assert parent.stdout is not None
        host_pid, workdir = parent.stdout.readline().split()
        assert Path(workdir).is_dir()
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while (Path(f"/proc/{host_pid}").exists() or Path(workdir).exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{host_pid}").exists()
        assert not Path(workdir).exists()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_killed_host_is_reported_and_its_directory_removed() -> None:
    cluster = Cluster().start()
    workdir = cluster.kubeconfig.parent
    os.kill(cluster.pid, signal.SIGKILL)
    with pytest.raises(ClusterError, match="test cluster"):
        cluster.ensure(nodes=0, timeout=10)
    cluster.stop()
    assert not workdir.exists()


def test_stale_workdirs_of_dead_parents_are_reaped(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    stale = tmp_path / f"{WORKDIR_PREFIX}{dead.stdout.strip()}-abc"
    mine = tmp_path / f"{WORKDIR_PREFIX}{os.getpid()}-abc"
    for d in (stale, mine):
        (d / "data").mkdir(parents=True)
    assert reap_stale_workdirs(tmp_path) == [stale]
    assert mine.exists()
    assert not stale.exists()


def test_start_failure_quotes_the_host_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPAN_ETCD", "/nonexistent/etcd")
    cluster = Cluster(storage="etcd", start_timeout=60)
    with pytest.raises(ClusterError, match=r"failed to start.*etcd"):
        cluster.start()
    assert not cluster.running


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="storage"):
        Cluster(storage="postgres")
    with pytest.raises(ValueError, match="nodes"):
        Cluster(nodes=-1)
    with pytest.raises(ClusterError, match="not running"):
        _ = Cluster().server


def test_client_needs_a_running_loop() -> None:
    with Cluster() as cluster, pytest.raises(RuntimeError):
        _ = cluster.client


def test_sqlite_storage() -> None:
    with Cluster(storage="sqlite") as cluster:
        cluster.apply(_cm("persisted"))
        assert (cluster.kubeconfig.parent / "data" / "state.db").exists()
        assert cluster.get(_cm("persisted")) is not None


async def test_async_with_does_not_block_the_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        async with Cluster() as cluster:
            assert cluster.running
    finally:
        task.cancel()
    assert ticks > 1


@pytest.mark.etcd
def test_etcd_storage_runs_a_private_member_that_dies_with_the_cluster() -> None:
    with Cluster(storage="etcd") as cluster:
        cluster.apply(_cm("in-etcd"))
        assert cluster.get(_cm("in-etcd")) is not None
        workdir = cluster.kubeconfig.parent
        assert (workdir / "etcd").is_dir()
        host = cluster.pid
        children = set()
        for task in Path(f"/proc/{host}/task").iterdir():
            children |= set((task / "children").read_text().split())
        assert children  # the etcd member (through setpriv)
    for pid in children:
        assert not Path(f"/proc/{pid}").exists()
    assert not workdir.exists()
