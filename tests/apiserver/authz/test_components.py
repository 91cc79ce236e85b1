"""The default policy lets sampan's components do their work with their own identities: the
controller-manager (``system:kube-controller-manager``, every controller) and the scheduler
(``system:kube-scheduler``) turn a Deployment into scheduled pods with endpoints, on a server whose
authentication chain makes the default modes Node,RBAC; kube-proxy's and DNS's reads are allowed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from sampan.client import Client
from sampan.client.config import RESTConfig
from sampan.scheduler.app import SchedulerApp, SchedulerAppOptions
from tests.apiserver.authz.conftest import Client as HTTPClient
from tests.apiserver.authz.conftest import SecureServer, eventually
from tests.controllers.support import fast_options, running_manager

CONTROLLERS = ("deployment", "replicaset", "endpoint", "endpointslice", "serviceaccount", "namespace",
               "garbagecollector", "clusterrole-aggregation", "root-ca-cert-publisher", "disruption",
               "resourcequota", "nodelifecycle", "service-lb-controller", "daemonset", "statefulset", "job",
               "cronjob", "ttl-after-finished", "persistentvolume-binder", "pvc-protection", "pv-protection")


def _client(server: SecureServer, user: str) -> Client:
    return Client(RESTConfig(host=server.url, bearer_token=user, qps=0))


@contextlib.asynccontextmanager
async def _scheduler(server: SecureServer) -> AsyncIterator[SchedulerApp]:
    app = SchedulerApp(SchedulerAppOptions(rest=RESTConfig(host=server.url, bearer_token="system:kube-scheduler",
                                                           qps=0), leader_elect=False, metrics_port=None))
    task = asyncio.create_task(app.run())
    try:
        await asyncio.wait_for(app.ready.wait(), 30)
        yield app
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_controller_manager_and_scheduler_work_under_rbac(secure_server: SecureServer) -> None:
    kcm = _client(secure_server, "system:kube-controller-manager")
    try:
        async with aiohttp.ClientSession() as session, \
                running_manager(kcm, fast_options(CONTROLLERS)), _scheduler(secure_server):
            admin = secure_server.client(session, "root|system:masters")
            node: dict[str, Any] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                                    "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                               "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}
            assert (await admin.post("/api/v1/nodes", node)).status == 201
            labels = {"app": "web"}
            deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                          "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                                   "template": {"metadata": {"labels": labels},
                                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
            assert (await admin.post("/apis/apps/v1/namespaces/default/deployments", deployment)).status == 201
            service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                       "spec": {"selector": labels, "ports": [{"port": 80}]}}
            assert (await admin.post("/api/v1/namespaces/default/services", service)).status == 201

            async def scheduled() -> bool:
                pods = (await admin.get("/api/v1/namespaces/default/pods")).body["items"]
                return len(pods) == 2 and all(p["spec"].get("nodeName") == "n1" for p in pods)

            assert await eventually(scheduled, timeout=30), "pods not created and scheduled"
            for i, pod in enumerate((await admin.get("/api/v1/namespaces/default/pods")).body["items"]):
                pod["status"] = {"phase": "Running", "podIP": f"100.64.0.{i + 2}",
                                 "conditions": [{"type": "Ready", "status": "True"}]}  # as a kubelet would
                path = f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/status"
                assert (await admin.put(path, pod)).status == 200

            async def side_effects() -> bool:
                sa = await admin.get("/api/v1/namespaces/default/serviceaccounts/default")
                slices = await admin.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices")
                endpoints = await admin.get("/api/v1/namespaces/default/endpoints/web")
                ready = (await admin.get("/apis/apps/v1/namespaces/default/deployments/web")).body.get("status", {})
                return (sa.status == 200 and bool(slices.body["items"]) and endpoints.status == 200
                        and ready.get("readyReplicas") == 2)

            assert await eventually(side_effects, timeout=30)
            # a namespace deletion runs through the namespace controller's delete-everything rights
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}
            assert (await admin.post("/api/v1/namespaces", ns)).status == 201
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
            assert (await admin.post("/api/v1/namespaces/doomed/configmaps", cm)).status == 201
            assert (await admin.delete("/api/v1/namespaces/doomed")).status == 200

            async def gone() -> bool:
                return (await admin.get("/api/v1/namespaces/doomed")).status == 404

            assert await eventually(gone, timeout=30)
    finally:
        await kcm.close()


async def test_proxy_and_dns_reads(secure_server: SecureServer) -> None:
    async with aiohttp.ClientSession() as session:
        proxy: HTTPClient = secure_server.client(session, "system:kube-proxy")
        dns: HTTPClient = secure_server.client(session, "system:sampan:dns")

        async def allowed() -> bool:
            return (await proxy.get("/api/v1/services")).status == 200

        assert await eventually(allowed)
        watch = {"watch": "1", "timeoutSeconds": "1"}
        assert (await proxy.get("/apis/discovery.k8s.io/v1/endpointslices", params=watch)).status == 200
        assert (await proxy.get("/api/v1/nodes/n1")).status == 404
        assert (await proxy.get("/api/v1/secrets")).status == 403
        for path in ("/api/v1/pods", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices"):
            assert (await dns.get(path)).status == 200, path
        assert (await dns.get("/api/v1/configmaps")).status == 403
