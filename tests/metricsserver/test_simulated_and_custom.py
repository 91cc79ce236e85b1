"""The metrics pipeline on a simulated node, and the HPA's other metric types through the aggregation layer.

Real parts: an in-process API server, two hollow nodes serving their kubelet servers (the simulated
runtime: synthetic, deterministic usage from the ``sim.sampan.io/*-usage`` annotations, else the requests),
the metrics-server scraping them, the real kubectl's ``top``, the deployment/replicaset/HPA controllers, and
a small custom-metrics extension API server over HTTPS registered as ``v1beta2.custom.metrics.k8s.io`` (no
external metrics API is registered)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sampan._lib.tasks import cancel_and_wait
from sampan.api.selectors import LabelSelector
from sampan.client import Client
from sampan.kubelet.hollow import HollowNodes, HollowOptions
from sampan.kubelet.kubelet import KubeletOptions
from sampan.metricsserver.server import MetricsServer, MetricsServerOptions
from sampan.testing.webhooks import make_certificates
from tests.controllers.support import fast_options, running_manager, unthrottled_client, wait_for
from tests.support.apiserver import InProcessAPIServer

pytestmark = pytest.mark.slow
GV = "custom.metrics.k8s.io/v1beta2"


class CustomMetrics:
    """``requests_per_second`` for every pod the selector matches (adjustable), ``hits`` for Services."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.per_pod = "30"
        self.hits = "250"
        self.port = 0

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GV, "resources": [
            {"name": "pods/requests_per_second", "singularName": "", "namespaced": True, "kind": "MetricValueList",
             "verbs": ["get"]},
            {"name": "services/hits", "singularName": "", "namespaced": True, "kind": "MetricValueList",
             "verbs": ["get"]}]})

    async def pods(self, request: web.Request) -> web.Response:
        ns, metric = request.match_info["ns"], request.match_info["metric"]
        if metric != "requests_per_second":
            raise web.HTTPNotFound()
        selector = LabelSelector.parse(request.query.get("labelSelector", ""))
        pods = await self.client.resource("v1", "pods")
        items = [p for p in (await pods.list(namespace=ns))["items"]
                 if selector.matches(p["metadata"].get("labels") or {})]
        return web.json_response({"kind": "MetricValueList", "apiVersion": GV, "metadata": {}, "items": [
            {"describedObject": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "apiVersion": "/v1"},
             "metric": {"name": metric, "selector": None}, "timestamp": "2026-01-01T00:00:00Z",
             "windowSeconds": 60, "value": self.per_pod} for p in items]})

    async def service(self, request: web.Request) -> web.Response:
        ns, name, metric = request.match_info["ns"], request.match_info["name"], request.match_info["metric"]
        return web.json_response({"kind": "MetricValueList", "apiVersion": GV, "metadata": {}, "items": [
            {"describedObject": {"kind": "Service", "namespace": ns, "name": name, "apiVersion": "/v1"},
             "metric": {"name": metric, "selector": None}, "timestamp": "2026-01-01T00:00:00Z",
             "windowSeconds": 60, "value": self.hits}]})


@dataclass
class Env:
    server: InProcessAPIServer
    client: Client
    custom: CustomMetrics

    async def kubectl(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(self.server.kubeconfig), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        return int(proc.returncode or 0), out.decode()


async def register_custom_metrics(client: Client, port: int) -> None:
    md = {"name": "custom-metrics", "namespace": "kube-system"}
    services = await client.resource("v1", "services")
    endpoints = await client.resource("v1", "endpoints")
    apiservices = await client.resource("apiregistration.k8s.io/v1", "apiservices")
    await services.create({"apiVersion": "v1", "kind": "Service", "metadata": md,
                           "spec": {"ports": [{"port": 443, "targetPort": port}]}}, namespace="kube-system")
    await endpoints.create({"apiVersion": "v1", "kind": "Endpoints", "metadata": md,
                            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]},
                           namespace="kube-system")
    await apiservices.create({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                              "metadata": {"name": "v1beta2.custom.metrics.k8s.io"},
                              "spec": {"group": "custom.metrics.k8s.io", "version": "v1beta2",
                                       "groupPriorityMinimum": 100, "versionPriority": 200,
                                       "insecureSkipTLSVerify": True,
                                       "service": {"namespace": "kube-system", "name": "custom-metrics"}}})


@pytest.fixture
async def env(inproc_apiserver: InProcessAPIServer, tmp_path: Path) -> AsyncIterator[Env]:
    client = unthrottled_client(inproc_apiserver.kubeconfig)
    nodes = HollowNodes(client, HollowOptions(count=2, prefix="sim-", serve=True, template=KubeletOptions(
        node_name="sim-", root_dir=tmp_path / "nodes", runtime="simulated", cpu="4", memory="8Gi",
        node_status_update_frequency=0.5, lease_renew_interval=0.5, sync_period=0.2)))
    metrics = MetricsServer(client, MetricsServerOptions(secure_port=0, metric_resolution=0.5,
                                                         cert_dir=tmp_path / "certs"))
    custom = CustomMetrics(client)
    app = web.Application()
    app.router.add_get(f"/apis/{GV}", custom.discovery)
    app.router.add_get(f"/apis/{GV}/namespaces/{{ns}}/pods/*/{{metric}}", custom.pods)
    app.router.add_get(f"/apis/{GV}/namespaces/{{ns}}/services/{{name}}/{{metric}}", custom.service)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    certs = make_certificates(tmp_path / "custom-certs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    custom.port = int(runner.addresses[0][1])
    tasks = [asyncio.create_task(nodes.run()), asyncio.create_task(metrics.run())]
    try:
        await wait_for(lambda: nodes.ready_count == 2, timeout=30, message="two hollow nodes ready")
        await asyncio.wait_for(metrics.serving.wait(), 30)
        await register_custom_metrics(client, custom.port)
        yield Env(inproc_apiserver, client, custom)
    finally:
        await cancel_and_wait(tasks)
        await runner.cleanup()
        await client.close()


def deployment(name: str, **annotations: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": {
                         "terminationGracePeriodSeconds": 0, "nodeName": "sim-1",
                         "containers": [{"name": "main", "image": "app",
                                         "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}}}]}}}}


def hpa(name: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": 1, "maxReplicas": 3, "metrics": metrics}}


async def test_kubectl_top_on_a_simulated_node(env: Env) -> None:
    """Synthetic usage is exact: 250m and 64Mi for the annotated pod, the node's total its pods' sum; the
    other hollow node is listed too (idle)."""
    deployments = await env.client.resource("apps/v1", "deployments")
    async with running_manager(env.client, fast_options(("deployment", "replicaset"))):
        await deployments.create(deployment("top", **{"sim.sampan.io/cpu-usage": "250m",
                                                      "sim.sampan.io/memory-usage": "64Mi"}))

        async def top_pods() -> str:
            code, out = await env.kubectl("top", "pods", "--no-headers")
            return out if code == 0 and "top-" in out else ""

        line = await wait_for(top_pods, timeout=30, message="kubectl top pods listing the pod")
    name, cpu, memory = line.split()
    assert name.startswith("top-")
    assert (cpu, memory) == ("250m", "64Mi")
    code, out = await env.kubectl("top", "nodes", "--no-headers")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert rows["sim-1"][0::2] == ["250m", "64Mi"]
    assert rows["sim-1"][1] == "6%"  # 250m of 4 cores
    assert rows["sim-2"][0::2] == ["0m", "0Mi"]


async def test_hpa_on_pods_object_and_missing_external_metrics(env: Env) -> None:
    deployments = await env.client.resource("apps/v1", "deployments")
    hpas = await env.client.resource("autoscaling/v2", "horizontalpodautoscalers")
    events = await env.client.resource("v1", "events")
    options = fast_options(("deployment", "replicaset", "horizontalpodautoscaling"),
                           horizontal_pod_autoscaler_sync_period=0.3,
                           horizontal_pod_autoscaler_downscale_stabilization=1.0)

    async def replicas(name: str) -> int:
        return int((await deployments.get(name, namespace="default"))["spec"]["replicas"])

    async def hpa_events(name: str) -> list[tuple[str, str]]:
        return [(e["reason"], e["message"]) for e in (await events.list(namespace="default"))["items"]
                if e["involvedObject"].get("kind") == "HorizontalPodAutoscaler"
                and e["involvedObject"].get("name") == name]

    async with running_manager(env.client, options):
        for name in ("web", "other", "idle"):
            await deployments.create(deployment(name))
        await hpas.create(hpa("web", [{"type": "Pods", "pods": {
            "metric": {"name": "requests_per_second"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]))
        await hpas.create(hpa("other", [
            {"type": "Object", "object": {"describedObject": {"apiVersion": "v1", "kind": "Service", "name": "front"},
                                          "metric": {"name": "hits"}, "target": {"type": "Value", "value": "100"}}},
            {"type": "External", "external": {"metric": {"name": "queue_depth"},
                                              "target": {"type": "AverageValue", "averageValue": "5"}}}]))
        await hpas.create(hpa("idle", [{"type": "External", "external": {
            "metric": {"name": "queue_depth"}, "target": {"type": "Value", "value": "5"}}}]))

        # Pods: 30 per pod against 10 -> 3 replicas
        await wait_for(lambda: _is(replicas("web"), 3), timeout=60, message="web scaled to 3")
        # the controller writes the scale before the status, so wait for the status of that same pass
        web = await wait_for(lambda: _with_metrics(hpas, "web"), message="web's status metrics")
        assert web["status"]["currentMetrics"][0] == {"type": "Pods", "pods": {
            "metric": {"name": "requests_per_second"}, "current": {"averageValue": "30"}}}
        conditions = {c["type"]: c for c in web["status"]["conditions"]}
        assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"
        rescaled = ("SuccessfulRescale", "New size: 3; reason: pods metric requests_per_second above target")
        await wait_for(lambda: _has(hpa_events("web"), rescaled), message="the rescale event")  # written async

        # Object: 250 hits against a value of 100 with one ready pod -> ceil(2.5) = 3; the unreadable external
        # metric is reported but does not stop a scale up
        await wait_for(lambda: _is(replicas("other"), 3), timeout=60, message="other scaled to 3")
        other = await wait_for(lambda: _with_metrics(hpas, "other"), message="other's status metrics")
        assert other["status"]["currentMetrics"][0]["object"]["current"] == {"value": "250"}
        async def external_failed() -> bool:
            return any(r == "FailedGetExternalMetric" for r, _ in await hpa_events("other"))

        await wait_for(external_failed, message="a FailedGetExternalMetric event for other")

        # External only, and no external metrics API: ScalingActive False with upstream's reason
        async def idle_inactive() -> dict[str, Any] | None:
            got = await hpas.get("idle", namespace="default")
            conds = {c["type"]: c for c in (got.get("status") or {}).get("conditions") or []}
            active = conds.get("ScalingActive")
            return active if active is not None and active["status"] == "False" else None

        idle = await wait_for(idle_inactive, timeout=30, message="idle HPA inactive")
        assert idle["reason"] == "FailedGetExternalMetric"
        assert idle["message"].startswith("the HPA was unable to compute the replica count: unable to get external "
                                          "metric default/queue_depth")
        assert await replicas("idle") == 1

        # the load drops: back to one replica after the (shrunk) stabilization window
        env.custom.per_pod = "1"
        await wait_for(lambda: _is(replicas("web"), 1), timeout=60, message="web scaled back to 1")


async def _with_metrics(hpas: Any, name: str) -> dict[str, Any] | None:
    """The HPA once its status carries currentMetrics (the pass that rescaled writes them after the scale)."""
    got: dict[str, Any] = await hpas.get(name, namespace="default")
    return got if (got.get("status") or {}).get("currentMetrics") else None


async def _has(items: Any, item: Any) -> bool:
    return item in await items


async def _is(value: Any, expected: int) -> bool:
    return bool(await value == expected)
