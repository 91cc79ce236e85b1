"""The kubelet's per-object watches against a real API server: a pod's secret and configmap are watched
(by name, in their namespace) while a pod references them and released after; a claim's volume is
watched on first read; updates reach the getter."""

from __future__ import annotations

from typing import Any

from sampan.kubelet.object_watches import ObjectWatches
from tests.controllers.support import unthrottled_client, wait_for
from tests.support.apiserver import InProcessAPIServer


def _pod(name: str, secret: str, configmap: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox", "envFrom": [
                {"configMapRef": {"name": configmap}}]}],
                "volumes": [{"name": "s", "secret": {"secretName": secret}}]}}


async def test_watches_follow_pods(inproc_apiserver: InProcessAPIServer) -> None:
    client = unthrottled_client(inproc_apiserver.kubeconfig)
    watches = ObjectWatches(client)
    woken: list[set[str]] = []
    watches.on_change = woken.append
    try:
        secrets = await client.resource("v1", "secrets")
        configmaps = await client.resource("v1", "configmaps")
        await secrets.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1", "namespace": "default"},
                              "data": {"k": "dg=="}})
        pod = _pod("p", "s1", "c1")
        watches.pod_changed(pod)
        assert watches.watched == {("secret", "default", "s1"), ("configmap", "default", "c1")}
        await wait_for(lambda: watches.get_secret("default", "s1"), message="secret cached")
        assert watches.get_configmap("default", "c1") is None  # not created yet
        await configmaps.create({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "c1", "namespace": "default"}, "data": {"a": "1"}})
        await wait_for(lambda: watches.get_configmap("default", "c1"), message="configmap arrives by watch")
        await wait_for(lambda: {"default/p"} in woken, message="the pod using it is woken")
        cm = await configmaps.get("c1", namespace="default")
        cm["data"] = {"a": "2"}
        await configmaps.update(cm)
        await wait_for(lambda: (watches.get_configmap("default", "c1") or {}).get("data") == {"a": "2"},
                       message="update arrives")
        watches.pod_changed(_pod("p", "s1", "c2"))  # the pod now uses another configmap
        assert ("configmap", "default", "c1") not in watches.watched
        assert ("configmap", "default", "c2") in watches.watched
        watches.pod_removed(pod)
        assert watches.watched == set()
        assert watches.get_volume("pv-1") is None  # on demand: watched from now on
        assert watches.watched == {("pv", "", "pv-1")}
    finally:
        await watches.shutdown()
        await client.close()
