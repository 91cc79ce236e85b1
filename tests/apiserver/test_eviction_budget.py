"""``pods/eviction`` with PodDisruptionBudgets over real HTTP: the budget is spent by compare-and-swap
(``disruptionsAllowed`` decremented, ``disruptedPods`` recorded), a violating eviction is upstream's 429,
two budgets are a 500, unready pods follow ``unhealthyPodEvictionPolicy``, Pending pods and dry runs.
The disruption controller is stood in for by writing the budget's status."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.apiserver.conftest import API

PODS = "/api/v1/namespaces/default/pods"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"


async def running_pod(api: API, name: str, *, ready: bool = True, phase: str = "Running",
                      labels: dict[str, str] | None = None) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}}
    r = await api.post(PODS, body)
    assert r.status == 201, r.body
    pod = r.body
    pod["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    assert (await api.put(f"{PODS}/{name}/status", pod)).status == 200


async def budget(api: API, name: str, *, allowed: int, healthy: int, desired: int, observed: int | None = None,
                 selector: dict[str, Any] | None = None, **spec: Any) -> None:
    body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": selector if selector is not None else {"matchLabels": {"app": "web"}},
                     "minAvailable": desired, **spec}}
    r = await api.post(PDBS, body)
    assert r.status == 201, r.body
    pdb = r.body
    pdb["status"] = {"observedGeneration": pdb["metadata"]["generation"] if observed is None else observed,
                     "disruptionsAllowed": allowed, "currentHealthy": healthy, "desiredHealthy": desired,
                     "expectedPods": healthy}
    assert (await api.put(f"{PDBS}/{name}/status", pdb)).status == 200


async def evict(api: API, name: str, **params: str) -> Any:
    return await api.post(f"{PODS}/{name}/eviction", {"apiVersion": "policy/v1", "kind": "Eviction",
                                                      "metadata": {"name": name}}, **params)


async def gone_or_deleting(api: API, name: str) -> bool:
    r = await api.get(f"{PODS}/{name}")
    return r.status == 404 or bool(r.body["metadata"].get("deletionTimestamp"))


async def test_eviction_spends_the_budget_then_429(api: API) -> None:
    for name in ("a", "b", "c"):
        await running_pod(api, name)
    await budget(api, "web", allowed=1, healthy=3, desired=2)
    r = await evict(api, "a")
    assert r.status == 201, r.body
    assert await gone_or_deleting(api, "a")
    evicted = (await api.get(f"{PODS}/a")).body  # graceful: its kubelet has not confirmed yet
    cond = {c["type"]: c for c in evicted["status"]["conditions"]}["DisruptionTarget"]
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "EvictionByEvictionAPI",
                                                                 "Eviction API: evicting")
    status = (await api.get(f"{PDBS}/web")).body["status"]
    assert status["disruptionsAllowed"] == 0
    assert set(status["disruptedPods"]) == {"a"}
    cond = {c["type"]: c for c in status["conditions"]}["DisruptionAllowed"]
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")
    r = await evict(api, "b")
    assert r.status == 429
    assert r.body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.", "reason": "TooManyRequests",
        "details": {"causes": [{"reason": "DisruptionBudget",
                                "message": "The disruption budget web needs 2 healthy pods and has 3 currently"}]},
        "code": 429}
    assert not await gone_or_deleting(api, "b")


async def test_concurrent_evictions_spend_exactly_the_budget(api: API) -> None:
    names = [f"p{i}" for i in range(8)]
    for name in names:
        await running_pod(api, name)
    await budget(api, "web", allowed=3, healthy=8, desired=5)
    replies = await asyncio.gather(*(evict(api, n) for n in names))
    assert sorted(r.status for r in replies) == [201] * 3 + [429] * 5
    status = (await api.get(f"{PDBS}/web")).body["status"]
    assert status["disruptionsAllowed"] == 0
    assert len(status["disruptedPods"]) == 3


async def test_unobserved_generation_is_still_being_processed(api: API) -> None:
    await running_pod(api, "a")
    await budget(api, "web", allowed=1, healthy=1, desired=0, observed=0)
    r = await evict(api, "a")
    assert r.status == 429
    assert r.body["details"]["causes"] == [
        {"reason": "DisruptionBudget", "message": "The disruption budget web is still being processed by the server."}]


async def test_two_budgets_are_an_internal_error(api: API) -> None:
    await running_pod(api, "a")
    await budget(api, "one", allowed=1, healthy=1, desired=0)
    await budget(api, "two", allowed=1, healthy=1, desired=0, selector={})
    r = await evict(api, "a")
    assert r.status == 500
    text = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    assert r.body["message"] == f"Internal error occurred: {text}"
    assert r.body["reason"] == "InternalError"
    assert r.body["details"] == {"causes": [{"message": text}]}


async def test_unhealthy_pod_eviction_policy(api: API) -> None:
    await running_pod(api, "unready", ready=False)
    await running_pod(api, "ok")
    await budget(api, "web", allowed=0, healthy=1, desired=1)  # IfHealthyBudget: healthy >= desired > 0
    assert (await evict(api, "unready")).status == 201
    assert (await api.get(f"{PDBS}/web")).body["status"]["disruptionsAllowed"] == 0
    assert (await evict(api, "ok")).status == 429


async def test_unhealthy_pod_with_an_unhealthy_budget(api: API) -> None:
    await running_pod(api, "u1", ready=False)
    await running_pod(api, "u2", ready=False, labels={"app": "other"})
    await budget(api, "web", allowed=0, healthy=0, desired=1)
    assert (await evict(api, "u1")).status == 429
    await budget(api, "other", allowed=0, healthy=0, desired=1, selector={"matchLabels": {"app": "other"}},
                 unhealthyPodEvictionPolicy="AlwaysAllow")
    assert (await evict(api, "u2")).status == 201


async def test_pending_and_finished_pods_ignore_budgets(api: API) -> None:
    await running_pod(api, "pending", phase="Pending", ready=False)
    await running_pod(api, "done", phase="Succeeded", ready=False)
    await budget(api, "web", allowed=0, healthy=0, desired=5)
    assert (await evict(api, "pending")).status == 201
    assert (await evict(api, "done")).status == 201


async def test_eviction_with_a_stale_resource_version_is_409(api: API) -> None:
    await running_pod(api, "a")
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "a"},
            "deleteOptions": {"preconditions": {"resourceVersion": "1"}}}
    r = await api.post(f"{PODS}/a/eviction", body)
    assert r.status == 409
    assert "the ResourceVersion in the precondition (1) does not match" in r.body["message"]
    rv = (await api.get(f"{PODS}/a")).body["metadata"]["resourceVersion"]
    body["deleteOptions"]["preconditions"]["resourceVersion"] = rv
    assert (await api.post(f"{PODS}/a/eviction", body)).status == 201


async def test_dry_run_spends_nothing(api: API) -> None:
    await running_pod(api, "a")
    await budget(api, "web", allowed=1, healthy=1, desired=0)
    assert (await evict(api, "a", dryRun="All")).status == 201
    status = (await api.get(f"{PDBS}/web")).body["status"]
    assert status["disruptionsAllowed"] == 1
    assert "disruptedPods" not in status
    assert not await gone_or_deleting(api, "a")
