"""The scheduler's VolumeBinding plugin with real parts: an in-process API server, two simulated kubelets,
the real StatefulSet controller and PV binder (the ``local-path`` provisioner, WaitForFirstConsumer) and
the real scheduler. Checks: a StatefulSet's claims are provisioned on the nodes its pods were scheduled to
(spread across both by anti-affinity); a pod whose local PV lives on node B goes to B and the volume is
bound through the scheduler's pre-binding; upstream's unschedulable messages reach the events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sampan._lib.tasks import cancel_and_wait
from sampan.client import Client
from sampan.kubelet.kubelet import Kubelet, KubeletOptions
from tests.controllers.support import fast_options, running_manager, unthrottled_client, wait_for
from tests.support.apiserver import InProcessAPIServer
from tests.support.scheduler import running_scheduler

pytestmark = pytest.mark.slow
CONTROLLERS = ("statefulset", "persistentvolume-binder", "pvc-protection", "pv-protection")
NODES = ("node-a", "node-b")


@contextlib.asynccontextmanager
async def simulated_nodes(client: Client, root: Path) -> AsyncIterator[list[Kubelet]]:
    kubelets = [Kubelet(client, KubeletOptions(
        node_name=name, root_dir=root / name, runtime="simulated", port=0, node_status_update_frequency=0.5,
        lease_renew_interval=0.5, sync_period=0.2)) for name in NODES]
    tasks = [asyncio.create_task(k.run()) for k in kubelets]
    try:
        for k in kubelets:
            await asyncio.wait_for(k.ready.wait(), 30)
        yield kubelets
    finally:
        await cancel_and_wait(tasks)


def statefulset() -> dict[str, Any]:
    labels = {"app": "db"}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
            "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": labels},
                     "podManagementPolicy": "Parallel",
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 0,
                         "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                             {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}},
                         "containers": [{"name": "c", "image": "db",
                                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}


def pod(name: str, claim: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": "app"}],
                     "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}], **spec}}


def claim(name: str, class_name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": {"storageClassName": class_name, "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}


def storage_class(name: str, provisioner: str, mode: str) -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": provisioner, "volumeBindingMode": mode}


async def test_volume_binding_places_pods_where_their_volumes_are(
        inproc_apiserver: InProcessAPIServer, tmp_path: Path) -> None:
    client = unthrottled_client(inproc_apiserver.kubeconfig)
    r = {name: await client.resource(gv, name) for gv, name in (
        ("v1", "pods"), ("v1", "persistentvolumeclaims"), ("v1", "persistentvolumes"), ("v1", "events"),
        ("apps/v1", "statefulsets"), ("storage.k8s.io/v1", "storageclasses"))}
    try:
        async with simulated_nodes(client, tmp_path) as kubelets, \
                running_manager(client, fast_options(CONTROLLERS)), running_scheduler(inproc_apiserver.kubeconfig):
            disk = tmp_path / "disk"
            disk.mkdir()
            # a static local volume on node-b (no provisioner, bound at first consumer) and an Immediate class
            # whose external provisioner never comes
            await r["storageclasses"].create(storage_class("manual", "kubernetes.io/no-provisioner",
                                                           "WaitForFirstConsumer"))
            await r["storageclasses"].create(storage_class("remote", "example.com/absent", "Immediate"))
            await r["persistentvolumes"].create({
                "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "local-b"},
                "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                         "storageClassName": "manual", "persistentVolumeReclaimPolicy": "Retain",
                         "local": {"path": str(disk)},
                         "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                             {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-b"]}]}]}}}})
            for name, cls in (("on-b", "manual"), ("none-left", "manual"), ("remote", "remote")):
                await r["persistentvolumeclaims"].create(claim(name, cls))
            await r["statefulsets"].create(statefulset())
            await r["pods"].create(pod("uses-b", "on-b"))

            async def running(name: str) -> dict[str, Any] | None:
                items = (await r["pods"].list(namespace="default", field_selector=f"metadata.name={name}"))["items"]
                return next((p for p in items if (p.get("status") or {}).get("phase") == "Running"), None)

            placed = {}
            for name in ("db-0", "db-1", "uses-b"):
                placed[name] = (await wait_for(lambda n=name: running(n), timeout=60, message=f"{name} running")
                                )["spec"]["nodeName"]
            assert placed["uses-b"] == "node-b"
            assert {placed["db-0"], placed["db-1"]} == set(NODES)
            for ordinal in (0, 1):
                c = await r["persistentvolumeclaims"].get(f"data-db-{ordinal}", namespace="default")
                assert c["status"]["phase"] == "Bound"
                assert c["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == placed[f"db-{ordinal}"]
                pv = await r["persistentvolumes"].get(c["spec"]["volumeName"])
                [term] = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
                assert term["matchExpressions"][0]["values"] == [placed[f"db-{ordinal}"]]
                kubelet = next(k for k in kubelets if k.options.node_name == placed[f"db-{ordinal}"])
                assert Path(pv["spec"]["hostPath"]["path"]).parent == kubelet.local_path_dir
            static = await r["persistentvolumeclaims"].get("on-b", namespace="default")
            assert (static["status"]["phase"], static["spec"]["volumeName"]) == ("Bound", "local-b")
            assert (await r["persistentvolumes"].get("local-b"))["spec"]["claimRef"]["name"] == "on-b"

            # upstream's reasons: an unbound Immediate claim; no volume left for a no-provisioner class; a
            # bound volume on node-b for a pod that must run on node-a
            await r["pods"].create(pod("waits-remote", "remote"))
            await r["pods"].create(pod("no-volume", "none-left"))
            await r["pods"].create(pod("wrong-node", "on-b", nodeSelector={"kubernetes.io/hostname": "node-a"}))

            async def failed(name: str) -> str:
                items = (await r["events"].list(namespace="default", field_selector=(
                    f"involvedObject.name={name},reason=FailedScheduling")))["items"]
                return str(items[-1]["message"]) if items else ""

            remote = await wait_for(lambda: failed("waits-remote"), message="FailedScheduling for waits-remote")
            assert remote.startswith("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
            none_left = await wait_for(lambda: failed("no-volume"), message="FailedScheduling for no-volume")
            assert none_left.startswith(
                "0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind.")
            wrong = await wait_for(lambda: failed("wrong-node"), message="FailedScheduling for wrong-node")
            assert "1 node(s) had volume node affinity conflict" in wrong
            assert "1 node(s) didn't match Pod's node affinity/selector" in wrong
            for name in ("waits-remote", "no-volume", "wrong-node"):
                assert not (await r["pods"].get(name, namespace="default"))["spec"].get("nodeName")
    finally:
        await client.close()
