"""ReplicationControllers reconciled by the ReplicaSet controller's logic (the ``replicationcontroller``
controller), against a real API server; the kubectl-facing part (``get rc``, ``scale rc``) with the real
kubectl against a real ``sampan apiserver`` process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sampan.api import errors
from sampan.client import Client
from sampan.controllers.ownership import controller_ref
from tests.apiserver.test_kubectl import Kubectl
from tests.controllers.support import fast_options, running_kubelet, running_manager, unthrottled_client, wait_for
from tests.support.apiserver import APIServerHandle


def rc_body(name: str, replicas: int, *, app: str = "web") -> dict[str, Any]:
    """An RC without a selector: the API server defaults it (and the RC's labels) from the template."""
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas,
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


async def rc_pods(client: Client, name: str) -> list[dict[str, Any]]:
    pods = await client.resource("v1", "pods")
    items = (await pods.list(namespace="default"))["items"]
    return [p for p in items if (controller_ref(p) or {}).get("name") == name
            and (controller_ref(p) or {}).get("kind") == "ReplicationController"
            and not p["metadata"].get("deletionTimestamp")]


async def test_rc_of_two_gets_two_pods_replaces_and_scales(client: Client) -> None:
    rcs = await client.resource("v1", "replicationcontrollers")
    pods = await client.resource("v1", "pods")
    controllers = ("replicaset", "replicationcontroller")
    async with running_kubelet(client), running_manager(client, fast_options(controllers)):
        created = await rcs.create(rc_body("web", 2))
        assert created["spec"]["selector"] == {"app": "web"}
        assert created["metadata"]["labels"] == {"app": "web"}

        async def status_is(n: int) -> bool:
            rc = await rcs.get("web", namespace="default")
            st = rc.get("status") or {}
            return bool(st.get("replicas") == n and st.get("readyReplicas") == n and st.get("availableReplicas") == n
                        and st.get("fullyLabeledReplicas") == n
                        and st.get("observedGeneration") == rc["metadata"]["generation"])

        await wait_for(lambda: status_is(2), message="2 ready replicas")
        owned = await rc_pods(client, "web")
        assert len(owned) == 2
        ref = controller_ref(owned[0])
        assert ref is not None
        assert (ref["apiVersion"], ref["kind"], ref["uid"]) == ("v1", "ReplicationController",
                                                                created["metadata"]["uid"])
        assert all(p["metadata"]["generateName"] == "web-" for p in owned)

        events = await client.resource("v1", "events")

        async def create_event() -> bool:
            items = (await events.list(namespace="default"))["items"]
            return any(e["reason"] == "SuccessfulCreate" and e["involvedObject"]["kind"] == "ReplicationController"
                       and e["source"]["component"] == "replication-controller" for e in items)

        await wait_for(create_event, message="a SuccessfulCreate event from the replication-controller")

        await pods.delete(owned[0]["metadata"]["name"], namespace="default")

        async def replaced() -> bool:
            now = {p["metadata"]["name"] for p in await rc_pods(client, "web")}
            return len(now) == 2 and owned[0]["metadata"]["name"] not in now

        await wait_for(replaced, message="the deleted pod replaced")

        for _ in range(20):  # read-modify-write races the controller's status writes: retry on Conflict
            rc = await rcs.get("web", namespace="default")
            try:
                await rcs.update({**rc, "spec": {**rc["spec"], "replicas": 1}})
                break
            except errors.Conflict:
                continue
        else:
            raise AssertionError("the scale-down kept conflicting")
        await wait_for(lambda: status_is(1), message="scaled down to 1")
        assert len(await rc_pods(client, "web")) == 1


RC_YAML = """
apiVersion: v1
kind: ReplicationController
metadata:
  name: nginx
spec:
  replicas: 2
  selector:
    app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
"""


async def test_kubectl_get_and_scale_rc(apiserver: APIServerHandle, tmp_path: Path) -> None:
    kubectl = Kubectl("kubectl", apiserver, tmp_path / "cache")

    def run(*args: str, stdin: str | None = None) -> str:
        return kubectl.out(*args, stdin=stdin)

    options = fast_options(("replicationcontroller",))
    async with (unthrottled_client(apiserver.kubeconfig) as client, running_kubelet(client),
                running_manager(client, options)):
        out = await asyncio.to_thread(run, "create", "-f", "-", stdin=RC_YAML)
        assert out.strip() == "replicationcontroller/nginx created"

        async def ready(n: int) -> bool:
            rc = json.loads(await asyncio.to_thread(run, "get", "rc", "nginx", "-o", "json"))
            return bool((rc.get("status") or {}).get("readyReplicas") == n
                        and len(await _pods(client, "nginx")) == n)

        await wait_for(lambda: ready(2), message="2 ready pods")
        table = (await asyncio.to_thread(run, "get", "rc")).splitlines()
        assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        assert table[1].split()[:4] == ["nginx", "2", "2", "2"]
        wide = (await asyncio.to_thread(run, "get", "replicationcontrollers", "-o", "wide")).splitlines()
        assert wide[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES",
                                   "SELECTOR"]
        assert wide[1].split()[-3:] == ["nginx", "nginx:1.27", "app=nginx"]

        out = await asyncio.to_thread(run, "scale", "rc", "nginx", "--replicas=3")
        assert out.strip() == "replicationcontroller/nginx scaled"
        await wait_for(lambda: ready(3), message="3 ready pods after kubectl scale")
        scale = json.loads(await asyncio.to_thread(
            run, "get", "--raw", "/api/v1/namespaces/default/replicationcontrollers/nginx/scale"))
        assert scale["kind"] == "Scale"
        assert scale["spec"] == {"replicas": 3}
        assert scale["status"]["selector"] == "app=nginx"

        names = await asyncio.to_thread(run, "get", "rc", "--field-selector", "status.replicas=3", "-o", "name")
        assert names.split() == ["replicationcontroller/nginx"]

        # kubectl expose reads the RC's label-map selector for the Service
        out = await asyncio.to_thread(run, "expose", "rc", "nginx", "--port=80")
        assert out.strip() == "service/nginx exposed"
        svc = json.loads(await asyncio.to_thread(run, "get", "service", "nginx", "-o", "json"))
        assert svc["spec"]["selector"] == {"app": "nginx"}


async def _pods(client: Client, name: str) -> list[dict[str, Any]]:
    return await rc_pods(client, name)
