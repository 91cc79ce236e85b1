"""One priority level at run time: its seat limits, its queues and the requests it executes.

Limits, as upstream (all in seats): with ``server_cl = --max-requests-inflight +
--max-mutating-requests-inflight``, a level's ``nominal_cl = ceil(server_cl x shares / sum of all
shares)``; it may lend ``round(nominal_cl x lendablePercent / 100)`` seats and borrow up to
``round(nominal_cl x borrowingLimitPercent / 100)`` (unbounded when unset), so its ``current_cl`` stays
in ``[min_cl, max_cl]``. ``current_cl`` is re-divided periodically from the seat demand each level saw
(:mod:`.borrowing`); it starts at ``nominal_cl``.

Kinds: ``Exempt`` levels dispatch at once and keep no limit; ``Limited`` levels with a ``Reject``
response execute while seats are free and reject otherwise (``concurrency-limit``); ``Limited`` levels
with ``Queue`` queue in a :class:`~.queueset.QueueSet` and dispatch as seats free up.

Invariant: ``seats_in_use`` is the sum of the widths of this level's EXECUTING requests; whenever it
drops or a request is queued, :meth:`PriorityLevel.dispatch` runs, so a request never waits while its
queue's turn has come and its seats are free.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

from sampan.apiserver.flowcontrol.queueset import EXECUTING, WAITING, QueueSet, Request


@dataclass(frozen=True, slots=True)
class LevelSpec:
    """The parts of a PriorityLevelConfiguration dispatching needs."""

    name: str
    uid: str
    exempt: bool
    shares: int
    lendable_percent: int
    borrowing_limit_percent: int | None
    queuing: tuple[int, int, int] | None
    """(queues, handSize, queueLengthLimit) for a Queue response; None for Reject (and Exempt)."""

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> LevelSpec:
        md = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        name, uid = str(md.get("name", "")), str(md.get("uid", ""))
        if spec.get("type") == "Exempt":
            exempt = spec.get("exempt") or {}
            return cls(name, uid, True, int(exempt.get("nominalConcurrencyShares") or 0),
                       int(exempt.get("lendablePercent") or 0), None, None)
        limited = spec.get("limited") or {}
        response = limited.get("limitResponse") or {}
        queuing = None
        if response.get("type") == "Queue":
            q = response.get("queuing") or {}
            queuing = (int(q.get("queues") or 64), int(q.get("handSize") or 8), int(q.get("queueLengthLimit") or 50))
        borrowing = limited.get("borrowingLimitPercent")
        shares = limited.get("nominalConcurrencyShares")
        return cls(name, uid, False, 30 if shares is None else int(shares), int(limited.get("lendablePercent") or 0),
                   None if borrowing is None else int(borrowing), queuing)


class SeatDemand:
    """Time-weighted mean, variance and peak of a level's seat demand (executing + waiting seats) since
    the last :meth:`reset` (upstream's seat-demand integrator)."""

    __slots__ = ("_area", "_area2", "_last", "_since", "peak", "value")

    def __init__(self) -> None:
        now = time.monotonic()
        self.value = 0
        self.peak = 0
        self._area = self._area2 = 0.0
        self._last = self._since = now

    def set(self, value: int) -> None:
        now = time.monotonic()
        dt = now - self._last
        v = self.value
        self._area += v * dt
        self._area2 += v * v * dt
        self._last = now
        self.value = value
        if value > self.peak:
            self.peak = value

    def reset(self) -> tuple[float, float, int]:
        """(mean, standard deviation, peak) over the period now ending; starts a new period."""
        self.set(self.value)
        span = self._last - self._since
        mean = self._area / span if span > 0 else float(self.value)
        var = max(0.0, self._area2 / span - mean * mean) if span > 0 else 0.0
        peak = self.peak
        self._area = self._area2 = 0.0
        self._since = self._last
        self.peak = self.value
        return mean, math.sqrt(var), peak


class PriorityLevel:
    """See the module docstring. Counters (``dispatched``, ``rejected``, ``timed_out``, ``cancelled``)
    are cumulative, for the debug dump."""

    def __init__(self, spec: LevelSpec, *, nominal_cl: int) -> None:
        self.spec = spec
        self.nominal_cl = nominal_cl
        self.current_cl = nominal_cl
        self.queues: QueueSet | None = None
        self.seats_in_use = 0
        self.executing = 0
        self.demand = SeatDemand()
        self.smoothed_demand = 0.0
        self.dispatched = self.rejected = self.timed_out = self.cancelled = 0
        self.apply(spec, nominal_cl=nominal_cl)

    # ---- configuration ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def lendable_cl(self) -> int:
        return go_round(self.nominal_cl * self.spec.lendable_percent / 100)

    @property
    def min_cl(self) -> int:
        return self.nominal_cl - self.lendable_cl

    @property
    def max_cl(self) -> float:
        if self.spec.borrowing_limit_percent is None:
            return math.inf
        return self.nominal_cl + go_round(self.nominal_cl * self.spec.borrowing_limit_percent / 100)

    @property
    def max_seats(self) -> int:
        """The widest a request may be here (upstream: 15% of the nominal limit, within 1..10)."""
        return max(1, min(10, math.ceil(self.nominal_cl * 0.15)))

    def apply(self, spec: LevelSpec, *, nominal_cl: int) -> None:
        """Take a new spec; waiting requests move to the new queues (same flows, same order)."""
        old = self.queues
        self.spec = spec
        if nominal_cl != self.nominal_cl:
            self.nominal_cl = nominal_cl
            self.current_cl = nominal_cl
        if spec.queuing is None:
            self.queues = None
        elif old is None or (old.deck, old.hand_size, old.queue_length_limit) != spec.queuing:
            queues, hand, limit = spec.queuing
            self.queues = QueueSet(queues=queues, hand_size=hand, queue_length_limit=limit)
        if old is not None and old is not self.queues:
            waiting = old.drain()
            for req in waiting:  # executing requests finish against their old queue objects
                req.state = WAITING
                if self.queues is None or not self.queues.enqueue(req):
                    self.dispatch_now(req)
        self.dispatch()

    # ---- request flow ----------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return 0 if self.queues is None else self.queues.waiting_count

    def _demand_changed(self) -> None:
        self.demand.set(self.seats_in_use + (0 if self.queues is None else self.queues.waiting_seats))

    def admit(self, req: Request) -> str | None:
        """Start ``req`` now, queue it, or refuse it: returns the rejection reason or None. When None,
        ``req.future`` is done (it may execute) or will be once dispatched."""
        if self.spec.exempt:
            self.dispatch_now(req)
            return None
        free = self.current_cl - self.seats_in_use
        qs = self.queues
        if qs is None:
            if req.width <= free or self.seats_in_use == 0:
                self.dispatch_now(req)
                return None
            self.rejected += 1
            return "concurrency-limit"
        if not qs.active and (req.width <= free or self.seats_in_use == 0):
            qs.charge(req)  # fast path: nothing waits and it fits
            self._started(req)
            return None
        if not qs.enqueue(req):
            self.rejected += 1
            return "queue-full"
        self._demand_changed()
        self.dispatch()
        return None

    def dispatch_now(self, req: Request) -> None:
        req.state = EXECUTING
        self._started(req)

    def _started(self, req: Request) -> None:
        self.seats_in_use += req.width
        self.executing += 1
        self.dispatched += 1
        if not req.future.done():
            req.future.set_result(True)
        self._demand_changed()

    def dispatch(self) -> None:
        """Start every queued request whose turn it is and whose seats are free."""
        qs = self.queues
        if qs is None:
            return
        while qs.active:
            req = qs.pop(seats_free=self.current_cl - self.seats_in_use, idle=self.seats_in_use == 0)
            if req is None:
                break
            self._started(req)

    def remove_waiting(self, req: Request, *, timed_out: bool) -> None:
        """A queued request gives up (wait limit reached, or the client went away)."""
        if self.queues is not None and req.state == WAITING:
            self.queues.remove(req)
        if timed_out:
            self.timed_out += 1
        else:
            self.cancelled += 1
        self._demand_changed()

    def finish(self, req: Request, duration: float) -> None:
        """``req`` stopped executing (or, for a watch, finished initializing)."""
        if req.state != EXECUTING:
            return
        self.seats_in_use -= req.width
        self.executing -= 1
        if self.queues is not None and req.queue is not None:
            self.queues.finish(req, duration)
        else:
            req.state = "done"
        self._demand_changed()
        self.dispatch()

    def reject_all_waiting(self) -> list[Request]:
        """The level is gone: hand back its waiting requests (the controller re-routes them)."""
        return [] if self.queues is None else self.queues.drain()


def go_round(x: float) -> int:
    """Go's ``math.Round``: halves away from zero (Python's ``round`` rounds halves to even)."""
    return math.floor(x + 0.5)


def nominal_limits(server_cl: int, shares: dict[str, int]) -> dict[str, int]:
    """Upstream's nominal concurrency limit of each level: ``ceil(server_cl x shares / total shares)``."""
    total = sum(shares.values())
    if total <= 0:
        return dict.fromkeys(shares, 0)
    return {name: math.ceil(server_cl * s / total) for name, s in shares.items()}


def new_request(flow: tuple[str, str], width: int) -> Request:
    return Request(flow=flow, width=width, future=asyncio.get_running_loop().create_future(),
                   enqueued_at=time.monotonic())
