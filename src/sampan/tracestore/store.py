"""The span store: the latest ``capacity`` spans in memory, indexed by uid and by trace.

Invariants: ``_spans`` holds at most ``capacity`` spans keyed by their ingest sequence number (oldest
first); every live span is listed under its uid(s) in ``_by_uid`` and under its trace in ``_by_trace``,
and ``_by_id`` maps its span id to its sequence number. The index lists may also hold evicted sequence
numbers; readers skip them, and eviction prunes the lists it empties.

For the live view's informer-lag panel the store also keeps, bounded, when each revision's store write
ended (from the API server's ``storage.*`` steps) and the latest informer deliveries; a delivery's lag is
the time from the end of its revision's write to its handler's start, computed when asked (the two come
from different processes, in either order).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from typing import Any

from sampan._lib.tracing import ENDPOINT_IPS, RELATED_UIDS, RV, STEP_DURATION, UID

Span = dict[str, Any]

DEFAULT_CAPACITY = 200_000
RECENT_DELIVERIES = 5_000
"""Informer deliveries kept for :meth:`SpanStore.informer_lag`."""
WRITES_KEPT = 50_000
"""Revisions whose write end time is kept."""


def _uids(span: Mapping[str, Any]) -> list[str]:
    attrs = span.get("attributes") or {}
    out = []
    uid = attrs.get(UID)
    if isinstance(uid, str) and uid:
        out.append(uid)
    related = attrs.get(RELATED_UIDS)
    if isinstance(related, list):
        out.extend(u for u in related if isinstance(u, str) and u)
    ips = attrs.get(ENDPOINT_IPS)
    if isinstance(ips, list):
        out.extend(f"ip:{ip}" for ip in ips if isinstance(ip, str) and ip)
    return out


def valid_span(span: Any) -> bool:
    return (isinstance(span, dict) and isinstance(span.get("span_id"), str) and isinstance(span.get("trace_id"), str)
            and isinstance(span.get("start_ns"), int) and isinstance(span.get("end_ns"), int)
            and isinstance(span.get("name"), str) and isinstance(span.get("attributes", {}), dict))


class SpanStore:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._spans: OrderedDict[int, Span] = OrderedDict()
        self._by_uid: dict[str, list[int]] = {}
        self._by_trace: dict[str, list[int]] = {}
        self._by_id: dict[str, int] = {}
        self._seq = 0
        self._write_end: OrderedDict[str, int] = OrderedDict()
        self._deliveries: deque[tuple[str, str, str, int]] = deque(maxlen=RECENT_DELIVERIES)

    def __len__(self) -> int:
        return len(self._spans)

    @property
    def last_seq(self) -> int:
        return self._seq

    def add(self, spans: Iterable[Span]) -> int:
        """Store valid spans (others are skipped); returns how many were stored."""
        n = 0
        for span in spans:
            if not valid_span(span):
                continue
            self._seq += 1
            seq = self._seq
            span = {**span, "seq": seq}
            self._spans[seq] = span
            self._by_id[span["span_id"]] = seq
            self._by_trace.setdefault(span["trace_id"], []).append(seq)
            for uid in _uids(span):
                self._by_uid.setdefault(uid, []).append(seq)
            self._note_lag_inputs(span)
            n += 1
        while len(self._spans) > self.capacity:
            self._evict()
        return n

    def _note_lag_inputs(self, span: Span) -> None:
        attrs = span["attributes"] if isinstance(span.get("attributes"), dict) else {}
        if span["name"] == "informer.deliver":
            rv = attrs.get(RV)
            if isinstance(rv, str):
                self._deliveries.append((str(span.get("component", "")), str(attrs.get("informer", "")), rv,
                                         span["start_ns"]))
            return
        for ev in span.get("events") or ():
            a = ev.get("attributes") if isinstance(ev, dict) else None
            if not isinstance(a, dict) or not str(ev.get("name", "")).startswith("storage."):
                continue
            rv, duration, at = a.get(RV), a.get(STEP_DURATION), ev.get("time_ns")
            if isinstance(rv, str) and isinstance(duration, int) and isinstance(at, int):
                self._write_end[rv] = at + duration
                if len(self._write_end) > WRITES_KEPT:
                    self._write_end.popitem(last=False)

    def informer_lag(self) -> list[dict[str, Any]]:
        """Per (component, informer), over the latest deliveries whose write is known: how many, and the mean
        and max ms from the end of the store write to the handler."""
        groups: dict[tuple[str, str], list[float]] = {}
        for component, informer, rv, start in self._deliveries:
            end = self._write_end.get(rv)
            if end is not None:
                groups.setdefault((component, informer), []).append(max(0.0, (start - end) / 1e6))
        return [{"component": c, "informer": i, "count": len(v), "mean_ms": round(sum(v) / len(v), 3),
                 "max_ms": round(max(v), 3)} for (c, i), v in sorted(groups.items())]

    def _evict(self) -> None:
        seq, span = self._spans.popitem(last=False)
        if self._by_id.get(span["span_id"]) == seq:
            del self._by_id[span["span_id"]]
        for index, key in [(self._by_trace, span["trace_id"]), *((self._by_uid, u) for u in _uids(span))]:
            lst = index.get(key)
            if lst is not None:
                while lst and lst[0] not in self._spans:
                    lst.pop(0)
                if not lst:
                    del index[key]

    def _live(self, seqs: Iterable[int]) -> list[Span]:
        return [self._spans[s] for s in seqs if s in self._spans]

    def for_uid(self, uid: str, *, after: int = 0, ip: str = "") -> list[Span]:
        """The spans about object ``uid``: those naming it, their ancestors (the work that led to them: the
        reconcile that sent a create) and their descendants (the server side of a request), in start order.
        With ``after``, only spans ingested after that sequence number; with ``ip`` (the pod's IP), also the
        kube-proxy syncs that programmed it."""
        direct = self._live(self._by_uid.get(uid, ()))
        if ip:
            direct += self._live(self._by_uid.get(f"ip:{ip}", ()))
        chosen: dict[int, Span] = {s["seq"]: s for s in direct}
        for span in direct:  # ancestors
            parent = span.get("parent_id")
            while parent:
                seq = self._by_id.get(parent)
                if seq is None or seq not in self._spans or seq in chosen:
                    break
                chosen[seq] = self._spans[seq]
                parent = self._spans[seq].get("parent_id")
        roots = {s["span_id"] for s in direct}
        for trace_id in {s["trace_id"] for s in direct}:  # descendants, in ingest order until a fixpoint
            members = self._live(self._by_trace.get(trace_id, ()))
            grown = True
            while grown:
                grown = False
                for m in members:
                    if m["seq"] not in chosen and m.get("parent_id") in roots:
                        chosen[m["seq"]] = m
                        roots.add(m["span_id"])
                        grown = True
        out = [s for s in chosen.values() if s["seq"] > after]
        out.sort(key=lambda s: (s["start_ns"], s["seq"]))
        return out

    def recent(self, limit: int = 100) -> list[Span]:
        return list(self._spans.values())[-limit:]
