"""The EndpointSlice controller: slices per port set with upstream labels and owner reference, endpoint
conditions following readiness and termination, chunking, and cleanup when the Service goes."""

from __future__ import annotations

from typing import Any

from sampan.client import Client
from sampan.controllers.endpointslice.desired import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    desired_slices,
)
from tests.controllers.clients import unthrottled_client
from tests.controllers.endpoints.test_endpoints import SERVICE, _set_ready, pod
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer


def test_desired_slices_conditions_ports_and_chunks() -> None:
    terminating = pod("t", ip="10.0.0.5", ready=True)
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pods = [pod(f"p{i}", ip=f"10.0.0.{10 + i}", ready=i % 2 == 0) for i in range(5)]
    pods += [terminating, pod("v6", ip="fd00::1", ready=True), pod("np", ip="10.0.0.99", ready=True, port_name="x")]
    slices = desired_slices(SERVICE, pods, max_per_slice=2)
    v4_full = [s for s in slices if s.address_type == "IPv4" and len(s.ports) == 2]
    assert [len(s.endpoints) for s in v4_full] == [2, 2, 2]  # p0..p4 and t, sorted by name, chunks of 2
    names = [e["targetRef"]["name"] for s in v4_full for e in s.endpoints]
    assert names == ["p0", "p1", "p2", "p3", "p4", "t"]
    conds = {e["targetRef"]["name"]: e["conditions"] for s in v4_full for e in s.endpoints}
    assert conds["p0"] == {"ready": True, "serving": True, "terminating": False}
    assert conds["p1"] == {"ready": False, "serving": False, "terminating": False}
    assert conds["t"] == {"ready": False, "serving": True, "terminating": True}
    assert [s.address_type for s in slices if s.endpoints[0]["targetRef"]["name"] == "v6"] == ["IPv6"]
    only_metrics = [s for s in slices if s.ports == (("metrics", 9100, "TCP", ""),)]
    assert [e["addresses"] for s in only_metrics for e in s.endpoints] == [["10.0.0.99"]]


def test_unnamed_service_port_keeps_an_empty_name() -> None:
    """kubectl describe service dereferences every slice port's name: upstream always writes it."""
    service = {"metadata": {"name": "np", "namespace": "default"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080, "targetPort": 80}]}}
    (only,) = desired_slices(service, [pod("p0", ip="10.0.0.10", ready=True)])
    assert only.ports_json() == [{"name": "", "port": 80, "protocol": "TCP"}]


async def _slices(client: Client, service: str = "web") -> list[dict[str, Any]]:
    api = await client.resource("discovery.k8s.io/v1", "endpointslices")
    items = (await api.list(namespace="default", label_selector=f"{SERVICE_NAME_LABEL}={service}"))["items"]
    return sorted(items, key=lambda s: s["metadata"]["name"])


def _conditions(slices: list[dict[str, Any]]) -> dict[str, dict[str, bool]]:
    return {e["targetRef"]["name"]: e["conditions"] for s in slices for e in s.get("endpoints") or []}


async def test_slices_follow_pods(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        pods = await client.resource("v1", "pods")
        svcs = await client.resource("v1", "services")
        for name in ("a", "b"):
            await pods.create({k: v for k, v in pod(name).items() if k != "status"})
        svc = await svcs.create(SERVICE)
        async with running_manager(client, fast_options(("endpointslice",))):
            await _set_ready(client, "a", "10.2.0.1", True)
            await _set_ready(client, "b", "10.2.0.2", False)

            async def shows(want: dict[str, dict[str, bool]]) -> bool:
                return _conditions(await _slices(client)) == want

            ready = {"ready": True, "serving": True, "terminating": False}
            not_ready = {"ready": False, "serving": False, "terminating": False}
            await wait_for(lambda: shows({"a": ready, "b": not_ready}), message="a ready, b not ready")
            slices = await _slices(client)
            assert len(slices) == 1
            s = slices[0]
            assert s["addressType"] == "IPv4"
            assert s["metadata"]["name"].startswith("web-")
            assert s["metadata"]["labels"] == {"tier": "front", SERVICE_NAME_LABEL: "web", MANAGED_BY_LABEL: MANAGED_BY}
            assert s["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                                         "uid": svc["metadata"]["uid"], "controller": True,
                                                         "blockOwnerDeletion": True}]
            assert sorted((p["name"], p["port"]) for p in s["ports"]) == [("http", 8080), ("metrics", 9100)]
            await _set_ready(client, "b", "10.2.0.2", True)
            await wait_for(lambda: shows({"a": ready, "b": ready}), message="b ready")
            first_name = s["metadata"]["name"]
            assert [x["metadata"]["name"] for x in await _slices(client)] == [first_name]  # updated in place
            await pods.delete("a", namespace="default")  # graceful: a terminating endpoint first
            terminating = {"ready": False, "serving": True, "terminating": True}
            await wait_for(lambda: shows({"a": terminating, "b": ready}), message="a terminating")
            await pods.delete("a", namespace="default", grace_period_seconds=0)
            await wait_for(lambda: shows({"b": ready}), message="a dropped")
            await svcs.delete("web", namespace="default")

            async def none_left() -> bool:
                return await _slices(client) == []

            await wait_for(none_left, message="slices deleted with the service")


def test_endpoint_zone_from_node() -> None:
    pods = [pod("a", ip="10.0.0.1", ready=True, node="n1"), pod("b", ip="10.0.0.2", ready=True, node="n2")]
    slices = desired_slices(SERVICE, pods, zone_of={"n1": "zone-a"}.get)
    zones = {e["targetRef"]["name"]: e.get("zone") for s in slices for e in s.endpoints}
    assert zones == {"a": "zone-a", "b": None}
