"""The live view's panels computed from Prometheus pages: controller workqueues, the scheduler's queues,
informer delivery per component (``sampan_informer_*``, see :mod:`sampan.client.metrics`) and API Priority
and Fairness per priority level (upstream's ``apiserver_flowcontrol_*``).

Rates and interval means need the previous page's counters: :class:`InformerPanel` and :class:`APFPanel`
keep the last values they saw (and nothing else); a counter that went down (a restarted component) counts
as a fresh start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str, prefixes: tuple[str, ...]) -> Iterable[Any]:
    """The samples of a Prometheus page whose names start with one of ``prefixes``: only those lines are
    parsed (prometheus-client's parser is pure Python, and an API server's page has thousands of samples
    the live view does not show)."""
    if not text:
        return []
    lines = [line for line in text.splitlines() if line.startswith(prefixes)]
    try:
        return [s for family in text_string_to_metric_families("\n".join(lines) + "\n") for s in family.samples]
    except ValueError:
        return []


def workqueues(texts: Sequence[str]) -> list[dict[str, Any]]:
    queues: dict[str, dict[str, float]] = {}
    wanted = {"workqueue_depth": "depth", "workqueue_adds_total": "adds", "workqueue_retries_total": "retries"}
    for text in texts:
        for s in samples(text, tuple(wanted)):
            if s.name in wanted:
                queues.setdefault(s.labels.get("name", ""), {})[wanted[s.name]] = s.value
    return [{"name": name, **{k: int(v) for k, v in q.items()}} for name, q in sorted(queues.items())]


def pending_pods(texts: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for text in texts:
        for s in samples(text, ("scheduler_pending_pods",)):
            if s.name == "scheduler_pending_pods":
                out[s.labels.get("queue", "")] = int(s.value)
    return out


def _delta(now: float, before: float | None) -> float:
    return now - before if before is not None and now >= before else now if before is not None else 0.0


class InformerPanel:
    """Per component and informer (handlers summed): notifications pending, the oldest one's age, deliveries
    per second and the mean wait of the notifications delivered since the last snapshot (in ms; None when
    none were), its reflector's LISTs and the relists a 410 forced; with a trace store, the write → handler
    lag from the traces (``trace``: mean and max ms)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[float, float]] = {}
        self._last_time = 0.0

    def rows(self, pages: Sequence[tuple[str, str]], now: float,
             traced: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """``pages``: (component name, its /metrics text); ``traced``: the store's ``informer-lag`` rows."""
        acc: dict[tuple[str, str], list[float]] = {}
        for component, text in pages:
            for s in samples(text, ("reflector_lists_total", "sampan_reflector_expired_total", "sampan_informer_")):
                if s.name in ("reflector_lists_total", "sampan_reflector_expired_total"):
                    row = acc.setdefault((component, s.labels.get("name", "")), [0.0] * 6)
                    row[4 if s.name == "reflector_lists_total" else 5] += s.value
                    continue
                if not s.name.startswith("sampan_informer_"):
                    continue
                row = acc.setdefault((component, s.labels.get("informer", "")), [0.0] * 6)
                if s.name == "sampan_informer_pending_notifications":
                    row[0] += s.value
                elif s.name == "sampan_informer_oldest_pending_seconds":
                    row[1] = max(row[1], s.value)
                elif s.name == "sampan_informer_notifications_total":
                    row[2] += s.value
                elif s.name == "sampan_informer_notification_wait_seconds_total":
                    row[3] += s.value
        by_trace = {(str(t.get("component", "")), str(t.get("informer", ""))): t for t in traced}
        dt = now - self._last_time if self._last_time else 0.0
        out = []
        for (component, informer), (pending, oldest, count, wait, lists, expired) in sorted(acc.items()):
            before = self._last.get((component, informer))
            delivered = _delta(count, before[0] if before else None)
            waited = _delta(wait, before[1] if before else None)
            trace = by_trace.get((component.split(" ")[0], informer))
            out.append({"component": component, "informer": informer, "pending": int(pending),
                        "oldest_s": round(oldest, 3), "deliveries": int(count), "lists": int(lists),
                        "relists_410": int(expired),
                        "per_s": round(delivered / dt, 2) if dt > 0 else 0.0,
                        "lag_ms": round(1000 * waited / delivered, 3) if delivered > 0 else None,
                        "trace": {"mean_ms": trace["mean_ms"], "max_ms": trace["max_ms"]} if trace else None})
        self._last = {k: (v[2], v[3]) for k, v in acc.items()}
        self._last_time = now
        return out


class APFPanel:
    """Per priority level (flow schemas summed): requests executing and waiting in queues, seats in use and
    the level's limit, and requests dispatched and rejected (totals and per second)."""

    GAUGES = {"apiserver_flowcontrol_current_executing_requests": "executing",
              "apiserver_flowcontrol_current_inqueue_requests": "waiting",
              "apiserver_flowcontrol_current_executing_seats": "seats"}
    COUNTERS = {"apiserver_flowcontrol_dispatched_requests_total": "dispatched",
                "apiserver_flowcontrol_rejected_requests_total": "rejected"}

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._last_time = 0.0

    def rows(self, text: str, now: float) -> list[dict[str, Any]]:
        levels: dict[str, dict[str, float]] = {}
        for s in samples(text, (*self.GAUGES, *self.COUNTERS, "apiserver_flowcontrol_nominal_limit_seats")):
            level = s.labels.get("priority_level")
            if level is None:
                continue
            key = self.GAUGES.get(s.name) or self.COUNTERS.get(s.name)
            if key is None and s.name == "apiserver_flowcontrol_nominal_limit_seats":
                key = "limit"
            if key is not None:
                acc = levels.setdefault(level, {})
                acc[key] = acc.get(key, 0.0) + s.value
        dt = now - self._last_time if self._last_time else 0.0
        out = []
        for level, v in sorted(levels.items()):
            row: dict[str, Any] = {"level": level, **{k: int(v.get(k, 0.0)) for k in
                                                      ("executing", "waiting", "seats", "limit", "dispatched",
                                                       "rejected")}}
            for counter in ("dispatched", "rejected"):
                d = _delta(v.get(counter, 0.0), self._last.get((level, counter)))
                row[f"{counter}_per_s"] = round(d / dt, 2) if dt > 0 else 0.0
            out.append(row)
        self._last = {(level, c): v.get(c, 0.0) for level, v in levels.items() for c in ("dispatched", "rejected")}
        self._last_time = now
        return out
