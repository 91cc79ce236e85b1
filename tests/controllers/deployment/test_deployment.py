"""Deployment controller (with the ReplicaSet controller) against a real API server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sampan.api import errors
from sampan.client import Client
from sampan.controllers.deployment.revisions import (
    MAX_REPLICAS,
    POD_TEMPLATE_HASH,
    REVISION,
    template_hash,
    templates_equal,
)
from sampan.controllers.deployment.scaling import fenceposts, proportional
from sampan.controllers.ownership import controller_ref
from tests.controllers.support import fast_options, running_kubelet, running_manager, wait_for

CONTROLLERS = ("replicaset", "deployment")


def deploy_body(name: str, replicas: int, image: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}



async def edit_spec(client: Client, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    """GET, change the spec, PUT; again on a Conflict (the controller writes status concurrently)."""
    deps = await client.resource("apps/v1", "deployments")
    for _ in range(20):
        d = await deps.get(name, namespace="default")
        change(d["spec"])
        try:
            await deps.update(d)
            return
        except errors.Conflict:
            continue
    raise AssertionError("could not update the deployment")


async def set_image(client: Client, name: str, image: str) -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["template"]["spec"]["containers"][0]["image"] = image
    await edit_spec(client, name, change)


async def set_paused(client: Client, name: str, paused: bool) -> None:
    await edit_spec(client, name, lambda spec: spec.__setitem__("paused", paused))


async def rollout_done(client: Client, name: str) -> bool:
    """What ``kubectl rollout status`` waits for."""
    deps = await client.resource("apps/v1", "deployments")
    d = await deps.get(name, namespace="default")
    st, n = d.get("status") or {}, d["spec"]["replicas"]
    return bool(st.get("observedGeneration", 0) >= d["metadata"]["generation"] and st.get("updatedReplicas") == n
                and st.get("replicas") == n and st.get("availableReplicas") == n)


async def replica_sets(client: Client, name: str) -> list[dict[str, Any]]:
    rss = await client.resource("apps/v1", "replicasets")
    return [rs for rs in (await rss.list(namespace="default"))["items"]
            if (controller_ref(rs) or {}).get("name") == name]


async def test_rolling_update_respects_surge_and_unavailable_then_rollback(client: Client) -> None:
    deps = await client.resource("apps/v1", "deployments")
    pods = await client.resource("v1", "pods")
    n, surge, unavailable = 4, 1, 1
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        await deps.create(deploy_body("web", n, "nginx:1", strategy=strategy, revisionHistoryLimit=1))
        await wait_for(lambda: rollout_done(client, "web"), message="first rollout")
        [first] = await replica_sets(client, "web")
        assert first["metadata"]["annotations"][REVISION] == "1"
        assert first["metadata"]["name"] == f"web-{first['spec']['template']['metadata']['labels'][POD_TEMPLATE_HASH]}"

        violations: list[str] = []
        states = 0

        async def observe() -> None:
            nonlocal states
            while True:
                items = (await pods.list(namespace="default"))["items"]
                live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
                ready = [p for p in live if any(c.get("type") == "Ready" and c.get("status") == "True"
                                                for c in (p.get("status") or {}).get("conditions") or [])]
                total = sum(rs["spec"]["replicas"] for rs in await replica_sets(client, "web"))
                states += 1
                if total > n + surge:
                    violations.append(f"{total} replicas wanted > {n}+{surge}")
                if len(live) > n + surge:
                    violations.append(f"{len(live)} pods > {n}+{surge}")
                if len(ready) < n - unavailable:
                    violations.append(f"{len(ready)} ready < {n}-{unavailable}")
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(observe())
        await set_image(client, "web", "nginx:2")
        await wait_for(lambda: rollout_done(client, "web"), message="rollout to nginx:2")
        watcher.cancel()
        assert states > 3
        assert violations == []
        rss = await replica_sets(client, "web")
        new = next(rs for rs in rss if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2")
        assert new["metadata"]["annotations"][REVISION] == "2"

        # rollback: the old template comes back; its ReplicaSet is reused with revision 3
        await set_image(client, "web", "nginx:1")
        await wait_for(lambda: rollout_done(client, "web"), message="rollback")
        rss = await replica_sets(client, "web")
        back = next(rs for rs in rss if rs["metadata"]["uid"] == first["metadata"]["uid"])
        assert back["metadata"]["annotations"][REVISION] == "3"
        assert back["spec"]["replicas"] == n

        # a third template, then history is trimmed to revisionHistoryLimit=1 old ReplicaSet
        await set_image(client, "web", "nginx:3")
        await wait_for(lambda: rollout_done(client, "web"), message="rollout to nginx:3")
        await wait_for(lambda: _count(client, "web", 2), message="history cleanup to 1 old replica set")
        d = await deps.get("web", namespace="default")
        conds = {c["type"]: c for c in d["status"]["conditions"]}
        assert conds["Available"]["status"] == "True"
        assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"


async def _count(client: Client, name: str, want: int) -> bool:
    return len(await replica_sets(client, name)) == want


async def test_recreate_pause_resume_and_progress_deadline(client: Client) -> None:
    deps = await client.resource("apps/v1", "deployments")
    ready_images = {"img:1", "img:2"}

    def decide(pod: dict[str, Any]) -> Any:
        return "Ready" if pod["spec"]["containers"][0]["image"] in ready_images else "Running"

    async with running_kubelet(client, decide=decide), running_manager(client, fast_options(CONTROLLERS)):
        await deps.create(deploy_body("rc", 2, "img:1", strategy={"type": "Recreate"}, progressDeadlineSeconds=2))
        await wait_for(lambda: rollout_done(client, "rc"), message="first rollout")
        # paused: a template change makes no new ReplicaSet
        await set_paused(client, "rc", True)
        await set_image(client, "rc", "img:2")
        await wait_for(lambda: _progress_reason(client, "rc", "DeploymentPaused"), message="paused condition")
        assert len(await replica_sets(client, "rc")) == 1
        # a paused Deployment still scales (its current ReplicaSet), it just does not roll out
        await edit_spec(client, "rc", lambda spec: spec.__setitem__("replicas", 3))
        await wait_for(lambda: _sizes_are(client, "rc", [3]), message="paused deployment scaled to 3")
        assert len(await replica_sets(client, "rc")) == 1
        await set_paused(client, "rc", False)
        await wait_for(lambda: rollout_done(client, "rc"), message="rollout after resume")
        assert len(await replica_sets(client, "rc")) == 2
        # a template whose pods never get ready exceeds its progress deadline
        await set_image(client, "rc", "img:broken")
        await wait_for(lambda: _progress_reason(client, "rc", "ProgressDeadlineExceeded"), timeout=20,
                       message="ProgressDeadlineExceeded")


async def _sizes_are(client: Client, name: str, want: list[int]) -> bool:
    return sorted(rs["spec"]["replicas"] for rs in await replica_sets(client, name)) == want


async def _progress_reason(client: Client, name: str, reason: str) -> bool:
    deps = await client.resource("apps/v1", "deployments")
    d = await deps.get(name, namespace="default")
    return any(c["type"] == "Progressing" and c["reason"] == reason for c in (d.get("status") or {}).get("conditions")
               or [])


def test_fenceposts_percentages_and_proportional_scaling() -> None:
    d = deploy_body("x", 10, "i", strategy={"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    assert fenceposts(d) == (3, 2)  # surge rounds up, unavailable down
    d0 = deploy_body("x", 10, "i", strategy={"type": "RollingUpdate",
                                               "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}})
    assert fenceposts(d0) == (0, 1)
    # resized from 10 to 20 mid-rollout: 8 old + 5 new (= 13 with surge 3) grow in proportion to 20+5
    d20 = deploy_body("x", 20, "i", strategy={"type": "RollingUpdate",
                                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    def rs(n: int, sized_for: int) -> dict[str, Any]:
        return {"metadata": {"annotations": {MAX_REPLICAS: str(sized_for)}}, "spec": {"replicas": n}}

    assert proportional(d20, [rs(8, 13), rs(5, 13)]) == [15, 10]
    # the same resize interrupted after the first ReplicaSet was written ends in the same place
    assert proportional(d20, [rs(15, 25), rs(5, 13)]) == [15, 10]
    # shrinking back gives the shares back
    d10 = deploy_body("x", 10, "i", strategy=d20["spec"]["strategy"])
    assert proportional(d10, [rs(15, 25), rs(10, 25)]) == [8, 5]


def test_template_equality_ignores_hash_and_zero_values() -> None:
    a = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    b = {"metadata": {"creationTimestamp": None, "labels": {"app": "x", POD_TEMPLATE_HASH: "abc"}},
         "spec": {"containers": [{"name": "c", "image": "i", "resources": {}}]}}
    assert templates_equal(a, b)
    assert template_hash(a) == template_hash({"metadata": {"creationTimestamp": None, "labels": {"app": "x"}},
                                              "spec": a["spec"]})
    assert template_hash(a) != template_hash(a, 1)
    assert not templates_equal(a, {**a, "spec": {"containers": [{"name": "c", "image": "j"}]}})


async def test_resize_mid_rollout_scales_proportionally(client: Client) -> None:
    deps = await client.resource("apps/v1", "deployments")
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0}}

    def decide(pod: dict[str, Any]) -> Any:
        return "Ready" if pod["spec"]["containers"][0]["image"] == "good" else "Running"

    async with running_kubelet(client, decide=decide), running_manager(client, fast_options(CONTROLLERS)):
        await deps.create(deploy_body("prop", 10, "good", strategy=strategy))
        await wait_for(lambda: rollout_done(client, "prop"), message="first rollout")
        await set_image(client, "prop", "bad")  # new pods never get ready: the rollout stalls at 10 old + 3 new

        async def sizes() -> list[int] | None:
            rss = await replica_sets(client, "prop")
            got = sorted((rs["spec"]["template"]["spec"]["containers"][0]["image"], rs["spec"]["replicas"])
                         for rs in rss)
            return [n for _, n in got] if len(got) == 2 else None

        assert await wait_for(lambda: _is(sizes, [3, 10]), message="stalled rollout 3 new + 10 old")
        await edit_spec(client, "prop", lambda spec: spec.__setitem__("replicas", 20))
        await wait_for(lambda: _total(sizes, 23), message="23 replicas (20 + maxSurge 3)")
        bad, good = await sizes() or [0, 0]
        assert good > 10
        assert bad > 3
        assert good > bad


async def _is(fn: Callable[[], Any], want: Any) -> bool:
    return bool(await fn() == want)


async def _total(fn: Callable[[], Any], want: int) -> bool:
    got = await fn()
    return got is not None and sum(got) == want


async def test_recreate_never_runs_old_and_new_pods_together(client: Client) -> None:
    deps = await client.resource("apps/v1", "deployments")
    pods = await client.resource("v1", "pods")
    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        await deps.create(deploy_body("rec", 3, "v1", strategy={"type": "Recreate"}))
        await wait_for(lambda: rollout_done(client, "rec"), message="first rollout")
        mixed: list[set[str]] = []

        async def observe() -> None:
            while True:
                items = (await pods.list(namespace="default"))["items"]
                images = {p["spec"]["containers"][0]["image"] for p in items
                          if (p["metadata"].get("labels") or {}).get("app") == "rec"}
                if len(images) > 1:
                    mixed.append(images)
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(observe())
        await set_image(client, "rec", "v2")
        await wait_for(lambda: rollout_done(client, "rec"), message="recreate rollout")
        watcher.cancel()
        assert mixed == []


async def test_zero_counts_are_absent_as_upstream_stores_them(client: Client) -> None:
    """Go's omitempty: a Deployment scaled to 0 has no replica counts at all, its ReplicaSet keeps the
    required ``replicas: 0`` but drops the optional zero counts; the scale subresource still reads 0."""
    deps = await client.resource("apps/v1", "deployments")
    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        await deps.create(deploy_body("idle", 2, "nginx:1"))
        await wait_for(lambda: rollout_done(client, "idle"), message="first rollout")
        await edit_spec(client, "idle", lambda spec: spec.__setitem__("replicas", 0))

        async def scaled_down() -> dict[str, Any] | None:
            d = await deps.get("idle", namespace="default")
            status = d.get("status") or {}
            return status if status.get("observedGeneration") == 2 and "replicas" not in status else None

        status = await wait_for(scaled_down, message="the deployment's status at 0 replicas")
        assert not {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                    "unavailableReplicas"} & status.keys()
        [rs] = await replica_sets(client, "idle")
        rss = await client.resource("apps/v1", "replicasets")
        rs_status = await wait_for(lambda: _rs_status_at_zero(rss, rs["metadata"]["name"]), message="rs at 0")
        assert rs_status["replicas"] == 0
        assert not {"readyReplicas", "availableReplicas", "fullyLabeledReplicas"} & rs_status.keys()
        scale = await deps.get("idle", namespace="default", subresource="scale")
        assert scale["spec"]["replicas"] == 0
        assert scale["status"]["replicas"] == 0


async def _rs_status_at_zero(rss: Any, name: str) -> dict[str, Any] | None:
    rs = await rss.get(name, namespace="default")
    status: dict[str, Any] = rs.get("status") or {}
    observed = status.get("observedGeneration") == rs["metadata"]["generation"]
    return status if observed and status.get("replicas") == 0 else None
