"""One picture of the cluster's machinery, gathered over HTTP like any client: nodes with the age of their
last Lease renewal and Ready condition, pods and phases, leader Leases, each component's health endpoint,
the API server's watch metrics (streams open and events/s per kind) and the controller-manager's and
scheduler's queue metrics.

:class:`SnapshotSource` keeps the previous watch-event counters to turn them into rates; otherwise it holds
nothing between snapshots.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from sampan.api import errors
from sampan.client import Client
from sampan.client.leaderelection.lease_lock import parse_time

LEADER_LEASES = {"kube-scheduler": "kube-scheduler", "kube-controller-manager": "kube-controller-manager"}


@dataclass(frozen=True)
class ComponentTarget:
    """A component to show: ``health`` is an URL answering 200 while it lives (None: no endpoint);
    ``metrics`` its Prometheus page; ``lease`` the kube-system Lease it leads with, if any."""

    name: str
    health: str | None = None
    metrics: str | None = None
    lease: str | None = None


@dataclass
class SnapshotSource:
    client: Client
    components: list[ComponentTarget]
    apiserver_metrics: str
    _last_events: dict[str, float] = field(default_factory=dict)
    _last_time: float = 0.0

    async def snapshot(self) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            nodes, pods, leases, node_leases = await asyncio.gather(
                self._list("v1", "nodes"), self._list("v1", "pods"),
                self._list("coordination.k8s.io/v1", "leases", "kube-system"),
                self._list("coordination.k8s.io/v1", "leases", "kube-node-lease"))
            health = await asyncio.gather(*(self._alive(http, c) for c in self.components))
            api_text = await self._text(http, self.apiserver_metrics)
            metric_texts = await asyncio.gather(*(self._text(http, c.metrics) for c in self.components))
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
            "workqueues": _workqueues(metric_texts),
            "pending_pods": _pending(metric_texts),
        }

    async def _list(self, api_version: str, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        try:
            rc = await self.client.resource(api_version, resource)
            items: list[dict[str, Any]] = (await rc.list(namespace=namespace))["items"]
            return items
        except errors.APIError:
            return []

    async def _alive(self, http: aiohttp.ClientSession, c: ComponentTarget) -> bool | None:
        if c.health is None:
            return None  # nothing to ask: shown as unknown
        try:
            async with http.get(c.health) as r:
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

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
        for family in _families(text):
            for s in family.samples:
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


def _families(text: str) -> list[Any]:
    if not text:
        return []
    try:
        return list(text_string_to_metric_families(text))
    except ValueError:
        return []


def _workqueues(texts: list[str]) -> list[dict[str, Any]]:
    queues: dict[str, dict[str, float]] = {}
    wanted = {"workqueue_depth": "depth", "workqueue_adds_total": "adds", "workqueue_retries_total": "retries"}
    for text in texts:
        for family in _families(text):
            for s in family.samples:
                if s.name in wanted:
                    queues.setdefault(s.labels.get("name", ""), {})[wanted[s.name]] = s.value
    return [{"name": name, **{k: int(v) for k, v in q.items()}} for name, q in sorted(queues.items())]


def _pending(texts: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for text in texts:
        for family in _families(text):
            for s in family.samples:
                if s.name == "scheduler_pending_pods":
                    out[s.labels.get("queue", "")] = int(s.value)
    return out


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
