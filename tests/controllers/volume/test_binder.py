"""The PV binder, the local-path provisioner and the protection finalizers against a real API server."""

from __future__ import annotations

import asyncio
from typing import Any

from sampan.client import Client
from sampan.controllers.volume.binder import NO_CLASS_MSG, WAIT_MSG
from tests.controllers.support import fast_options, running_manager, wait_for

VOLUME_CONTROLLERS = ("persistentvolume-binder", "pvc-protection", "pv-protection")


def claim_body(name: str, size: str = "1Gi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, **spec}}


def pv_body(name: str, size: str, *, labels: dict[str, str] | None = None, policy: str = "Retain",
            modes: tuple[str, ...] = ("ReadWriteOnce",), cls: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes),
                            "hostPath": {"path": f"/tmp/sampan-test-{name}"}, "persistentVolumeReclaimPolicy": policy}
    if cls:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "labels": labels or {}},
            "spec": spec}


async def events_for(client: Client, name: str) -> list[tuple[str, str]]:
    events = await client.resource("v1", "events")
    return [(e["reason"], e["message"]) for e in (await events.list(namespace="default"))["items"]
            if e["involvedObject"]["name"] == name]


async def test_static_binding_pending_event_and_release(client: Client) -> None:
    pvs = await client.resource("v1", "persistentvolumes")
    pvcs = await client.resource("v1", "persistentvolumeclaims")
    options = fast_options(VOLUME_CONTROLLERS, create_default_storage_class=False)
    async with running_manager(client, options):
        await pvcs.create(claim_body("lonely"))

        async def pending_event() -> bool:
            return ("FailedBinding", NO_CLASS_MSG) in await events_for(client, "lonely")

        await wait_for(pending_event, message="the no-volume event")
        assert (await pvcs.get("lonely", namespace="default"))["status"]["phase"] == "Pending"

    # the smallest fitting volume wins; size, access modes, class and selector filter. The volumes are made
    # while no binder runs, so it sees them all at once (made one by one under a running binder, "big" could
    # be the only fit for a moment and win: a CI run caught that)
    await pvs.create(pv_body("small", "500Mi"))
    await pvs.create(pv_body("rwx-only", "2Gi", modes=("ReadWriteMany",)))
    await pvs.create(pv_body("classy", "2Gi", cls="fast"))
    await pvs.create(pv_body("big", "10Gi", policy="Delete"))
    await pvs.create(pv_body("fit", "2Gi", labels={"tier": "db"}))
    async with running_manager(client, options):

        async def bound(name: str) -> dict[str, Any] | None:
            c = await pvcs.get(name, namespace="default")
            return c if (c.get("status") or {}).get("phase") == "Bound" else None

        claim = await wait_for(lambda: bound("lonely"), message="lonely bound")
        assert claim["spec"]["volumeName"] == "fit"
        assert claim["status"]["capacity"] == {"storage": "2Gi"}
        assert claim["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
        pv = await pvs.get("fit")
        assert pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
        await wait_for(lambda: _phase(pvs, "fit", "Bound"), message="fit Bound")

        await pvcs.create(claim_body("picky", selector={"matchLabels": {"tier": "none"}}))
        await pvcs.create(claim_body("big-one", "5Gi"))
        claim = await wait_for(lambda: bound("big-one"), message="big-one bound")
        assert claim["spec"]["volumeName"] == "big"
        assert (await pvcs.get("picky", namespace="default"))["status"]["phase"] == "Pending"

        # deleting a claim releases a Retain volume and deletes a Delete one (protection lets it go)
        await pvcs.delete("lonely", namespace="default")
        await wait_for(lambda: _phase(pvs, "fit", "Released"), message="fit Released")
        await pvcs.delete("big-one", namespace="default")

        async def big_gone() -> bool:
            return "big" not in {v["metadata"]["name"] for v in (await pvs.list())["items"]}

        await wait_for(big_gone, message="the Delete volume deleted")


async def test_default_class_wait_for_first_consumer_and_provisioning(client: Client) -> None:
    pvs = await client.resource("v1", "persistentvolumes")
    pvcs = await client.resource("v1", "persistentvolumeclaims")
    nodes = await client.resource("v1", "nodes")
    pods = await client.resource("v1", "pods")
    node = await nodes.create({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "n1", "labels": {"kubernetes.io/hostname": "n1"},
        "annotations": {"sampan.io/local-path-dir": "/var/lib/sampan-test/local-path"}}})
    assert node["metadata"]["name"] == "n1"
    async with running_manager(client, fast_options(VOLUME_CONTROLLERS)):
        sc = await wait_for(lambda: _get_class(client), message="the default class")
        assert sc["provisioner"] == "sampan.io/local-path"
        assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
        await pvcs.create(claim_body("data"))

        async def waiting() -> bool:
            c = await pvcs.get("data", namespace="default")
            return (c["spec"].get("storageClassName") == "local-path"
                    and ("WaitForFirstConsumer", WAIT_MSG) in await events_for(client, "data"))

        await wait_for(waiting, message="default class and the waiting event")
        await pods.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user", "namespace": "default"},
                           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}],
                                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})
        # the scheduler's VolumeBinding plugin picks the node (PreBind); the binder never guesses it
        await asyncio.sleep(0.3)
        assert not (await pvcs.get("data", namespace="default"))["spec"].get("volumeName")
        c = await pvcs.get("data", namespace="default")
        c["metadata"].setdefault("annotations", {})["volume.kubernetes.io/selected-node"] = "n1"
        await pvcs.update(c)

        async def bound() -> dict[str, Any] | None:
            c = await pvcs.get("data", namespace="default")
            return c if (c.get("status") or {}).get("phase") == "Bound" else None

        claim = await wait_for(bound, message="provisioned and bound")
        assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == "n1"
        pv = await pvs.get(claim["spec"]["volumeName"])
        uid = claim["metadata"]["uid"]
        assert pv["metadata"]["name"] == f"pvc-{uid}"
        assert pv["spec"]["hostPath"] == {"path": f"/var/lib/sampan-test/local-path/pvc-{uid}_default_data",
                                          "type": "DirectoryOrCreate"}
        assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [
            "n1"]
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"

        # the claim stays while a pod uses it (pvc-protection), then goes; its volume is Released
        await pvcs.delete("data", namespace="default")
        assert (await pvcs.get("data", namespace="default"))["metadata"]["deletionTimestamp"]
        await pods.delete("user", namespace="default", grace_period_seconds=0)

        async def claim_gone() -> bool:
            return not (await pvcs.list(namespace="default"))["items"]

        await wait_for(claim_gone, message="claim removed once unused")
        await wait_for(lambda: _phase(pvs, pv["metadata"]["name"], "Released"), message="Released")


async def _phase(pvs: Any, name: str, phase: str) -> bool:
    return bool(((await pvs.get(name)).get("status") or {}).get("phase") == phase)


async def _get_class(client: Client) -> dict[str, Any] | None:
    scs = await client.resource("storage.k8s.io/v1", "storageclasses")
    items = (await scs.list())["items"]
    return items[0] if items else None
