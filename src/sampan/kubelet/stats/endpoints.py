"""``/metrics/resource`` and ``/stats/summary`` on the kubelet's server, from :class:`StatsCollector`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from sampan.api.humanize import format_rfc3339
from sampan.kubelet.stats.collector import ContainerReading, Reading, StatsCollector

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "container_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed by the container in core-seconds"),
    "container_memory_working_set_bytes": ("gauge", "Current working set of the container in bytes"),
    "container_start_time_seconds": ("gauge", "Start time of the container since unix epoch in seconds"),
    "node_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed by the node in core-seconds"),
    "node_memory_working_set_bytes": ("gauge", "Current working set of the node in bytes"),
    "pod_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed by the pod in core-seconds"),
    "pod_memory_working_set_bytes": ("gauge", "Current working set of the pod in bytes"),
    "scrape_error": ("gauge", "1 if there was an error while getting container metrics, 0 otherwise"),
}


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _pods(reading: Reading) -> dict[tuple[str, str, str], list[ContainerReading]]:
    pods: dict[tuple[str, str, str], list[ContainerReading]] = {}
    for c in reading.containers:
        pods.setdefault((c.namespace, c.pod, c.pod_uid), []).append(c)
    return pods


def resource_metrics_text(reading: Reading) -> str:
    """Upstream's ``/metrics/resource`` exposition, every sample stamped with its reading's time (ms)."""
    samples: dict[str, list[str]] = {name: [] for name in _HELP}

    def add(name: str, value: float, at: float, **labels: str) -> None:
        samples[name].append(f"{name}{_labels(**labels)} {value!r} {round(at * 1000)}")

    n = reading.node
    add("node_cpu_usage_seconds_total", n.cpu_usage_core_ns / 1e9, n.timestamp)
    add("node_memory_working_set_bytes", float(n.memory_working_set_bytes), n.timestamp)
    for c in reading.containers:
        labels = {"container": c.container, "namespace": c.namespace, "pod": c.pod}
        add("container_cpu_usage_seconds_total", c.stats.cpu_usage_core_ns / 1e9, c.stats.timestamp, **labels)
        add("container_memory_working_set_bytes", float(c.stats.memory_working_set_bytes), c.stats.timestamp,
            **labels)
        if c.started_at:
            add("container_start_time_seconds", float(c.started_at), c.stats.timestamp, **labels)
    for (ns, pod, _uid), containers in _pods(reading).items():
        at = max(c.stats.timestamp for c in containers)
        add("pod_cpu_usage_seconds_total", sum(c.stats.cpu_usage_core_ns for c in containers) / 1e9, at,
            namespace=ns, pod=pod)
        add("pod_memory_working_set_bytes", float(sum(c.stats.memory_working_set_bytes for c in containers)), at,
            namespace=ns, pod=pod)
    samples["scrape_error"].append("scrape_error 0")
    lines: list[str] = []
    for name, (kind, text) in _HELP.items():
        if samples[name]:
            lines += [f"# HELP {name} [STABLE] {text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"



def _cpu(at: float, total_ns: int, nano_cores: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"time": format_rfc3339(at), "usageCoreNanoSeconds": total_ns}
    if nano_cores is not None:
        out["usageNanoCores"] = nano_cores
    return out


def _sum_rates(values: Iterable[int | None]) -> int | None:
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def summary(reading: Reading, node_name: str) -> dict[str, Any]:
    """The ``stats/v1alpha1`` Summary (the fields metrics consumers read)."""
    n = reading.node
    pods = []
    for (ns, pod, uid), containers in _pods(reading).items():
        at = max(c.stats.timestamp for c in containers)
        pods.append({
            "podRef": {"name": pod, "namespace": ns, "uid": uid},
            "startTime": format_rfc3339(min((c.started_at for c in containers if c.started_at), default=at)),
            "containers": [{
                "name": c.container, "startTime": format_rfc3339(c.started_at or c.stats.timestamp),
                "cpu": _cpu(c.stats.timestamp, c.stats.cpu_usage_core_ns, c.usage_nano_cores),
                "memory": {"time": format_rfc3339(c.stats.timestamp), "usageBytes": c.stats.memory_usage_bytes,
                           "workingSetBytes": c.stats.memory_working_set_bytes},
            } for c in containers],
            "cpu": _cpu(at, sum(c.stats.cpu_usage_core_ns for c in containers),
                        _sum_rates(c.usage_nano_cores for c in containers)),
            "memory": {"time": format_rfc3339(at), "usageBytes": sum(c.stats.memory_usage_bytes for c in containers),
                       "workingSetBytes": sum(c.stats.memory_working_set_bytes for c in containers)},
        })
    return {
        "node": {
            "nodeName": node_name,
            "cpu": _cpu(n.timestamp, n.cpu_usage_core_ns, n.usage_nano_cores),
            "memory": {"time": format_rfc3339(n.timestamp),
                       "availableBytes": n.memory_capacity_bytes - n.memory_working_set_bytes,
                       "usageBytes": n.memory_usage_bytes, "workingSetBytes": n.memory_working_set_bytes},
        },
        "pods": pods,
    }


class StatsEndpoints:
    def __init__(self, collector: StatsCollector, *, node_name: str) -> None:
        self._collector = collector
        self._node_name = node_name

    def register(self, app: web.Application) -> None:
        app.router.add_get("/metrics/resource", self._resource)
        app.router.add_get("/stats/summary", self._summary)

    async def _resource(self, _request: web.Request) -> web.Response:
        reading = await self._collector.read()
        return web.Response(text=resource_metrics_text(reading), headers={"Content-Type": PROMETHEUS_TEXT})

    async def _summary(self, _request: web.Request) -> web.Response:
        reading = await self._collector.read()
        return web.Response(body=orjson.dumps(summary(reading, self._node_name)), content_type="application/json")
