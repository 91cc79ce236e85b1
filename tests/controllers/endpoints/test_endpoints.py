"""The Endpoints controller against a real API server: addresses follow pod readiness, named and numbered
target ports resolve per pod, labels follow the Service, and the object goes with its Service."""

from __future__ import annotations

from typing import Any

from sampan.api import errors
from sampan.client import Client
from sampan.controllers.endpoints.controller import desired_subsets
from tests.controllers.clients import unthrottled_client
from tests.controllers.support import fast_options, running_manager, wait_for
from tests.support.apiserver import InProcessAPIServer


def pod(name: str, *, app: str = "web", ip: str | None = None, ready: bool = False, node: str = "n1",
        port_name: str = "http", port: int = 8080) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}, "uid": f"uid-{name}"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx",
                                                   "ports": [{"name": port_name, "containerPort": port}]}]},
    }
    if ip is not None:
        body["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                          "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return body


SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "default", "labels": {"tier": "front"}},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                                                   {"name": "metrics", "port": 9090, "targetPort": 9100}]},
}


def test_subsets_group_by_resolved_ports_and_readiness() -> None:
    pods = [pod("a", ip="10.0.0.2", ready=True), pod("b", ip="10.0.0.1", ready=False),
            pod("c", ip="10.0.0.3", ready=True, port_name="other", port=7000), pod("d")]
    subsets, truncated = desired_subsets(SERVICE, pods)
    assert not truncated
    assert len(subsets) == 2
    by_ports = {tuple((p["name"], p["port"]) for p in s["ports"]): s for s in subsets}
    both = by_ports[(("http", 8080), ("metrics", 9100))]
    assert [a["ip"] for a in both["addresses"]] == ["10.0.0.2"]
    assert [a["ip"] for a in both["notReadyAddresses"]] == ["10.0.0.1"]
    assert both["addresses"][0]["targetRef"] == {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}
    assert both["addresses"][0]["nodeName"] == "n1"
    # pod c lacks the named port "http": only the numbered port reaches it
    only_metrics = by_ports[(("metrics", 9100),)]
    assert [a["ip"] for a in only_metrics["addresses"]] == ["10.0.0.3"]


def test_terminating_finished_and_publish_not_ready() -> None:
    gone = pod("gone", ip="10.0.0.9", ready=True)
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    done = pod("done", ip="10.0.0.8", ready=False)
    done["status"]["phase"] = "Succeeded"
    waiting = pod("waiting", ip="10.0.0.7", ready=False)
    assert desired_subsets(SERVICE, [gone, done])[0] == []
    publish = {**SERVICE, "spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    subsets, _ = desired_subsets(publish, [waiting])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.0.0.7"]
    assert "notReadyAddresses" not in subsets[0]


def test_truncated_over_capacity() -> None:
    pods = [pod(f"p{i}", ip=f"10.0.1.{i}", ready=True) for i in range(5)]
    subsets, truncated = desired_subsets(SERVICE, pods, max_addresses=3)
    assert truncated
    assert sum(len(s["addresses"]) for s in subsets) == 3


async def _endpoints(client: Client, name: str = "web") -> dict[str, Any] | None:
    eps = await client.resource("v1", "endpoints")
    try:
        return await eps.get(name, namespace="default")
    except errors.NotFound:
        return None


async def _set_ready(client: Client, name: str, ip: str, ready: bool) -> None:
    pods = await client.resource("v1", "pods")
    current = await pods.get(name, namespace="default")
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await pods.update_status({**current, "status": status})


def _ips(ep: dict[str, Any] | None, field: str) -> list[str]:
    return sorted(a["ip"] for s in (ep or {}).get("subsets") or [] for a in s.get(field) or [])


async def test_endpoints_follow_readiness_and_service(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        pods = await client.resource("v1", "pods")
        svcs = await client.resource("v1", "services")
        for name in ("a", "b"):
            await pods.create({k: v for k, v in pod(name).items() if k != "status"})
        await pods.create({k: v for k, v in pod("other", app="db").items() if k != "status"})
        await svcs.create(SERVICE)
        async with running_manager(client, fast_options(("endpoint",))):
            ep = await wait_for(lambda: _endpoints(client), message="endpoints created")
            assert ep["metadata"]["labels"] == {"tier": "front"}
            assert ep.get("subsets") in (None, [])  # no pod has an IP yet
            await _set_ready(client, "a", "10.1.0.1", True)
            await _set_ready(client, "b", "10.1.0.2", False)
            await _set_ready(client, "other", "10.1.0.3", True)

            async def addresses(ready: list[str], not_ready: list[str]) -> bool:
                ep = await _endpoints(client)
                return _ips(ep, "addresses") == ready and _ips(ep, "notReadyAddresses") == not_ready

            await wait_for(lambda: addresses(["10.1.0.1"], ["10.1.0.2"]), message="a ready, b not ready")
            ep = await _endpoints(client)
            assert ep is not None
            assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"},
                                                 {"name": "metrics", "port": 9100, "protocol": "TCP"}]
            await _set_ready(client, "b", "10.1.0.2", True)
            await _set_ready(client, "a", "10.1.0.1", False)
            await wait_for(lambda: addresses(["10.1.0.2"], ["10.1.0.1"]), message="readiness flipped")
            await pods.delete("b", namespace="default")
            await wait_for(lambda: addresses([], ["10.1.0.1"]), message="deleted pod dropped")
            # someone deletes the Endpoints: it comes back
            eps = await client.resource("v1", "endpoints")
            await eps.delete("web", namespace="default")
            await wait_for(lambda: addresses([], ["10.1.0.1"]), message="endpoints recreated")
            await svcs.delete("web", namespace="default")

            async def gone() -> bool:
                return await _endpoints(client) is None

            await wait_for(gone, message="endpoints deleted with the service")


async def test_selectorless_service_endpoints_left_alone(inproc_apiserver: InProcessAPIServer) -> None:
    async with unthrottled_client(inproc_apiserver) as client:
        svcs = await client.resource("v1", "services")
        eps = await client.resource("v1", "endpoints")
        await svcs.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": "default"},
                           "spec": {"ports": [{"port": 5432}]}})
        manual = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext", "namespace": "default"},
                  "subsets": [{"addresses": [{"ip": "192.168.1.1"}], "ports": [{"port": 5432}]}]}
        await eps.create(manual)
        async with running_manager(client, fast_options(("endpoint",))) as manager:
            runner = manager.runners["endpoint"]
            await wait_for(lambda: runner.reconciles >= 1, message="services reconciled")
            await wait_for(lambda: len(runner.queue) == 0 and not runner.queue.processing(), message="queue idle")
            ep = await _endpoints(client, "ext")
            assert ep is not None
            assert _ips(ep, "addresses") == ["192.168.1.1"]


def test_headless_service_without_ports_and_hostnames() -> None:
    headless = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "default"},
                "spec": {"clusterIP": "None", "selector": {"app": "web"}}}
    p = pod("db-0", ip="10.0.0.4", ready=True)
    p["spec"].update({"hostname": "db-0", "subdomain": "db"})
    subsets, _ = desired_subsets(headless, [p, pod("x", ip="10.0.0.5", ready=True)])
    assert len(subsets) == 1
    assert "ports" not in subsets[0]
    assert {a["ip"]: a.get("hostname") for a in subsets[0]["addresses"]} == {"10.0.0.4": "db-0", "10.0.0.5": None}
