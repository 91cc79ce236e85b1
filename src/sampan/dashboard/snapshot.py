"""One picture of the cluster's machinery, gathered over HTTP like any client: nodes with the age of their
last Lease renewal and Ready condition, pods and phases, leader Leases, each component's health endpoint,
the API server's watch metrics (streams open and events/s per kind), the controller-manager's and
scheduler's queue metrics, each component's informer delivery lag (its metrics; with a trace store, also
the write → handler lag from the traces) and API Priority and Fairness per priority level (see
:mod:`.panels`).

:class:`SnapshotSource` keeps the previous counters to turn them into rates; otherwise it holds nothing
between snapshots.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from sampan.api import errors
from sampan.client import Client
from sampan.client.leaderelection.lease_lock import parse_time
from sampan.client.rest import ConnectionFailed
from sampan.dashboard.panels import APFPanel, InformerPanel, pending_pods, samples, workqueues

LEADER_LEASES = {"kube-scheduler": "kube-scheduler", "kube-controller-manager": "kube-controller-manager"}


@dataclass(frozen=True)
class ComponentTarget:
    """A component to show: ``health`` is an URL answering 200 while it lives (None: no endpoint);
    ``metrics`` its Prometheus page; ``lease`` the kube-system Lease it leads with, if any.

    Without ``health``, a component with a ``lease`` is alive while that Lease is held and renewed within
    its ``leaseDurationSeconds`` (what its standby replicas go by), not alive once it lapses, and unknown
    without a Lease (no leader election, or not started yet); a kubelet is asked through the API server's
    node proxy; anything else is unknown."""

    name: str
    health: str | None = None
    metrics: str | None = None
    lease: str | None = None


@dataclass
class SnapshotSource:
    client: Client
    components: list[ComponentTarget]
    apiserver_metrics: str
    trace_store: str = ""
    _last_events: dict[str, float] = field(default_factory=dict)
    _last_time: float = 0.0
    _informers: InformerPanel = field(default_factory=InformerPanel)
    _apf: APFPanel = field(default_factory=APFPanel)

    async def snapshot(self) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            nodes, pods, leases, node_leases = await asyncio.gather(
                self._list("v1", "nodes"), self._list("v1", "pods"),
                self._list("coordination.k8s.io/v1", "leases", "kube-system"),
                self._list("coordination.k8s.io/v1", "leases", "kube-node-lease"))
            now = time.time()
            health = await asyncio.gather(*(self._alive(http, c, leases, now) for c in self.components))
            api_text = await self._apiserver_metrics(http)
            metric_texts = await asyncio.gather(*(self._metrics(http, c) for c in self.components))
            traced = await self._traced_lag(http)
        now = time.time()
        holders = {lease["metadata"]["name"]: (lease.get("spec") or {}).get("holderIdentity") or ""
                   for lease in leases}
        return {
            "time": now,
            "components": [self._component(c, alive, holders)
                           for c, alive in zip(self.components, health, strict=True)],
            "nodes": [_node(n, node_leases, now) for n in nodes],
            "pods": [_pod(p) for p in pods],
            "watches": self._watches(api_text, now),
            "workqueues": workqueues(metric_texts),
            "pending_pods": pending_pods(metric_texts),
            "informers": self._informers.rows([(c.name, t) for c, t in zip(self.components, metric_texts, strict=True)
                                               if c.name != "kube-apiserver"], now, traced),
            "apf": self._apf.rows(api_text, now),
        }

    async def _apiserver_metrics(self, http: aiohttp.ClientSession) -> str:
        """The API server's /metrics, read with the client's credentials (a secure port wants them), else
        from ``apiserver_metrics`` as is."""
        try:
            return await self.client.rest.get_text("/metrics")
        except (errors.APIError, ConnectionFailed):
            return await self._text(http, self.apiserver_metrics)

    async def _traced_lag(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        """The trace store's write → handler lag per component and informer ([] without a store)."""
        text = await self._text(http, f"{self.trace_store}/v1/informer-lag" if self.trace_store else None)
        try:
            rows = orjson.loads(text).get("informers") if text else []
        except (orjson.JSONDecodeError, AttributeError):
            return []
        return [r for r in rows or [] if isinstance(r, dict)]

    async def _list(self, api_version: str, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        try:
            rc = await self.client.resource(api_version, resource)
            items: list[dict[str, Any]] = (await rc.list(namespace=namespace))["items"]
            return items
        except errors.APIError:
            return []

    async def _alive(self, http: aiohttp.ClientSession, c: ComponentTarget, leases: list[dict[str, Any]],
                     now: float) -> bool | None:
        if c.name == "kube-apiserver":  # asked with the client's credentials and CA (a secure port wants them)
            try:
                await self.client.rest.get_text("/readyz")
                return True
            except errors.APIError:
                return False
            except ConnectionFailed:
                pass  # no answer there: try the target's own URL
        if c.health is None and c.name.startswith("kubelet "):
            return await self._via_node_proxy(c, "healthz") is not None
        if c.health is None and c.lease:
            return lease_held(next((x for x in leases if x["metadata"]["name"] == c.lease), None), now)
        if c.health is None:
            return None  # nothing to ask: shown as unknown
        try:
            async with http.get(c.health) as r:
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _metrics(self, http: aiohttp.ClientSession, c: ComponentTarget) -> str:
        if c.metrics is None and c.name.startswith("kubelet "):
            return await self._via_node_proxy(c, "metrics") or ""
        return await self._text(http, c.metrics)

    async def _via_node_proxy(self, c: ComponentTarget, path: str) -> str | None:
        """A kubelet whose port the view does not know (it serves TLS): its ``path`` through the API server's
        ``nodes/NAME/proxy`` (as ``kubectl get --raw`` scrapes it); None when that fails."""
        node = c.name.split(" ", 1)[1]
        try:
            return await self.client.rest.get_text(f"/api/v1/nodes/{node}/proxy/{path}")
        except (errors.APIError, ConnectionFailed):
            return None

    async def _text(self, http: aiohttp.ClientSession, url: str | None) -> str:
        if not url:
            return ""
        try:
            async with http.get(url) as r:
                return await r.text() if r.status == 200 else ""
        except (aiohttp.ClientError, TimeoutError):
            return ""

    def _component(self, c: ComponentTarget, alive: bool | None, holders: Mapping[str, str]) -> dict[str, Any]:
        holder = holders.get(c.lease or "", "") if c.lease else ""
        return {"name": c.name, "alive": alive, "leader": holder}

    def _watches(self, text: str, now: float) -> list[dict[str, Any]]:
        watchers: dict[str, float] = {}
        events: dict[str, float] = {}
        for s in samples(text, ("apiserver_registered_watchers", "apiserver_watch_events_total")):
            kind = s.labels.get("kind", "")
            if s.name == "apiserver_registered_watchers":
                watchers[kind] = watchers.get(kind, 0.0) + s.value
            elif s.name == "apiserver_watch_events_total":
                events[kind] = events.get(kind, 0.0) + s.value
        dt = now - self._last_time if self._last_time else 0.0
        out = []
        for kind in sorted(set(watchers) | set(events)):
            rate = (events.get(kind, 0.0) - self._last_events.get(kind, 0.0)) / dt if dt > 0 else 0.0
            out.append({"kind": kind, "watchers": int(watchers.get(kind, 0)), "events_per_s": round(max(rate, 0.0), 2)})
        self._last_events, self._last_time = events, now
        return out


def lease_held(lease: Mapping[str, Any] | None, now: float) -> bool | None:
    """Whether a leader-election Lease is held by someone who renewed it within its duration: None without
    a Lease, False when it lapsed or was released (empty holder)."""
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    renewed = parse_time(spec.get("renewTime"))
    if not spec.get("holderIdentity") or renewed is None:
        return False
    return now - renewed <= float(spec.get("leaseDurationSeconds") or 15)


def _node(node: Mapping[str, Any], leases: list[dict[str, Any]], now: float) -> dict[str, Any]:
    name = node["metadata"]["name"]
    ready = next((c.get("status", "Unknown") for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), "Unknown")
    lease = next((lease for lease in leases if lease["metadata"]["name"] == name), None)
    renewed = parse_time((lease or {}).get("spec", {}).get("renewTime")) if lease else None
    return {"name": name, "ready": ready, "lease_age": None if renewed is None else round(max(now - renewed, 0.0), 1)}


def _pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    md, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    return {"namespace": md.get("namespace", ""), "name": md["name"], "uid": md.get("uid", ""),
            "phase": status.get("phase", "Pending"), "node": spec.get("nodeName", "")}
