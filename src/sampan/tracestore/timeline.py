"""From an object's spans to its end-to-end timeline: hops in start order with offsets, durations, nesting
depth and a label a reader understands, the named gaps between top-level hops, and the create → Running
time of a pod.

Invariant of :class:`Timeline`: ``covered_ms + gap_ms == total_ms`` (up to rounding), where ``covered_ms`` is
the union of the hops' intervals and ``gap_ms`` the sum of the gaps between them — the time some component
was working on the object plus the time it was in flight between components. The same split holds for the
pod's create → Running (``running_ms``, ``running_gap_ms``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sampan._lib.tracing import RV, STEP_DURATION, UID

NS_PER_MS = 1_000_000


@dataclass
class Hop:
    component: str
    name: str
    label: str
    start_ms: float
    duration_ms: float
    depth: int
    span_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    lag_ms: float | None = None
    """For an informer delivery: ms from the end of the store write of that resourceVersion to the handler."""


@dataclass
class Gap:
    after: int
    before: int
    ms: float
    label: str


@dataclass
class Step:
    """One milestone of the object's path (see :data:`MILESTONES`) and the gap before it."""

    label: str
    hop: int
    start_ms: float
    duration_ms: float
    gap_ms: float
    """From the end of everything before (the previous steps) to this step's start; 0 when they overlap."""
    gap_label: str


@dataclass
class Timeline:
    start_ns: int
    total_ms: float
    covered_ms: float
    gap_ms: float
    running_ms: float | None
    """Offset of the end of the status write that first reported the pod Running (None: not yet)."""
    running_gap_ms: float | None
    """Of ``running_ms``, the time no hop was running (the rest was spent inside components)."""
    hops: list[Hop]
    gaps: list[Gap]
    steps: list[Step] = field(default_factory=list)
    """The milestones of a pod's path to Running (and on to the Service plumbing), in causal order."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def label(span: Mapping[str, Any]) -> str:
    """What a reader calls this hop."""
    name, comp = span.get("name", ""), span.get("component", "")
    a = span.get("attributes") or {}
    if name.startswith("HTTP "):
        return f"{comp}: {name[5:]} {a.get('http.target', '')}"
    if name == "apiserver.request":
        return f"API server: {a.get('http.method', '')} {a.get('http.target', '')} → {a.get('http.status_code', '')}"
    if name.startswith("storage."):
        return f"store {name[8:]} (revision {a.get(RV, '?')})"
    if name == "watchcache.dispatch":
        return f"watch cache: dispatch {a.get('watch.event', '')} rv {a.get(RV, '?')}"
    if name == "informer.deliver":
        return f"{comp}: informer {a.get('event', '')} (rv {a.get(RV, '?')})"
    if name == "reconcile":
        return f"{comp}: {a.get('controller', '')} reconcile {a.get('key', '')}"
    if name == "workqueue.wait":
        return f"{comp}: {a.get('controller', '')} workqueue wait"
    if name == "scheduler.cycle":
        return "scheduler: scheduling cycle"
    if name in ("scheduler.filter", "scheduler.score"):
        return f"scheduler: {name[10:]} ({a.get('nodes', '?')} nodes)"
    if name == "scheduler.bind":
        return f"scheduler: bind to {a.get('node', '')}"
    if name == "kubelet.sync":
        return "kubelet: first pod sync"
    if name == "kubelet.sandbox":
        return "kubelet: run pod sandbox"
    if name == "kubelet.container_start":
        return f"kubelet: start container {a.get('container', '')}"
    if name == "kubelet.status_write":
        return f"kubelet: status write ({a.get('phase', '')})"
    if name == "kube-proxy.sync":
        return f"kube-proxy: {'full' if a.get('full') else 'partial'} rule sync"
    return f"{comp}: {name}"


def _attr(h: Hop, key: str) -> Any:
    return h.attributes.get(key)


MILESTONES: tuple[tuple[str, Any], ...] = (
    ("create request", lambda h: h.name.startswith("HTTP POST") and _attr(h, "k8s.uid") and h.depth <= 1),
    ("store write", lambda h: h.name == "storage.create"),
    ("scheduler receipt", lambda h: h.name == "informer.deliver" and h.component == "kube-scheduler"),
    ("scheduling cycle", lambda h: h.name == "scheduler.cycle"),
    ("bind request", lambda h: h.name == "scheduler.bind"),
    ("kubelet receipt", lambda h: h.name == "informer.deliver" and h.component == "kubelet"),
    ("sandbox", lambda h: h.name == "kubelet.sandbox"),
    ("container start", lambda h: h.name == "kubelet.container_start"),
    ("status write (Running)", lambda h: h.name == "kubelet.status_write" and _attr(h, "phase") == "Running"),
    ("endpoints write", lambda h: h.name.startswith("HTTP ") and _attr(h, "k8s.related_uids")),
    ("kube-proxy receipt", lambda h: h.name == "informer.deliver" and h.component == "kube-proxy"),
    ("kube-proxy sync", lambda h: h.name == "kube-proxy.sync"),
)
"""(step, predicate over a hop): each step is the first matching hop after the previous step's hop."""


def _steps(chosen: Sequence[Mapping[str, Any]], hops: Sequence[Hop]) -> list[Step]:
    picked: list[tuple[str, int]] = []
    after = -1
    for step, pred in MILESTONES:
        i = next((j for j in range(after + 1, len(hops)) if pred(hops[j])), None)
        if i is not None:
            picked.append((step, i))
            after = i
    out: list[Step] = []
    reach: float | None = None
    prev_label = ""
    for step, i in picked:
        h = hops[i]
        gap = 0.0 if reach is None else max(0.0, round(h.start_ms - reach, 3))
        gap_label = f"{step} {gap:g} ms after the {prev_label} ended" if gap > 0 else ""
        out.append(Step(label=step, hop=i, start_ms=h.start_ms, duration_ms=h.duration_ms, gap_ms=gap,
                        gap_label=gap_label))
        end = round(h.start_ms + h.duration_ms, 3)
        if reach is None or end > reach:
            reach, prev_label = end, step
    return out


def with_steps(spans: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``spans`` plus one child record per timed step (an event carrying its duration, see
    :func:`sampan._lib.tracing.step`), so a step shows as a hop of its own."""
    out: list[Mapping[str, Any]] = []
    for s in spans:
        out.append(s)
        for k, ev in enumerate(s.get("events") or []):
            attrs = dict(ev.get("attributes") or {})
            duration = attrs.pop(STEP_DURATION, None)
            uid = (s.get("attributes") or {}).get(UID)
            if uid and UID not in attrs:  # a step is about the object its span is about
                attrs[UID] = uid
            if not isinstance(duration, int) or not isinstance(ev.get("time_ns"), int):
                continue
            out.append({"trace_id": s.get("trace_id"), "span_id": f"{s['span_id']}.{k}", "parent_id": s["span_id"],
                        "name": ev.get("name", ""), "component": s.get("component", ""), "start_ns": ev["time_ns"],
                        "end_ns": ev["time_ns"] + duration, "attributes": attrs, "seq": s.get("seq", 0)})
    return out


def build(spans: Sequence[Mapping[str, Any]], *, not_before_ns: int | None = None) -> Timeline:
    """The timeline of ``spans`` (one object's, as the store returns them). Spans starting before
    ``not_before_ns`` (e.g. kube-proxy syncs of an IP's previous owner) are left out."""
    chosen = sorted((s for s in with_steps(spans) if not_before_ns is None or s["start_ns"] >= not_before_ns),
                    key=lambda s: (s["start_ns"], s.get("seq", 0)))
    if not chosen:
        return Timeline(0, 0.0, 0.0, 0.0, None, None, [], [])
    by_id = {s["span_id"]: s for s in chosen}
    depth: dict[str, int] = {}

    def depth_of(s: Mapping[str, Any]) -> int:
        sid = s["span_id"]
        if sid not in depth:
            parent = by_id.get(s.get("parent_id") or "")
            depth[sid] = 0 if parent is None or parent is s else depth_of(parent) + 1
        return depth[sid]

    start = chosen[0]["start_ns"]
    writes_by_rv: dict[str, int] = {}
    for s in chosen:
        rv = (s.get("attributes") or {}).get(RV)
        if s["name"].startswith("storage.") and isinstance(rv, str):
            writes_by_rv.setdefault(rv, s["end_ns"])
    hops: list[Hop] = []
    running: float | None = None
    for s in chosen:
        a = dict(s.get("attributes") or {})
        lag = None
        if s["name"] == "informer.deliver" and a.get(RV) in writes_by_rv:
            lag = round((s["start_ns"] - writes_by_rv[a[RV]]) / NS_PER_MS, 3)
        hop = Hop(component=s.get("component", ""), name=s["name"], label=label(s),
                  start_ms=round((s["start_ns"] - start) / NS_PER_MS, 3),
                  duration_ms=round((s["end_ns"] - s["start_ns"]) / NS_PER_MS, 3), depth=depth_of(s),
                  span_id=s["span_id"], attributes=a, lag_ms=lag)
        hops.append(hop)
        if running is None and s["name"] == "kubelet.status_write" and a.get("phase") == "Running":
            running = round((s["end_ns"] - start) / NS_PER_MS, 3)
    end = max(s["end_ns"] for s in chosen)
    covered, gaps = _cover(chosen, hops, start=start, until=end)
    total_ms = round((end - start) / NS_PER_MS, 3)
    running_gap = None
    if running is not None:
        _, before_running = _cover(chosen, hops, start=start, until=start + int(running * NS_PER_MS))
        running_gap = round(sum(g.ms for g in before_running), 3)
    return Timeline(start_ns=start, total_ms=total_ms, covered_ms=round(covered / NS_PER_MS, 3),
                    gap_ms=round(sum(g.ms for g in gaps), 3), running_ms=running, running_gap_ms=running_gap,
                    hops=hops, gaps=gaps, steps=_steps(chosen, hops))


def _cover(chosen: Sequence[Mapping[str, Any]], hops: Sequence[Hop], *, start: int, until: int
           ) -> tuple[int, list[Gap]]:
    """Nanoseconds of [start, until] inside some hop, and the gaps (no hop running) in between, each named
    by the hop that ends it and the hop whose end began it."""
    covered = 0
    reach, reach_hop = start, 0
    gaps: list[Gap] = []
    for i, s in enumerate(chosen):
        s_start, s_end = s["start_ns"], min(s["end_ns"], until)
        if s_start >= until:
            break
        if s_start > reach:
            ms = round((s_start - reach) / NS_PER_MS, 3)
            gaps.append(Gap(after=reach_hop, before=i, ms=ms,
                            label=f"{hops[i].label} began {ms:g} ms after {hops[reach_hop].label} ended"))
            covered += s_end - s_start
        elif s_end > reach:
            covered += s_end - reach
        if s_end > reach:
            reach, reach_hop = s_end, i
    return covered, gaps
