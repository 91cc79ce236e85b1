"""ResourceQuota admission over real HTTP: upstream's messages, scopes, object counts, compute
requests/limits, dry run, and no overshoot under concurrent creates (one server and two servers on one
store). The quota controller is stood in for by writing ``status`` (hard = spec.hard, used = 0)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sampan.apiserver.app import APIServer
from sampan.apiserver.config import APIServerConfig, StorageOptions
from sampan.storage import Conflict
from tests.apiserver.conftest import API

NS = "/api/v1/namespaces/default"
QUOTAS = f"{NS}/resourcequotas"
PODS = f"{NS}/pods"


def pod(name: str, *, cpu: str | None = None, limits: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if cpu is not None:
        resources["requests"] = {"cpu": cpu}
    if limits is not None:
        resources["limits"] = limits
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx", "resources": resources}], **spec}}


async def make_quota(api: API, name: str, hard: dict[str, str], *, used: dict[str, str] | None = None,
                     **spec: Any) -> dict[str, Any]:
    r = await api.post(QUOTAS, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
                                "spec": {"hard": hard, **spec}})
    assert r.status == 201, r.body
    body = r.body
    body["status"] = {"hard": hard, "used": used if used is not None else {k: "0" for k in hard}}
    r = await api.put(f"{QUOTAS}/{name}/status", body)
    assert r.status == 200, r.body
    return dict(r.body)


async def used(api: API, name: str) -> dict[str, str]:
    return dict((await api.get(f"{QUOTAS}/{name}")).body["status"]["used"])


async def test_exceeded_quota_message_is_upstreams(api: API) -> None:
    await make_quota(api, "q", {"pods": "1"})
    assert (await api.post(PODS, pod("a"))).status == 201
    r = await api.post(PODS, pod("b"))
    assert r.status == 403
    assert r.reason == "Forbidden"
    assert r.body["message"] == ('pods "b" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, '
                                 "limited: pods=1")
    assert r.body["details"] == {"name": "b", "kind": "pods"}
    assert await used(api, "q") == {"pods": "1"}
    assert (await api.get(f"{PODS}/b")).status == 404


async def test_concurrent_creates_never_overshoot(api: API) -> None:
    await make_quota(api, "q", {"pods": "3", "requests.cpu": "1"})
    replies = await asyncio.gather(*(api.post(PODS, pod(f"p{i}", cpu="100m")) for i in range(20)))
    codes = sorted(r.status for r in replies)
    assert codes == [201] * 3 + [403] * 17
    for r in replies:
        if r.status == 403:
            assert "exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3" in r.body["message"]
    assert await used(api, "q") == {"pods": "3", "requests.cpu": "300m"}
    assert len((await api.get(PODS)).body["items"]) == 3


async def test_two_api_servers_on_one_store_never_overshoot(api: API, tmp_path: Path) -> None:
    store = api.server.context.store
    other = APIServer(APIServerConfig(port=0, storage=StorageOptions(backend="memory", data_dir=tmp_path)),
                      storage=store)
    await other.start()
    try:
        await make_quota(api, "q", {"count/configmaps": "5"})
        await make_quota(api, "wide", {"configmaps": "7"})  # both are charged: conflicts refund partial writes
        async with aiohttp.ClientSession() as session:
            api2 = API(session, api.server)
            api2.url = other.url
            cms = [{"metadata": {"name": f"cm{i}"}} for i in range(24)]
            replies = await asyncio.gather(*((api if i % 2 else api2).post(f"{NS}/configmaps", cm)
                                             for i, cm in enumerate(cms)))
        assert sorted(r.status for r in replies) == [201] * 5 + [403] * 19
        assert await used(api, "q") == {"count/configmaps": "5"}
        assert await used(api, "wide") == {"configmaps": "5"}
    finally:
        await other.stop()


async def test_compute_quota_requires_requests_and_limits(api: API) -> None:
    await make_quota(api, "compute", {"requests.cpu": "1", "limits.memory": "1Gi"})
    r = await api.post(PODS, pod("bare"))
    assert r.status == 403
    assert r.body["message"] == ('pods "bare" is forbidden: failed quota: compute: must specify '
                                 "limits.memory for: c; requests.cpu for: c")
    r = await api.post(PODS, pod("half", cpu="500m"))
    assert r.body["message"] == 'pods "half" is forbidden: failed quota: compute: must specify limits.memory for: c'
    assert (await api.post(PODS, pod("ok", cpu="600m", limits={"memory": "512Mi"}))).status == 201
    r = await api.post(PODS, pod("big", cpu="500m", limits={"memory": "256Mi"}))
    assert r.status == 403
    assert r.body["message"] == ('pods "big" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, '
                                 "used: requests.cpu=600m, limited: requests.cpu=1")
    assert await used(api, "compute") == {"requests.cpu": "600m", "limits.memory": "512Mi"}


async def test_legacy_cpu_and_memory_names_count_requests(api: API) -> None:
    await make_quota(api, "legacy", {"cpu": "1", "memory": "1Gi"})
    p = pod("p", cpu="250m")
    p["spec"]["containers"][0]["resources"]["requests"]["memory"] = "1Gi"
    assert (await api.post(PODS, p)).status == 201
    assert await used(api, "legacy") == {"cpu": "250m", "memory": "1Gi"}


async def test_status_unknown_until_the_controller_saw_the_quota(api: API) -> None:
    r = await api.post(QUOTAS, {"metadata": {"name": "fresh"}, "spec": {"hard": {"pods": "5"}}})
    assert r.status == 201
    assert (await api.post(PODS, pod("before-status"))).status == 201  # no status.hard yet: not enforced
    body = r.body
    body["status"] = {"hard": {"pods": "5"}}
    assert (await api.put(f"{QUOTAS}/fresh/status", body)).status == 200
    r = await api.post(PODS, pod("unknown"))
    assert r.status == 403
    assert r.body["message"] == 'pods "unknown" is forbidden: status unknown for quota: fresh, resources: pods'


async def test_scopes_select_pods(api: API) -> None:
    await make_quota(api, "be", {"pods": "1"}, scopes=["BestEffort"])
    await make_quota(api, "term", {"pods": "1"}, scopes=["Terminating"])
    await make_quota(api, "prio", {"pods": "1"},
                     scopeSelector={"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                                          "values": ["high"]}]})
    assert (await api.post(PODS, pod("be1"))).status == 201
    r = await api.post(PODS, pod("be2"))
    assert r.status == 403
    assert "exceeded quota: be," in r.body["message"]
    assert (await api.post(PODS, pod("burst1", cpu="10m"))).status == 201  # NotBestEffort: not under "be"
    assert (await api.post(PODS, pod("burst2", cpu="10m"))).status == 201
    assert (await api.post(PODS, pod("t1", cpu="10m", activeDeadlineSeconds=30))).status == 201
    r = await api.post(PODS, pod("t2", cpu="10m", activeDeadlineSeconds=30))
    assert "exceeded quota: term," in r.body["message"]
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": 10}
    assert (await api.post("/apis/scheduling.k8s.io/v1/priorityclasses", pc)).status == 201
    assert (await api.post(PODS, pod("h1", cpu="10m", priorityClassName="high"))).status == 201
    r = await api.post(PODS, pod("h2", cpu="10m", priorityClassName="high"))
    assert "exceeded quota: prio," in r.body["message"]
    assert await used(api, "be") == {"pods": "1"}
    assert await used(api, "term") == {"pods": "1"}
    assert await used(api, "prio") == {"pods": "1"}


async def test_object_counts_and_legacy_names(api: API) -> None:
    await make_quota(api, "objs", {"configmaps": "1", "count/deployments.apps": "1", "count/secrets": "1"})
    assert (await api.post(f"{NS}/configmaps", {"metadata": {"name": "a"}})).status == 201
    r = await api.post(f"{NS}/configmaps", {"metadata": {"name": "b"}})
    assert r.body["message"] == ('configmaps "b" is forbidden: exceeded quota: objs, requested: configmaps=1, '
                                 "used: configmaps=1, limited: configmaps=1")
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d1"},
           "spec": {"selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    deps = "/apis/apps/v1/namespaces/default/deployments"
    assert (await api.post(deps, dep)).status == 201
    dep["metadata"]["name"] = "d2"
    r = await api.post(deps, dep)
    assert r.status == 403
    assert r.body["message"] == ('deployments.apps "d2" is forbidden: exceeded quota: objs, requested: '
                                 "count/deployments.apps=1, used: count/deployments.apps=1, "
                                 "limited: count/deployments.apps=1")
    assert r.body["details"] == {"name": "d2", "group": "apps", "kind": "deployments"}
    assert await used(api, "objs") == {"configmaps": "1", "count/deployments.apps": "1", "count/secrets": "0"}


async def test_services_nodeports_and_loadbalancers(api: API) -> None:
    await make_quota(api, "svc", {"services": "5", "services.nodeports": "2", "services.loadbalancers": "0"})

    def svc(name: str, kind: str, ports: int) -> dict[str, Any]:
        return {"metadata": {"name": name}, "spec": {"type": kind, "selector": {"a": "b"},
                                                    "ports": [{"name": f"p{i}", "port": 80 + i}
                                                              for i in range(ports)]}}
    assert (await api.post(f"{NS}/services", svc("np", "NodePort", 2))).status == 201
    r = await api.post(f"{NS}/services", svc("np2", "NodePort", 1))
    assert "requested: services.nodeports=1, used: services.nodeports=2, limited: services.nodeports=2" \
        in r.body["message"]
    lb = svc("lb", "LoadBalancer", 1)
    lb["spec"]["allocateLoadBalancerNodePorts"] = False
    r = await api.post(f"{NS}/services", lb)
    assert r.body["message"] == ('services "lb" is forbidden: exceeded quota: svc, requested: '
                                 "services.loadbalancers=1, used: services.loadbalancers=0, "
                                 "limited: services.loadbalancers=0")
    assert (await api.post(f"{NS}/services", svc("plain", "ClusterIP", 3))).status == 201
    assert await used(api, "svc") == {"services": "2", "services.nodeports": "2", "services.loadbalancers": "0"}


async def test_dry_run_checks_but_does_not_charge(api: API) -> None:
    await make_quota(api, "q", {"pods": "1"})
    assert (await api.post(PODS, pod("d"), dryRun="All")).status == 201
    assert await used(api, "q") == {"pods": "0"}
    assert (await api.post(PODS, pod("real"))).status == 201
    r = await api.post(PODS, pod("d2"), dryRun="All")
    assert r.status == 403


async def test_multiple_quotas_refuse_and_refund(api: API) -> None:
    await make_quota(api, "wide", {"pods": "10"})
    await make_quota(api, "narrow", {"pods": "1"}, scopes=["BestEffort"])
    assert (await api.post(PODS, pod("a"))).status == 201
    assert (await api.post(PODS, pod("b"))).status == 403
    assert await used(api, "wide") == {"pods": "1"}
    assert await used(api, "narrow") == {"pods": "1"}


async def test_create_of_an_existing_name_is_not_charged(api: API) -> None:
    await make_quota(api, "q", {"pods": "2"})
    assert (await api.post(PODS, pod("a"))).status == 201
    r = await api.post(PODS, pod("a"))
    assert r.status == 409
    assert await used(api, "q") == {"pods": "1"}
    assert (await api.post(PODS, pod("b"))).status == 201
    r = await api.post(PODS, pod("a"))
    assert r.status == 403  # over the quota: upstream answers the quota first


async def test_a_conflict_after_a_partial_write_is_refunded(api: API, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two quotas cover a create; the second quota's write loses a race (injected once): the first
    quota's charge is refunded and the batch evaluated again, so each quota ends charged exactly once."""
    await make_quota(api, "a", {"count/configmaps": "5"})
    await make_quota(api, "b", {"configmaps": "5"})
    store = api.server.context.store
    real_update = store.update
    quota_writes: list[str] = []

    async def racing_update(key: str, value: bytes, *, expected_mod_revision: int) -> int:
        if "/resourcequotas/" in key:
            quota_writes.append(key)
            if len(quota_writes) == 2:
                raise Conflict(key, expected=expected_mod_revision, actual=expected_mod_revision + 1)
        return await real_update(key, value, expected_mod_revision=expected_mod_revision)

    monkeypatch.setattr(store, "update", racing_update)
    assert (await api.post(f"{NS}/configmaps", {"metadata": {"name": "c"}})).status == 201
    assert await used(api, "a") == {"count/configmaps": "1"}
    assert await used(api, "b") == {"configmaps": "1"}
    assert quota_writes[:2] == ["/registry/resourcequotas/default/a", "/registry/resourcequotas/default/b"]
    assert len(quota_writes) == 5  # a, b (lost), refund of a, then a and b again
