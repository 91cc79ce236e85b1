"""StatefulSet controller against a real API server, with a fake kubelet marking pods Ready."""

from __future__ import annotations

from typing import Any

from sampan.client import Client
from tests.controllers.support import FakeKubelet, fast_options, running_kubelet, running_manager, wait_for

CONTROLLERS = ("statefulset", "garbagecollector")


def sts_body(name: str, replicas: int, *, claims: bool = True, policy: str = "OrderedReady",
             image: str = "nginx") -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}}}
    if claims:
        body["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    return body


async def live_pods(client: Client, app: str) -> dict[str, dict[str, Any]]:
    pods = await client.resource("v1", "pods")
    items = (await pods.list(namespace="default", label_selector=f"app={app}"))["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


async def test_ordered_creation_identity_claims_and_status(client: Client) -> None:
    stss = await client.resource("apps/v1", "statefulsets")
    pvcs = await client.resource("v1", "persistentvolumeclaims")
    created_order: list[str] = []

    def decide(pod: dict[str, Any]) -> Any:
        name = pod["metadata"]["name"]
        if name not in created_order:
            created_order.append(name)
        return "Ready"

    async with running_kubelet(client, decide=decide), running_manager(client, fast_options(CONTROLLERS)):
        await stss.create(sts_body("db", 3))

        async def settled() -> dict[str, Any] | None:
            sts = await stss.get("db", namespace="default")
            st = sts.get("status") or {}
            ok = (st.get("readyReplicas") == 3 and st.get("currentReplicas") == 3 and st.get("updatedReplicas") == 3
                  and st.get("observedGeneration") == sts["metadata"]["generation"]
                  and st.get("currentRevision") == st.get("updateRevision"))
            return st if ok else None

        status = await wait_for(settled, message="3 ready replicas")
        assert created_order == ["db-0", "db-1", "db-2"]
        assert status["replicas"] == 3
        assert status["availableReplicas"] == 3
        pods = await live_pods(client, "db")
        for i in range(3):
            pod = pods[f"db-{i}"]
            labels = pod["metadata"]["labels"]
            assert labels["statefulset.kubernetes.io/pod-name"] == f"db-{i}"
            assert labels["apps.kubernetes.io/pod-index"] == str(i)
            assert labels["controller-revision-hash"] == status["updateRevision"]
            assert pod["spec"]["hostname"] == f"db-{i}"
            assert pod["spec"]["subdomain"] == "db"
            [vol] = [v for v in pod["spec"]["volumes"] if v["name"] == "data"]
            assert vol["persistentVolumeClaim"]["claimName"] == f"data-db-{i}"
            claim = await pvcs.get(f"data-db-{i}", namespace="default")
            assert claim["metadata"]["labels"] == {"app": "db"}
        revs = await client.resource("apps/v1", "controllerrevisions")
        [rev] = (await revs.list(namespace="default"))["items"]
        assert rev["metadata"]["name"] == status["updateRevision"]
        assert rev["revision"] == 1

        # a deleted pod comes back with the same name on the same claim
        pods_client = await client.resource("v1", "pods")
        old_uid = pods["db-1"]["metadata"]["uid"]
        await pods_client.delete("db-1", namespace="default")

        async def recreated() -> dict[str, Any] | None:
            p = (await live_pods(client, "db")).get("db-1")
            return p if p is not None and p["metadata"]["uid"] != old_uid else None

        again = await wait_for(recreated, message="db-1 recreated")
        assert next(v for v in again["spec"]["volumes"] if v["name"] == "data")["persistentVolumeClaim"] == {
            "claimName": "data-db-1"}


async def test_partition_rolling_update_and_scale_down(client: Client) -> None:
    stss = await client.resource("apps/v1", "statefulsets")
    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        await stss.create(sts_body("web", 3, claims=False))
        await wait_for(lambda: _ready(stss, "web", 3), message="3 ready")
        first = (await stss.get("web", namespace="default"))["status"]["updateRevision"]
        sts = await stss.get("web", namespace="default")
        sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        sts["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
        await stss.update(sts)

        async def only_last_updated() -> dict[str, str] | None:
            st = (await stss.get("web", namespace="default")).get("status") or {}
            pods = await live_pods(client, "web")
            revs = {n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in pods.items()}
            ok = (len(revs) == 3 and st.get("updatedReplicas") == 1 and st.get("readyReplicas") == 3
                  and revs.get("web-2") == st.get("updateRevision") != first)
            return revs if ok else None

        revs = await wait_for(only_last_updated, message="web-2 updated, web-0/1 kept")
        assert revs["web-0"] == revs["web-1"] == first
        pods = await live_pods(client, "web")
        assert pods["web-2"]["spec"]["containers"][0]["image"] == "nginx:2"
        assert pods["web-0"]["spec"]["containers"][0]["image"] == "nginx"
        st = (await stss.get("web", namespace="default"))["status"]
        assert st["currentRevision"] == first
        assert st["currentReplicas"] == 2

        # partition 0 finishes the rollout; the current revision follows
        sts = await stss.get("web", namespace="default")
        sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 0
        await stss.update(sts)

        async def rolled() -> bool:
            st = (await stss.get("web", namespace="default")).get("status") or {}
            return bool(st.get("updatedReplicas") == 3 and st.get("currentRevision") == st.get("updateRevision")
                        and st.get("readyReplicas") == 3)

        await wait_for(rolled, message="rollout complete")

        # scale down removes the highest ordinal first
        seen: list[set[str]] = []
        await stss.patch("web", {"spec": {"replicas": 1}}, namespace="default")

        async def one_left() -> bool:
            names = set(await live_pods(client, "web"))
            if not seen or seen[-1] != names:
                seen.append(names)
            return names == {"web-0"}

        await wait_for(one_left, message="scaled to 1")
        assert all("web-2" not in s for s in seen if "web-1" not in s)
        assert {"web-0", "web-1"} in seen or len(seen) == 1 or {"web-0", "web-1", "web-2"} in seen


async def test_parallel_creates_all_and_ondelete_waits(client: Client) -> None:
    stss = await client.resource("apps/v1", "statefulsets")
    kubelet_ready = {"on": False}

    def decide(pod: dict[str, Any]) -> Any:
        return "Ready" if kubelet_ready["on"] else "Pending"

    async with running_kubelet(client, decide=decide) as kubelet, \
            running_manager(client, fast_options(CONTROLLERS)):
        body = sts_body("par", 3, claims=False, policy="Parallel")
        body["spec"]["updateStrategy"] = {"type": "OnDelete"}
        await stss.create(body)
        # none is ready, yet Parallel creates them all
        await wait_for(lambda: _count(client, "par", 3), message="3 pods while none is ready")
        kubelet_ready["on"] = True
        assert isinstance(kubelet, FakeKubelet)
        kubelet.refresh()
        await wait_for(lambda: _ready(stss, "par", 3), message="3 ready")
        sts = await stss.get("par", namespace="default")
        sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        await stss.update(sts)

        async def one_updated_only() -> bool:
            st = (await stss.get("par", namespace="default")).get("status") or {}
            return st.get("updateRevision") != st.get("currentRevision") and not st.get("updatedReplicas")
        await wait_for(one_updated_only, message="new revision, no pod touched")
        pods_client = await client.resource("v1", "pods")
        await pods_client.delete("par-0", namespace="default")

        async def par0_updated() -> bool:
            p = (await live_pods(client, "par")).get("par-0")
            return p is not None and p["spec"]["containers"][0]["image"] == "nginx:2"
        await wait_for(par0_updated, message="par-0 recreated at the update revision")
        pods = await live_pods(client, "par")
        assert pods["par-1"]["spec"]["containers"][0]["image"] == "nginx"


async def test_retention_policy_deletes_claims(client: Client) -> None:
    stss = await client.resource("apps/v1", "statefulsets")
    pvcs = await client.resource("v1", "persistentvolumeclaims")
    async with running_kubelet(client), running_manager(client, fast_options(CONTROLLERS)):
        body = sts_body("ret", 2)
        body["spec"]["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete", "whenScaled": "Delete"}
        await stss.create(body)
        await wait_for(lambda: _ready(stss, "ret", 2), message="2 ready")
        await stss.patch("ret", {"spec": {"replicas": 1}}, namespace="default")

        async def claims() -> set[str]:
            items = (await pvcs.list(namespace="default"))["items"]
            return {c["metadata"]["name"] for c in items if not c["metadata"].get("deletionTimestamp")}

        async def only_first_claim() -> bool:
            return await claims() == {"data-ret-0"}
        await wait_for(only_first_claim, message="data-ret-1 removed on scale down")
        await stss.delete("ret", namespace="default", propagation_policy="Background")

        async def none_left() -> bool:
            return not await claims()
        await wait_for(none_left, message="claims removed with the set")


async def _ready(stss: Any, name: str, n: int) -> bool:
    st = (await stss.get(name, namespace="default")).get("status") or {}
    return bool(st.get("readyReplicas") == n and st.get("replicas") == n)


async def _count(client: Client, app: str, n: int) -> bool:
    return len(await live_pods(client, app)) == n
