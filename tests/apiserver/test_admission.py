"""Admission over real HTTP: PriorityClasses (scheduling.k8s.io/v1, with the two built-ins) and the
Priority plugin setting ``spec.priority`` / ``spec.preemptionPolicy`` on new pods."""

from __future__ import annotations

from typing import Any

from tests.apiserver.conftest import API

PCS = "/apis/scheduling.k8s.io/v1/priorityclasses"
PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


def pc(name: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, **extra}


async def test_builtin_priority_classes_exist(api: API) -> None:
    r = await api.get(f"{PCS}/system-node-critical")
    assert r.status == 200
    assert r.body["value"] == 2000001000
    assert (await api.get(f"{PCS}/system-cluster-critical")).body["value"] == 2000000000


async def test_priority_class_validation(api: API) -> None:
    assert (await api.post(PCS, pc("too-high", 1_000_000_001))).status == 422
    assert (await api.post(PCS, pc("system-mine", 5))).status == 422
    assert (await api.post(PCS, {"metadata": {"name": "novalue"}})).status == 422
    r = await api.post(PCS, pc("ok", 100, preemptionPolicy="Sometimes"))
    assert r.status == 422
    r = await api.post(PCS, pc("ok", 100))
    assert r.status == 201
    assert r.body["preemptionPolicy"] == "PreemptLowerPriority"
    r.body["value"] = 200
    assert (await api.put(f"{PCS}/ok", r.body)).status == 422


async def test_pod_priority_from_class(api: API) -> None:
    assert (await api.post(PCS, pc("high", 1000, preemptionPolicy="Never"))).status == 201
    r = await api.post(PODS, pod("p1", priorityClassName="high"))
    assert r.status == 201, r.body
    assert r.body["spec"]["priority"] == 1000
    assert r.body["spec"]["preemptionPolicy"] == "Never"
    r = await api.post(PODS, pod("p2", priorityClassName="system-node-critical"))
    assert r.body["spec"]["priority"] == 2000001000
    r = await api.post(PODS, pod("p3"))
    assert r.body["spec"]["priority"] == 0
    assert r.body["spec"]["preemptionPolicy"] == "PreemptLowerPriority"


async def test_pod_priority_errors_are_403(api: API) -> None:
    before = await api.snapshot()
    r = await api.post(PODS, pod("bad1", priorityClassName="nope"))
    assert r.status == 403
    assert r.body["message"] == 'pods "bad1" is forbidden: no PriorityClass with name nope was found'
    r = await api.post(PODS, pod("bad2", priorityClassName="system-cluster-critical", priority=5))
    assert r.status == 403
    assert "must not be provided in pod spec" in r.body["message"]
    assert await api.snapshot() == before


async def test_global_default_class_applies(api: API) -> None:
    r = await api.post(PODS, pod("before"))  # no default yet (the default is remembered per class state)
    assert r.status == 201, r.body
    assert r.body["spec"]["priority"] == 0
    assert "priorityClassName" not in r.body["spec"]
    assert (await api.post(PCS, pc("dflt", 7, globalDefault=True))).status == 201
    r = await api.post(PODS, pod("gd"))
    assert r.status == 201, r.body
    assert r.body["spec"]["priorityClassName"] == "dflt"
    assert r.body["spec"]["priority"] == 7
    assert (await api.delete(f"{PCS}/dflt")).status == 200
    r = await api.post(PODS, pod("after"))
    assert r.status == 201, r.body
    assert r.body["spec"]["priority"] == 0
    assert "priorityClassName" not in r.body["spec"]


async def test_pod_update_without_priority_keeps_it(api: API) -> None:
    await api.post(PCS, pc("keep", 50))
    created = (await api.post(PODS, pod("keep", priorityClassName="keep"))).body
    del created["spec"]["priority"]
    created["metadata"]["labels"] = {"x": "y"}
    r = await api.put(f"{PODS}/keep", created)
    assert r.status == 200, r.body
    assert r.body["spec"]["priority"] == 50


async def test_only_one_global_default(api: API) -> None:
    assert (await api.post(PCS, pc("first", 1, globalDefault=True))).status == 201
    before = await api.snapshot()
    r = await api.post(PCS, pc("second", 2, globalDefault=True))
    assert r.status == 403
    assert "PriorityClass first is already marked as default" in r.body["message"]
    assert await api.snapshot() == before
