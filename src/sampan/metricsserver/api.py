"""The ``metrics.k8s.io/v1beta1`` API over the scraped store (NodeMetrics, PodMetrics; read-only).

Objects appear only for series with a usage (two scrapes); a pod is listed when every one of its
containers has one, as metrics-server does. ``labelSelector`` filters by the node's or pod's labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from sampan.api.humanize import format_rfc3339
from sampan.api.selectors import LabelSelector
from sampan.metricsserver.scrape import Series, Store

GROUP_VERSION = "metrics.k8s.io/v1beta1"
RESOURCE_LIST = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
    ],
}

Labels = Callable[[], Mapping[str, Mapping[str, str]]]
"""Current labels by object key (node name, or ``namespace/name`` for pods)."""



def _usage(series: Series) -> dict[str, str] | None:
    cores = series.nano_cores()
    if cores is None:
        return None
    return {"cpu": f"{max(cores, 0)}n", "memory": f"{int(series.memory_bytes) // 1024}Ki"}


def _window(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


class MetricsAPI:
    def __init__(self, store: Store, *, node_labels: Labels, pod_labels: Labels) -> None:
        self._store = store
        self._node_labels = node_labels
        self._pod_labels = pod_labels

    def register(self, app: web.Application) -> None:
        base = f"/apis/{GROUP_VERSION}"
        app.router.add_get(base, self._discovery)
        app.router.add_get(f"{base}/nodes", self._list_nodes)
        app.router.add_get(f"{base}/nodes/{{name}}", self._get_node)
        app.router.add_get(f"{base}/pods", self._list_pods)
        app.router.add_get(f"{base}/namespaces/{{namespace}}/pods", self._list_pods)
        app.router.add_get(f"{base}/namespaces/{{namespace}}/pods/{{name}}", self._get_pod)

    async def _discovery(self, _request: web.Request) -> web.Response:
        return web.json_response(RESOURCE_LIST)

    # -- nodes --------------------------------------------------------------------------------------

    def node_metrics(self) -> list[dict[str, Any]]:
        labels = self._node_labels()
        out = []
        for name, ns in sorted(self._store.nodes.items()):
            usage = _usage(ns.node)
            if usage is None or ns.node.latest is None:
                continue
            out.append({"kind": "NodeMetrics", "apiVersion": GROUP_VERSION,
                        "metadata": {"name": name, "creationTimestamp": format_rfc3339(ns.scraped_at),
                                     "labels": dict(labels.get(name, {}))},
                        "timestamp": format_rfc3339(ns.node.latest.timestamp), "window": _window(ns.node.window()),
                        "usage": usage})
        return out

    async def _list_nodes(self, request: web.Request) -> web.Response:
        items = _select(self.node_metrics(), request)
        return web.json_response({"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {},
                                  "items": items})

    async def _get_node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        for item in self.node_metrics():
            if item["metadata"]["name"] == name:
                return web.json_response(item)
        return _not_found("nodes", name)

    # -- pods ---------------------------------------------------------------------------------------

    def pod_metrics(self, namespace: str | None) -> list[dict[str, Any]]:
        labels = self._pod_labels()
        pods: dict[tuple[str, str], list[tuple[str, Series]]] = {}
        for ns in self._store.nodes.values():
            for (pns, pod, container), series in ns.containers.items():
                if namespace is None or pns == namespace:
                    pods.setdefault((pns, pod), []).append((container, series))
        out = []
        for (pns, pod), containers in sorted(pods.items()):
            usages = [(c, _usage(s), s) for c, s in sorted(containers)]
            if any(u is None for _, u, _ in usages):
                continue
            latest = max(s.latest.timestamp for _, _, s in usages if s.latest is not None)
            out.append({"kind": "PodMetrics", "apiVersion": GROUP_VERSION,
                        "metadata": {"name": pod, "namespace": pns, "creationTimestamp": format_rfc3339(latest),
                                     "labels": dict(labels.get(f"{pns}/{pod}", {}))},
                        "timestamp": format_rfc3339(latest), "window": _window(max(s.window() for _, _, s in usages)),
                        "containers": [{"name": c, "usage": u} for c, u, _ in usages]})
        return out

    async def _list_pods(self, request: web.Request) -> web.Response:
        items = _select(self.pod_metrics(request.match_info.get("namespace")), request)
        return web.json_response({"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {},
                                  "items": items})

    async def _get_pod(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        for item in self.pod_metrics(request.match_info["namespace"]):
            if item["metadata"]["name"] == name:
                return web.json_response(item)
        return _not_found("pods", name)


def _select(items: list[dict[str, Any]], request: web.Request) -> list[dict[str, Any]]:
    raw = request.query.get("labelSelector", "")
    if not raw:
        return items
    try:
        selector = LabelSelector.parse(raw)
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    return [i for i in items if selector.matches(i["metadata"]["labels"])]


def _not_found(resource: str, name: str) -> web.Response:
    return web.json_response({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'{resource} "{name}" not found', "reason": "NotFound",
        "details": {"name": name, "group": "metrics.k8s.io", "kind": resource}, "code": 404}, status=404)
