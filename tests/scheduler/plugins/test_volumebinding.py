"""VolumeBinding's hooks against its cache (no API): claim sorting, per-node decisions, assumptions that keep
a second pod off a volume the first one reserved, and PreBind's writes and wait."""

from __future__ import annotations

import asyncio
from typing import Any

from sampan.scheduler.cache.volumes import VolumeCache
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.status import Code
from sampan.scheduler.plugins.volumebinding.plugin import BIND_CONFLICT, NODE_CONFLICT, UNBOUND_IMMEDIATE, VolumeBinding
from tests.scheduler.builders import ni, node, pi

NODE_A = node("a", extra=None)
NODE_B = node("b")
NODE_A["metadata"]["annotations"] = {"sampan.io/local-path-dir": "/data"}


def claim(name: str, cls: str, *, volume: str = "", uid: str = "") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}", "resourceVersion": "1"},
            "spec": {"storageClassName": cls, "accessModes": ["ReadWriteOnce"], "volumeName": volume or None,
                     "resources": {"requests": {"storage": "1Gi"}}}}


def volume(name: str, cls: str, *, on: str, size: str = "2Gi") -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": "1"}, "status": {"phase": "Available"},
            "spec": {"storageClassName": cls, "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [on]}]}]}}}}


def using(name: str, *claims: str) -> Any:
    return pi(name, volumes=[{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims])


class Writer:
    def __init__(self, cache: VolumeCache) -> None:
        self.cache = cache
        self.calls: list[tuple[str, str]] = []

    async def bind_volume(self, volume: dict[str, Any]) -> None:
        self.calls.append(("bind", volume["metadata"]["name"]))

    async def select_node(self, claim: dict[str, Any], node_name: str) -> None:
        self.calls.append(("select", f"{claim['metadata']['name']}@{node_name}"))


def cache() -> VolumeCache:
    c = VolumeCache()
    for name, provisioner, mode in (("local", "sampan.io/local-path", "WaitForFirstConsumer"),
                                    ("manual", "kubernetes.io/no-provisioner", "WaitForFirstConsumer"),
                                    ("fast", "example.com/x", "Immediate")):
        c.set_class({"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode})
    return c


def test_prefilter_sorts_claims_and_rejects_what_no_node_can_fix() -> None:
    c = cache()
    plugin = VolumeBinding(c, None, bind_timeout=1)
    assert plugin.pre_filter(CycleState(), pi("plain"), [])[1].code == Code.SKIP  # type: ignore[union-attr]
    _, st = plugin.pre_filter(CycleState(), using("p", "absent"), [])
    assert st is not None
    assert (st.code, st.message) == (Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                                        'persistentvolumeclaim "absent" not found')
    c.set_claim(claim("imm", "fast"))
    _, st = plugin.pre_filter(CycleState(), using("p", "imm"), [])
    assert st is not None
    assert st.message == UNBOUND_IMMEDIATE
    c.set_claim(claim("odd", "nope"))
    _, st = plugin.pre_filter(CycleState(), using("p", "odd"), [])
    assert st is not None
    assert st.message == 'storageclass.storage.k8s.io "nope" not found'


def test_filter_reserve_and_the_assumption_that_keeps_the_volume() -> None:
    c = cache()
    plugin = VolumeBinding(c, None, bind_timeout=1)
    c.set_volume(volume("pv-b", "manual", on="b"))
    c.set_claim(claim("one", "manual"))
    c.set_claim(claim("two", "manual"))
    c.set_claim(claim("bound", "manual", volume="pv-b"))
    a, b = ni(NODE_A), ni(NODE_B)

    state = CycleState()
    assert plugin.pre_filter(state, using("p1", "one"), [a, b]) == (None, None)
    st = plugin.filter(state, using("p1", "one"), a)
    assert st is not None
    assert (st.code, st.message) == (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, BIND_CONFLICT)
    assert plugin.filter(state, using("p1", "one"), b) is None
    assert plugin.reserve(state, using("p1", "one"), "b") is None
    assumed = c.volume("pv-b")
    assert assumed is not None
    assert assumed["spec"]["claimRef"]["name"] == "one"
    assert c.informer_volume("pv-b")["spec"].get("claimRef") is None  # type: ignore[index]

    other = CycleState()  # the next pod's cycle: the volume is taken
    plugin.pre_filter(other, using("p2", "two"), [a, b])
    st = plugin.filter(other, using("p2", "two"), b)
    assert st is not None
    assert st.message == BIND_CONFLICT
    plugin.unreserve(state, using("p1", "one"), "b")  # p1's binding failed: the volume is free again
    assert plugin.filter(other, using("p2", "two"), b) is None

    bound = CycleState()  # a bound claim's volume lives on b
    plugin.pre_filter(bound, using("p3", "bound"), [a, b])
    st = plugin.filter(bound, using("p3", "bound"), a)
    assert st is not None
    assert st.message == NODE_CONFLICT
    assert plugin.filter(bound, using("p3", "bound"), b) is None


async def test_prebind_selects_the_node_and_waits_for_the_binding() -> None:
    c = cache()
    writer = Writer(c)
    plugin = VolumeBinding(c, writer, bind_timeout=5)
    c.set_claim(claim("data", "local"))
    a, b = ni(NODE_A), ni(NODE_B)
    state = CycleState()
    pod = using("p", "data")
    plugin.pre_filter(state, pod, [a, b])
    assert plugin.filter(state, pod, b) is not None  # b publishes no local-path dir: nothing to provision on
    assert plugin.filter(state, pod, a) is None
    assert plugin.reserve(state, pod, "a") is None
    assert c.claim("default", "data")["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == "a"  # type: ignore[index]
    task = asyncio.ensure_future(plugin.pre_bind(state, pod, "a"))
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting for the PV controller
    assert writer.calls == [("select", "data@a")]
    done = claim("data", "local", volume="pvc-1")
    done["metadata"].update(resourceVersion="3", annotations={"pv.kubernetes.io/bind-completed": "yes",
                                                              "volume.kubernetes.io/selected-node": "a"})
    provisioned = volume("pvc-1", "local", on="a")
    provisioned["spec"]["claimRef"] = {"namespace": "default", "name": "data", "uid": "uid-data"}
    c.set_volume(provisioned)
    c.set_claim(done)
    assert await asyncio.wait_for(task, 5) is None

    # a provisioner that gives up removes the annotation: the pod is retried
    c.set_claim(claim("again", "local"))
    state = CycleState()
    pod = using("q", "again")
    plugin.pre_filter(state, pod, [a])
    plugin.filter(state, pod, a)
    plugin.reserve(state, pod, "a")
    task = asyncio.ensure_future(plugin.pre_bind(state, pod, "a"))
    await asyncio.sleep(0.05)
    reset = claim("again", "local")
    reset["metadata"]["resourceVersion"] = "5"
    c.set_claim(reset)
    st = await asyncio.wait_for(task, 5)
    assert st is not None
    assert st.code == Code.ERROR
    assert "selectedNode annotation reset" in st.message
