"""The disruption controller against a real API server with the Deployment/ReplicaSet controllers and a
fake kubelet: PDB status for minAvailable/maxUnavailable (ints and percentages), bare pods, the fail-safe
for pods without a controller, and an eviction spending the budget until the replacement is Ready."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sampan.api import errors
from sampan.client import Client
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_kubelet, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer

CONTROLLERS = ("deployment", "replicaset", "disruption")


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def pdb(name: str, app: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": app}}, **spec}}


async def status_of(client: Client, name: str) -> dict[str, Any]:
    pdbs = await client.resource("policy/v1", "poddisruptionbudgets")
    return dict((await pdbs.get(name, namespace="default")).get("status") or {})


def has(expected: dict[str, Any]) -> Any:
    async def check(client: Client, name: str) -> bool:
        status = await status_of(client, name)
        return all(status.get(k) == v for k, v in expected.items())
    return check


async def wait_status(client: Client, name: str, **expected: Any) -> dict[str, Any]:
    check = has(expected)
    await wait_for(lambda: check(client, name), message=f"pdb {name} status {expected}")
    return await status_of(client, name)


@pytest.mark.parametrize(("spec", "desired", "allowed"), [
    ({"minAvailable": 2}, 2, 1),
    ({"minAvailable": "50%"}, 2, 1),
    ({"maxUnavailable": 1}, 2, 1),
    ({"maxUnavailable": "34%"}, 1, 2),
])
async def test_status_over_a_deployment(inproc_apiserver: InProcessAPIServer, spec: dict[str, Any], desired: int,
                                        allowed: int) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        deps = await client.resource("apps/v1", "deployments")
        pdbs = await client.resource("policy/v1", "poddisruptionbudgets")
        async with running_manager(client, fast_options(CONTROLLERS)), running_kubelet(client):
            await deps.create(deployment("web", 3), namespace="default")
            await pdbs.create(pdb("web", "web", **spec), namespace="default")
            status = await wait_status(client, "web", expectedPods=3, currentHealthy=3, desiredHealthy=desired,
                                       disruptionsAllowed=allowed, observedGeneration=1)
            cond = {c["type"]: c for c in status["conditions"]}["DisruptionAllowed"]
            assert (cond["status"], cond["reason"]) == ("True", "SufficientPods")


async def test_bare_pods_and_the_fail_safe(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        pods = await client.resource("v1", "pods")
        pdbs = await client.resource("policy/v1", "poddisruptionbudgets")
        async with running_manager(client, fast_options(CONTROLLERS)), running_kubelet(client):
            for i in range(2):
                await pods.create({"metadata": {"name": f"bare{i}", "labels": {"app": "bare"}},
                                   "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, namespace="default")
            await pdbs.create(pdb("ints", "bare", minAvailable=1), namespace="default")
            await wait_status(client, "ints", expectedPods=2, currentHealthy=2, desiredHealthy=1, disruptionsAllowed=1)
            await pdbs.create(pdb("pct", "bare", maxUnavailable="50%"), namespace="default")

            async def failed_safe() -> bool:
                status = await status_of(client, "pct")
                conds = {c["type"]: c for c in status.get("conditions") or []}
                cond = conds.get("DisruptionAllowed") or {}
                return cond.get("reason") == "SyncFailed" and status.get("disruptionsAllowed") == 0
            await wait_for(failed_safe, message="fail-safe status")
            cond = {c["type"]: c for c in (await status_of(client, "pct"))["conditions"]}["DisruptionAllowed"]
            assert cond["status"] == "False"
            assert cond["message"] == 'found no controller ref for pod "bare0"'


async def test_eviction_budget_comes_back_with_the_replacement(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        deps = await client.resource("apps/v1", "deployments")
        pdbs = await client.resource("policy/v1", "poddisruptionbudgets")
        pods = await client.resource("v1", "pods")
        async with running_manager(client, fast_options(CONTROLLERS)):
            await deps.create(deployment("web", 3), namespace="default")
            await pdbs.create(pdb("web", "web", minAvailable=2), namespace="default")
            async with running_kubelet(client) as kubelet:
                await wait_status(client, "web", currentHealthy=3, disruptionsAllowed=1)
                names = sorted(p["metadata"]["name"] for p in (await pods.list(namespace="default"))["items"])
                # new pods stay unready until told otherwise, so the replacement is not Ready at once
                kubelet.decide = lambda pod: "Running" if pod["metadata"]["name"] not in names else "Ready"
                evicted = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": names[0]}}
                await pods.create(evicted, namespace="default", subresource="eviction", name=names[0])
                with pytest.raises(errors.TooManyRequests, match="disruption budget"):
                    await pods.create({**evicted, "metadata": {"name": names[1]}}, namespace="default",
                                      subresource="eviction", name=names[1])
                status = await wait_status(client, "web", currentHealthy=2, disruptionsAllowed=0, expectedPods=3)
                cond = {c["type"]: c for c in status["conditions"]}["DisruptionAllowed"]
                assert cond["reason"] == "InsufficientPods"
                kubelet.decide = lambda pod: "Ready"
                kubelet.refresh()
                await wait_status(client, "web", currentHealthy=3, disruptionsAllowed=1)
                await pods.create({**evicted, "metadata": {"name": names[1]}}, namespace="default",
                                  subresource="eviction", name=names[1])


async def test_stale_disruption_target_is_cleared(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        pods = await client.resource("v1", "pods")
        created = await pods.create({"metadata": {"name": "marked"},
                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, namespace="default")
        long_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 180))
        created["status"] = {"phase": "Running", "conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
             "message": "Eviction API: evicting", "lastTransitionTime": long_ago}]}
        await pods.update_status(created, namespace="default")
        async with running_manager(client, fast_options(("disruption",))):
            async def cleared() -> bool:
                pod = await pods.get("marked", namespace="default")
                conds = {c["type"]: c for c in pod["status"].get("conditions") or []}
                return conds.get("DisruptionTarget", {}).get("status") == "False"
            await wait_for(cleared, message="stale DisruptionTarget set to False")


async def test_other_controllers_count_through_their_scale_subresource(inproc_apiserver: InProcessAPIServer) -> None:
    """A pod whose controller is not a ReplicaSet/RC (here a Deployment owning it directly, standing in for a
    StatefulSet or a custom resource with ``scale``) counts the controller's ``scale.spec.replicas``."""
    async with unthrottled_client(inproc_apiserver) as client:
        deps = await client.resource("apps/v1", "deployments")
        pods = await client.resource("v1", "pods")
        pdbs = await client.resource("policy/v1", "poddisruptionbudgets")
        owner = await deps.create(deployment("owner", 4), namespace="default")
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "owner", "uid": owner["metadata"]["uid"],
               "controller": True}
        await pods.create({"metadata": {"name": "owned", "labels": {"app": "scaled"}, "ownerReferences": [ref]},
                           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, namespace="default")
        async with running_manager(client, fast_options(("disruption",))), running_kubelet(client):
            await pdbs.create(pdb("scaled", "scaled", maxUnavailable=1), namespace="default")
            await wait_status(client, "scaled", expectedPods=4, desiredHealthy=3, currentHealthy=1,
                              disruptionsAllowed=0)
