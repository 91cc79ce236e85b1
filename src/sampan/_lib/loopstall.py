"""How long does this event loop leave a timer waiting? The loop-stall monitor of every component.

A task sleeps ``interval`` (20 ms) again and again and records how late each wake-up is. Lateness is what
a heartbeat timer would suffer: a callback that holds the loop for 300 ms makes the next wake-up up to
300 ms late, and so does a pile of ready callbacks. The monitor keeps

- ``longest``: the longest lateness seen since start (``sampan_event_loop_stall_seconds_max``);
- a histogram of lateness per wake-up (``sampan_event_loop_stall_seconds``);
- ``longest_cpu``: the most CPU time the loop thread itself used between two wake-ups
  (``sampan_event_loop_stall_cpu_seconds_max``). A stall much longer than it was spent waiting — for a
  core (a loaded machine), or for the GIL held by another thread — not running the component's code;
- ``last_tick``: ``time.monotonic()`` of the last wake-up, readable from any thread, so a heartbeat thread
  can tell a loop that is merely busy from one that is wedged (:meth:`LoopStallMonitor.current_stall`).

Invariant: ``longest >= every observed lateness``; the histogram's count is the number of wake-ups. Costs
50 wake-ups a second, a few microseconds each. Slow turns beyond ``warn_after`` are logged (at most once
a second) with the lateness, so a stall can be traced to the time it happened.

Finding the culprit: with ``SAMPAN_STALL_TRACE_MS=N`` in the environment (or ``trace_after``), a watcher
thread logs the loop thread's stack once whenever the loop has been stuck for N ms — the code that holds
it. Off by default (the thread wakes every few milliseconds).

Rule this measures (docs/liveness.md): **liveness never waits behind work** — no turn of a component's loop
should run longer than ~50 ms; the goal for the longest stall under load is 100 ms.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

log = logging.getLogger(__name__)

STALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LoopStallMonitor:
    """Measures the lateness of a periodic timer on the running loop (see the module docstring).

    Start with ``await monitor.run()`` as a task owned by the component; cancel to stop. ``component``
    labels the exported metrics."""

    def __init__(self, component: str, *, interval: float = 0.02, warn_after: float = 0.5,
                 trace_after: float | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if trace_after is None and os.environ.get("SAMPAN_STALL_TRACE_MS"):
            trace_after = float(os.environ["SAMPAN_STALL_TRACE_MS"]) / 1000.0
        self.trace_after = trace_after
        self.component = component
        self.interval = interval
        self.warn_after = warn_after
        self.longest = 0.0
        self.longest_cpu = 0.0
        self.last_tick = time.monotonic()
        self.running = False
        self._counts = [0] * (len(STALL_BUCKETS) + 1)
        self._sum = 0.0
        self._last_warning = 0.0

    def observe(self, lateness: float) -> None:
        """Record one wake-up that came ``lateness`` seconds after it was due."""
        lateness = max(lateness, 0.0)
        self._counts[bisect.bisect_left(STALL_BUCKETS, lateness)] += 1
        self._sum += lateness
        if lateness > self.longest:
            self.longest = lateness
        now = time.monotonic()
        self.last_tick = now
        if lateness >= self.warn_after and now - self._last_warning >= 1.0:
            self._last_warning = now
            log.warning("event loop stalled component=%s seconds=%.3f", self.component, lateness)

    def reset(self) -> None:
        """Forget the longest stall so far (a benchmark phase starts)."""
        self.longest = self.longest_cpu = 0.0

    def observe_cpu(self, seconds: float) -> None:
        """Record the loop thread's CPU time between two wake-ups."""
        if seconds > self.longest_cpu:
            self.longest_cpu = seconds

    def current_stall(self) -> float:
        """How long the loop has gone without a wake-up beyond what was due (0 while it keeps up). Safe to
        call from another thread."""
        if not self.running:
            return 0.0
        return max(0.0, time.monotonic() - self.last_tick - self.interval)

    @property
    def wakeups(self) -> int:
        return sum(self._counts)

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        self.running = True
        self.last_tick = time.monotonic()
        stop = threading.Event()
        if self.trace_after is not None:
            ident = threading.get_ident()
            threading.Thread(target=self._trace, args=(ident, stop), name="sampan-stall-trace", daemon=True).start()
        try:
            while True:
                due = loop.time() + self.interval
                cpu = time.thread_time()
                await asyncio.sleep(self.interval)
                self.observe(loop.time() - due)
                self.observe_cpu(time.thread_time() - cpu)
        finally:
            self.running = False
            stop.set()

    def _trace(self, ident: int, stop: threading.Event) -> None:
        """Watcher thread: log the loop thread's stack once per stall longer than ``trace_after``."""
        assert self.trace_after is not None
        traced_tick = -1.0
        while not stop.wait(min(0.005, self.trace_after / 4)):
            if self.current_stall() >= self.trace_after and self.last_tick != traced_tick:
                traced_tick = self.last_tick
                frame = sys._current_frames().get(ident)
                if frame is not None:
                    stack = "".join(traceback.format_stack(frame)[-12:])
                    log.warning("event loop stuck component=%s seconds=%.3f stack:\n%s", self.component,
                                self.current_stall(), stack)

    def collector(self) -> Collector:
        """A prometheus collector for this monitor (register it in the component's registry)."""
        return _StallCollector(self)

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(self.collector())

    def histogram(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` buckets and the sum, in Prometheus form."""
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, n in zip([*STALL_BUCKETS, float("inf")], self._counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
        return buckets, self._sum


class _StallCollector(Collector):
    def __init__(self, monitor: LoopStallMonitor) -> None:
        self._m = monitor

    def collect(self) -> Iterator[GaugeMetricFamily | HistogramMetricFamily]:
        m = self._m
        longest = GaugeMetricFamily("sampan_event_loop_stall_seconds_max", "Longest lateness of a periodic "
                                    "timer on the component's event loop since start (the longest loop stall).",
                                    labels=["component"])
        longest.add_metric([m.component], m.longest)
        yield longest
        cpu = GaugeMetricFamily("sampan_event_loop_stall_cpu_seconds_max", "Most CPU time the event loop's "
                                "thread used between two wake-ups of the stall monitor's timer, since start: "
                                "a stall much longer than this was spent waiting for a core or the GIL.",
                                labels=["component"])
        cpu.add_metric([m.component], m.longest_cpu)
        yield cpu
        hist = HistogramMetricFamily("sampan_event_loop_stall_seconds", "Lateness of each wake-up of a "
                                     "periodic timer on the component's event loop.", labels=["component"])
        buckets, total = m.histogram()
        hist.add_metric([m.component], buckets, total)
        yield hist
