"""A kubelet with its own identity (``system:node:n1`` in ``system:nodes``) on a server whose default
modes are Node,RBAC: it registers its Node and Lease and runs a pod whose secret and configmap it may
read only because that pod is bound to it (per-object watches; no all-namespace reads)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp

from sampan.api import errors
from sampan.client import Client
from sampan.client.config import RESTConfig
from sampan.kubelet.kubelet import Kubelet, KubeletOptions
from tests.apiserver.authz.conftest import SecureServer, eventually
from tests.apiserver.authz.conftest import secure_server as secure_server  # the fixture

NODE_USER = "system:node:n1|system:nodes"


async def test_kubelet_runs_a_pod_under_node_authorization(secure_server: SecureServer, tmp_path: Path) -> None:
    client = Client(RESTConfig(host=secure_server.url, bearer_token=NODE_USER, qps=0))
    options = KubeletOptions(node_name="n1", root_dir=tmp_path / "n1", runtime="simulated",
                             node_status_update_frequency=0.2, lease_renew_interval=0.1, node_lease_duration=2,
                             port=0, sync_period=0.1, local_path_reclaim_period=60)
    kubelet = Kubelet(client, options)
    task = asyncio.create_task(kubelet.run())
    try:
        async with aiohttp.ClientSession() as session:
            admin = secure_server.client(session, "root|system:masters")
            await asyncio.wait_for(kubelet.ready.wait(), 30)
            assert (await admin.get("/api/v1/nodes/n1")).status == 200
            assert (await admin.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1")).status \
                == 200
            for kind, plural, body in (("Secret", "secrets", {"data": {"pw": "c2VjcmV0"}}),
                                       ("ConfigMap", "configmaps", {"data": {"mode": "fast"}})):
                for name in ("mine", "theirs"):
                    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **body}
                    assert (await admin.post(f"/api/v1/namespaces/default/{plural}", obj)).status == 201
            pod: dict[str, Any] = {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                "spec": {"nodeName": "n1", "containers": [{
                    "name": "c", "image": "busybox", "command": ["sleep", "3600"],
                    "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "mine", "key": "pw"}}}]}],
                    "volumes": [{"name": "cfg", "configMap": {"name": "mine"}}]}}
            assert (await admin.post("/api/v1/namespaces/default/pods", pod)).status == 201

            async def running() -> bool:
                body = (await admin.get("/api/v1/namespaces/default/pods/web")).body
                return bool(body.get("status", {}).get("phase") == "Running")

            assert await eventually(running, timeout=30), "pod not running under node authorization"
            secrets = await client.resource("v1", "secrets")
            assert (await secrets.get("mine", namespace="default"))["data"] == {"pw": "c2VjcmV0"}
            try:
                await secrets.get("theirs", namespace="default")
                raise AssertionError("a kubelet read a secret no pod of its node uses")
            except errors.Forbidden:
                pass
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()
