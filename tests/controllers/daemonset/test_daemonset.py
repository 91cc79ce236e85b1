"""The DaemonSet controller against a real API server; the fake kubelet marks pods Ready (or holds back
the new template's pods so a rollout can be stepped node by node). Pods are not bound here: the
controller tracks them by their ``metadata.name`` node affinity, as upstream does before scheduling."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

import pytest

from sampan.client import Client
from sampan.controllers.daemonset.placement import target_node
from tests.controllers.support import create_nodes, fast_options, running_kubelet, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer

CONTROLLERS = ("daemonset",)


def ds_body(name: str, image: str = "agent:1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "a", "image": image}]}}, **spec}}


async def live_pods(client: Client, name: str) -> list[dict[str, Any]]:
    pods = await client.resource("v1", "pods")
    return [p for p in (await pods.list(namespace="default", label_selector=f"app={name}"))["items"]
            if not p["metadata"].get("deletionTimestamp")]


async def per_node(client: Client, name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in await live_pods(client, name):
        out.setdefault(target_node(p) or "?", []).append(p["spec"]["containers"][0]["image"])
    return out


async def placed_on(client: Client, name: str, nodes: list[str]) -> dict[str, list[str]] | None:
    got = await per_node(client, name)
    return got if sorted(got) == sorted(nodes) and all(len(v) == 1 for v in got.values()) else None


async def status_is(client: Client, name: str, **want: int) -> dict[str, Any] | None:
    dss = await client.resource("apps/v1", "daemonsets")
    ds = await dss.get(name, namespace="default")
    status = ds.get("status") or {}
    return ds if all(status.get(k, 0) == v for k, v in want.items()) else None  # absent = 0, as Go reads it


async def set_image(client: Client, name: str, image: str) -> None:
    dss = await client.resource("apps/v1", "daemonsets")
    ds = await dss.get(name, namespace="default")
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = image
    await dss.update(ds)


async def test_one_pod_per_eligible_node_and_new_nodes(client: Client) -> None:
    nodes = await client.resource("v1", "nodes")
    await create_nodes(client, 3)
    tainted = (await create_nodes(client, 1, prefix="gpu-"))[0]
    tainted["spec"]["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    await nodes.update(tainted)
    # the automatic DaemonSet tolerations cover this one
    pressured = (await create_nodes(client, 1, prefix="full-"))[0]
    pressured["spec"]["taints"] = [{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}]
    await nodes.update(pressured)
    dss = await client.resource("apps/v1", "daemonsets")
    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        await dss.create(ds_body("agent"))
        want = ["node-0", "node-1", "node-2", "full-0"]
        await wait_for(lambda: placed_on(client, "agent", want), message="one pod per eligible node")
        ds = await wait_for(lambda: status_is(client, "agent", desiredNumberScheduled=4, currentNumberScheduled=4,
                                              numberReady=4, numberAvailable=4, updatedNumberScheduled=4,
                                              numberMisscheduled=0, observedGeneration=1), message="status")
        pod = (await live_pods(client, "agent"))[0]
        keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
        assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
        revs = await client.resource("apps/v1", "controllerrevisions")
        items = (await revs.list(namespace="default"))["items"]
        assert len(items) == 1
        assert items[0]["revision"] == 1
        assert items[0]["metadata"]["labels"]["controller-revision-hash"] == \
            pod["metadata"]["labels"]["controller-revision-hash"]
        assert ds["metadata"]["name"] == "agent"

        await create_nodes(client, 1, prefix="late-")  # a node joining gets a pod
        await wait_for(lambda: placed_on(client, "agent", [*want, "late-0"]), message="pod on the new node")
        late = await nodes.get("late-0")
        late["spec"]["taints"] = [{"key": "evict", "effect": "NoExecute"}]  # untolerated NoExecute: pod goes
        await nodes.update(late)
        await wait_for(lambda: placed_on(client, "agent", want), message="pod removed from the NoExecute node")
        await nodes.delete("node-2")
        await wait_for(lambda: placed_on(client, "agent", ["node-0", "node-1", "full-0"]),
                       message="pod of a deleted node removed")
        await wait_for(lambda: status_is(client, "agent", desiredNumberScheduled=3, numberReady=3),
                       message="status after node changes")


async def test_node_selector_and_required_affinity(client: Client) -> None:
    nodes = await client.resource("v1", "nodes")
    for node in await create_nodes(client, 3):
        if node["metadata"]["name"] != "node-2":
            node["metadata"]["labels"]["disk"] = "ssd"
        await nodes.update(node)
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["node-1"]}]}]}}}
    body = ds_body("picky")
    body["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    body["spec"]["template"]["spec"]["affinity"] = affinity
    dss = await client.resource("apps/v1", "daemonsets")
    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        await dss.create(body)
        await wait_for(lambda: placed_on(client, "picky", ["node-0"]), message="only node-0 fits")
        pod = (await live_pods(client, "picky"))[0]
        terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms == {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                                  "values": ["node-0"]}]}]}
        await wait_for(lambda: status_is(client, "picky", desiredNumberScheduled=1, numberReady=1), message="status")


async def test_rolling_update_replaces_one_node_at_a_time(client: Client) -> None:
    await create_nodes(client, 3)
    release: set[str] = set()

    def decide(pod: dict[str, Any]) -> Any:
        image = pod["spec"]["containers"][0]["image"]
        return "Ready" if image == "agent:1" or target_node(pod) in release else "Running"

    dss = await client.resource("apps/v1", "daemonsets")
    async with running_kubelet(client, decide=decide) as kubelet, \
            running_manager(client, fast_options(CONTROLLERS)):
        await dss.create(ds_body("roll"))
        await wait_for(lambda: status_is(client, "roll", numberAvailable=3), message="three available")
        await set_image(client, "roll", "agent:2")
        for step in range(1, 4):
            # exactly one node runs the new (not yet ready) pod; every other node keeps an available pod
            got = await wait_for(lambda s=step: _images(client, "roll", new=s), message=f"step {step}")
            fresh = [n for n, images in got.items() if images == ["agent:2"] and n not in release]
            assert len(fresh) == 1, got
            await asyncio.sleep(0.3)  # give a wrong controller time to delete a second old pod
            assert await _images(client, "roll", new=step) == got
            release.add(fresh[0])
            kubelet.refresh()
        await wait_for(lambda: status_is(client, "roll", updatedNumberScheduled=3, numberAvailable=3,
                                         observedGeneration=2), message="rollout complete")
        revs = await client.resource("apps/v1", "controllerrevisions")
        assert sorted(r["revision"] for r in (await revs.list(namespace="default"))["items"]) == [1, 2]


async def _images(client: Client, name: str, *, new: int) -> dict[str, list[str]] | None:
    got = await per_node(client, name)
    if len(got) != 3 or any(len(v) != 1 for v in got.values()):
        return None
    return got if sum(v == ["agent:2"] for v in got.values()) == new else None


async def test_surge_starts_new_pod_before_deleting_old(client: Client) -> None:
    await create_nodes(client, 2)
    dss = await client.resource("apps/v1", "daemonsets")
    release: set[str] = set()

    def decide(pod: dict[str, Any]) -> Any:
        image = pod["spec"]["containers"][0]["image"]
        return "Ready" if image == "agent:1" or target_node(pod) in release else "Running"

    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    async with running_kubelet(client, decide=decide) as kubelet, \
            running_manager(client, fast_options(CONTROLLERS)):
        await dss.create(ds_body("surge", updateStrategy=strategy))
        await wait_for(lambda: status_is(client, "surge", numberAvailable=2), message="two available")
        await set_image(client, "surge", "agent:2")
        got = await wait_for(lambda: _two_on_one(client, "surge"), message="a new pod beside an old one")
        node = next(n for n, images in got.items() if len(images) == 2)
        release.add(node)
        kubelet.refresh()
        await wait_for(lambda: _all_images(client, "surge", {node: ["agent:2"]}, 2), message="old pod removed")
        release.update({"node-0", "node-1"})
        kubelet.refresh()
        await wait_for(lambda: status_is(client, "surge", updatedNumberScheduled=2, numberAvailable=2),
                       message="rollout complete")


async def _two_on_one(client: Client, name: str) -> dict[str, list[str]] | None:
    got = await per_node(client, name)
    return got if sorted(len(v) for v in got.values()) == [1, 2] else None


async def _all_images(client: Client, name: str, want: dict[str, list[str]], nodes: int) -> bool:
    got = await per_node(client, name)
    return len(got) == nodes and all(sorted(got.get(n, [])) == v for n, v in want.items())


async def test_on_delete_replaces_only_deleted_pods(client: Client) -> None:
    await create_nodes(client, 2)
    dss = await client.resource("apps/v1", "daemonsets")
    pods = await client.resource("v1", "pods")
    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        await dss.create(ds_body("manual", updateStrategy={"type": "OnDelete"}))
        await wait_for(lambda: status_is(client, "manual", numberAvailable=2), message="two available")
        await set_image(client, "manual", "agent:2")
        await wait_for(lambda: status_is(client, "manual", observedGeneration=2, updatedNumberScheduled=0),
                       message="observed, nothing replaced")
        victim = next(p for p in await live_pods(client, "manual") if target_node(p) == "node-0")
        await pods.delete(victim["metadata"]["name"], namespace="default")
        await wait_for(lambda: _all_images(client, "manual", {"node-0": ["agent:2"], "node-1": ["agent:1"]}, 2),
                       message="only the deleted pod replaced with the new template")
        await wait_for(lambda: status_is(client, "manual", updatedNumberScheduled=1), message="one updated")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_rollout_status_history_undo(client: Client, inproc_apiserver: InProcessAPIServer) -> None:
    await create_nodes(client, 2)
    dss = await client.resource("apps/v1", "daemonsets")

    async def kubectl(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(inproc_apiserver.kubeconfig), "-n", "default", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "KUBECTL_COMMAND_HEADERS": "false"})
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return out.decode()

    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        await dss.create(ds_body("hist"))
        assert "successfully rolled out" in await kubectl("rollout", "status", "daemonset/hist", "--timeout=60s")
        await set_image(client, "hist", "agent:2")
        assert "successfully rolled out" in await kubectl("rollout", "status", "daemonset/hist", "--timeout=60s")
        history = await kubectl("rollout", "history", "daemonset/hist")
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
        assert "rolled back" in await kubectl("rollout", "undo", "daemonset/hist")
        await wait_for(lambda: _all_images(client, "hist", {"node-0": ["agent:1"], "node-1": ["agent:1"]}, 2),
                       message="rolled back to agent:1")
        assert "successfully rolled out" in await kubectl("rollout", "status", "daemonset/hist", "--timeout=60s")
        history = await kubectl("rollout", "history", "daemonset/hist")
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
        table = (await kubectl("get", "ds", "hist", "-o", "wide")).split()
        assert table[table.index("hist") + 1: table.index("hist") + 6] == ["2", "2", "2", "2", "2"]
        assert "agent:1" in table
