"""ReplicaSet controller against a real API server, with a fake kubelet marking pods Ready."""

from __future__ import annotations

from typing import Any

from sampan.client import Client
from sampan.controllers.ownership import controller_ref
from sampan.controllers.replicaset.controller import ReplicaSetController
from sampan.controllers.replicaset.status import calculate_status, status_differs
from tests.controllers.support import fast_options, running_kubelet, running_manager, wait_for


def rs_body(name: str, replicas: int, *, app: str = "web") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}



async def owned_pods(client: Client, rs_name: str) -> list[dict[str, Any]]:
    pods = await client.resource("v1", "pods")
    items = (await pods.list(namespace="default"))["items"]
    return [p for p in items if (controller_ref(p) or {}).get("name") == rs_name
            and not p["metadata"].get("deletionTimestamp")]


async def test_scale_up_down_status_and_adoption(client: Client) -> None:
    pods = await client.resource("v1", "pods")
    rss = await client.resource("apps/v1", "replicasets")
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "namespace": "default",
                                                              "labels": {"app": "web"}},
              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    await pods.create(orphan)
    async with running_kubelet(client), running_manager(client, fast_options(("replicaset",))):
        await rss.create(rs_body("web", 3))

        async def status_is(replicas: int) -> bool:
            st = (await rss.get("web", namespace="default")).get("status") or {}
            return bool(st.get("replicas") == replicas and st.get("readyReplicas") == replicas
                        and st.get("availableReplicas") == replicas and st.get("fullyLabeledReplicas") == replicas
                        and st.get("observedGeneration") == (await rss.get("web", namespace="default"))
                        ["metadata"]["generation"])

        await wait_for(lambda: status_is(3), message="3 ready replicas")
        events = await client.resource("v1", "events")

        async def create_event() -> bool:
            items = (await events.list(namespace="default"))["items"]
            return any(e["reason"] == "SuccessfulCreate" and e["involvedObject"]["name"] == "web"
                       and e["source"]["component"] == "replicaset-controller" for e in items)

        await wait_for(create_event, message="a SuccessfulCreate event")
        names = {p["metadata"]["name"] for p in await owned_pods(client, "web")}
        assert "orphan" in names  # adopted, so only two pods were created
        assert len(names) == 3

        # merge patches, as `kubectl scale`/`kubectl label` would: controllers and the kubelet write
        # status concurrently, so read-modify-update could meet a 409 unrelated to the behaviour under test
        await rss.patch("web", {"spec": {"replicas": 5}}, namespace="default")
        await wait_for(lambda: status_is(5), message="5 ready replicas")
        await rss.patch("web", {"spec": {"replicas": 1}}, namespace="default")
        await wait_for(lambda: status_is(1), message="1 ready replica")
        assert len(await owned_pods(client, "web")) == 1

        # a pod whose labels stop matching is released, and replaced
        [kept] = await owned_pods(client, "web")
        await pods.patch(kept["metadata"]["name"], {"metadata": {"labels": {"app": "other"}}}, namespace="default")
        await wait_for(lambda: status_is(1), message="a replacement pod")
        released = await pods.get(kept["metadata"]["name"], namespace="default")
        assert controller_ref(released) is None


async def test_deleted_pod_is_replaced(client: Client) -> None:
    pods = await client.resource("v1", "pods")
    rss = await client.resource("apps/v1", "replicasets")
    async with running_kubelet(client), running_manager(client, fast_options(("replicaset",))):
        await rss.create(rs_body("api", 2, app="api"))
        first = await wait_for(lambda: _two(client, "api"), message="2 pods")
        await pods.delete(first[0]["metadata"]["name"], namespace="default")
        again = await wait_for(lambda: _two(client, "api"), message="a replacement")
        assert {p["metadata"]["name"] for p in again} != {p["metadata"]["name"] for p in first}


async def _two(client: Client, name: str) -> list[dict[str, Any]] | None:
    got = await owned_pods(client, name)
    return got if len(got) == 2 else None


def test_least_valuable_pods_go_first() -> None:
    def pod(name: str, *, node: str = "", phase: str = "Running", ready: bool = True,
            created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
        conds = [{"type": "Ready", "status": "True" if ready else "False",
                  "lastTransitionTime": "2026-01-01T00:00:00Z"}]
        return {"metadata": {"name": name, "creationTimestamp": created}, "spec": {"nodeName": node},
                "status": {"phase": phase, "conditions": conds}}

    pods = [pod("old-ready", node="n1"), pod("unscheduled", phase="Pending", ready=False),
            pod("pending", node="n1", phase="Pending", ready=False), pod("not-ready", node="n2", ready=False),
            pod("new-ready", node="n3", created="2026-02-01T00:00:00Z")]
    order = [p["metadata"]["name"] for p in ReplicaSetController.pods_to_delete(pods, 5)]
    # old-ready shares its node with another pod of the set, so it goes before the newer lone pod
    assert order == ["unscheduled", "pending", "not-ready", "old-ready", "new-ready"]


async def test_min_ready_seconds_delays_availability(client: Client) -> None:
    rss = await client.resource("apps/v1", "replicasets")
    async with running_kubelet(client), running_manager(client, fast_options(("replicaset",))):
        body = rs_body("slow", 2, app="slow")
        body["spec"]["minReadySeconds"] = 2
        await rss.create(body)

        async def status() -> dict[str, Any]:
            return dict((await rss.get("slow", namespace="default")).get("status") or {})

        await wait_for(lambda: _ready_not_available(status), message="ready but not yet available")
        # nothing else changes after this: only the controller's own requeue can make them available
        await wait_for(lambda: _available(status, 2), timeout=10, message="available after minReadySeconds")


async def _ready_not_available(status: Any) -> bool:
    st = await status()
    return bool(st.get("readyReplicas") == 2 and not st.get("availableReplicas"))


async def _available(status: Any, n: int) -> bool:
    return bool((await status()).get("availableReplicas") == n)


def test_replica_failure_condition_set_and_cleared() -> None:
    rs = rs_body("x", 2)
    rs["metadata"]["generation"] = 3
    failed = calculate_status(rs, [], now=1_800_000_000.0, manage_error=RuntimeError("pods is forbidden: quota"))
    [cond] = failed["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("ReplicaFailure", "True", "FailedCreate")
    assert failed["observedGeneration"] == 3
    healed = calculate_status({**rs, "status": failed}, [], now=1_800_000_100.0, manage_error=None)
    assert "conditions" not in healed
    assert status_differs(failed, healed)
