"""Scraping kubelets: parse ``/metrics/resource`` and keep the last two points of each series.

Invariant: a usage figure exists for a container (or node) only once two scrapes of it with increasing
timestamps were seen; CPU is the rate between them (nanocores), memory the latest working set. A
container whose counter went backwards (restarted) restarts its window.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

_LINE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)(?: (?P<ts>\d+))?$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Point:
    timestamp: float
    cpu_seconds: float


@dataclass(slots=True)
class Series:
    """Two CPU points and the latest memory of one container or node."""

    previous: Point | None = None
    latest: Point | None = None
    memory_bytes: float = 0.0

    def add(self, point: Point) -> None:
        if self.latest is not None and point.timestamp <= self.latest.timestamp:
            return
        if self.latest is not None and point.cpu_seconds < self.latest.cpu_seconds:
            self.previous = None  # restarted: counters reset
        else:
            self.previous = self.latest
        self.latest = point

    def nano_cores(self) -> int | None:
        if self.previous is None or self.latest is None:
            return None
        # samples carry millisecond timestamps: the difference of two epoch floats is only good to ~1e-7 s
        elapsed = round((self.latest.timestamp - self.previous.timestamp) * 1000) / 1000
        if elapsed <= 0:
            return None
        return int((self.latest.cpu_seconds - self.previous.cpu_seconds) / elapsed * 1e9)

    def window(self) -> float:
        if self.previous is None or self.latest is None:
            return 0.0
        return self.latest.timestamp - self.previous.timestamp


def parse(text: str) -> list[tuple[str, dict[str, str], float, float | None]]:
    """(name, labels, value, timestamp seconds or None) of each sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            continue
        labels = dict(_LABEL.findall(m.group("labels") or ""))
        ts = m.group("ts")
        out.append((m.group("name"), labels, float(m.group("value")), int(ts) / 1000 if ts else None))
    return out


@dataclass(slots=True)
class NodeSeries:
    node: Series = field(default_factory=Series)
    containers: dict[tuple[str, str, str], Series] = field(default_factory=dict)
    """(namespace, pod, container) -> series."""
    scraped_at: float = 0.0


class Store:
    """Everything scraped, by node."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeSeries] = {}

    def ingest(self, node: str, text: str, *, scraped_at: float) -> None:
        ns = self.nodes.setdefault(node, NodeSeries())
        ns.scraped_at = scraped_at
        cpu: dict[tuple[str, str, str] | None, tuple[float, float]] = {}
        memory: dict[tuple[str, str, str] | None, float] = {}
        for name, labels, value, ts in parse(text):
            at = ts if ts is not None else scraped_at
            if name == "node_cpu_usage_seconds_total":
                cpu[None] = (at, value)
            elif name == "node_memory_working_set_bytes":
                memory[None] = value
            elif name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
                key: tuple[str, str, str] | None = (labels.get("namespace", ""), labels.get("pod", ""),
                                                    labels.get("container", ""))
                if name.startswith("container_cpu"):
                    cpu[key] = (at, value)
                else:
                    memory[key] = value
        for key, (at, seconds) in cpu.items():
            series = ns.node if key is None else ns.containers.setdefault(key, Series())
            series.add(Point(at, seconds))
            series.memory_bytes = memory.get(key, series.memory_bytes)
        for key in [k for k in ns.containers if k not in cpu]:  # gone from the node
            del ns.containers[key]

    def forget_nodes_except(self, names: set[str]) -> None:
        for name in [n for n in self.nodes if n not in names]:
            del self.nodes[name]


def kubelet_url(node: dict[str, Any], *, scheme: str) -> str | None:
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not host or not port:
        return None
    return f"{scheme}://{host}:{port}/metrics/resource"


async def scrape(session: aiohttp.ClientSession, url: str, *, timeout: float) -> str:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:  # TLS: the session's
        if resp.status != 200:
            raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status,
                                              message=f"kubelet answered {resp.status}")
        return await resp.text()
