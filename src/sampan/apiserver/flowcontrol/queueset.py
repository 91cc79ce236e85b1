"""Fair queuing with shuffle sharding for one priority level (upstream's ``fairqueuing/queueset``).

A flow (FlowSchema name + distinguisher) is dealt a *hand* of ``hand_size`` queues out of ``queues`` from
its hash (shuffle sharding: two flows rarely share their whole hand, so one heavy flow fills at most
its own hand); each request joins the queue of its hand holding the fewest seats (waiting + executing).
A queue already holding ``queue_length_limit`` waiting requests rejects it (``queue-full``).

Which queue goes next is self-clocked fair queuing over *seat-seconds*: each queue carries a virtual
finish tag; the next request comes from the non-empty queue with the smallest start tag
``max(finish, V)`` (``V``: the start tag of the latest dispatch), and dispatching a request of width
``w`` advances its queue's tag by ``w x G`` (``G``: the level's running mean execution time), corrected
by ``w x (actual - G)`` when it finishes. A flow of long, wide LISTs thus gets the same seat-seconds as
a flow of cheap GETs, not the same number of requests.

Request states: ``WAITING`` (in a queue) -> ``EXECUTING`` -> ``DONE``; a waiting request may instead
leave as ``REMOVED`` (timed out, cancelled, level gone). Invariants: ``q.waiting_count`` and
``q.waiting_seats`` (and the set's totals of both) count exactly the WAITING requests in ``q.requests``
(REMOVED ones are skipped lazily); a queue index is in ``active`` iff its ``waiting_count > 0``. All
methods are synchronous and run on the event loop: the level that owns the set is its only caller.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field

WAITING, EXECUTING, DONE, REMOVED = "waiting", "executing", "done", "removed"
HAND_CACHE_LIMIT = 4096


def deal(hash_value: int, *, deck: int, hand: int) -> list[int]:
    """``hand`` distinct card indices in ``[0, deck)`` drawn from ``hash_value`` (mixed-radix digits)."""
    chosen: list[int] = []
    h = hash_value
    for i in range(min(hand, deck)):
        remaining = deck - i
        idx = h % remaining
        h //= remaining
        for c in sorted(chosen):  # skip cards already dealt
            if idx >= c:
                idx += 1
        chosen.append(idx)
    return chosen


@dataclass(eq=False, slots=True)
class Request:
    """One request's passage through a level. ``future`` resolves to True once it may execute."""

    flow: tuple[str, str]
    width: int
    future: asyncio.Future[bool]
    enqueued_at: float
    state: str = WAITING
    queue: Queue | None = None
    cost: float = 0.0
    """Seat-seconds charged to its queue at dispatch (corrected at finish)."""


@dataclass(eq=False, slots=True)
class Queue:
    index: int
    requests: collections.deque[Request] = field(default_factory=collections.deque)
    waiting_count: int = 0
    waiting_seats: int = 0
    executing_count: int = 0
    executing_seats: int = 0
    finish: float = 0.0


class QueueSet:
    """The queues of one level; see the module docstring."""

    def __init__(self, *, queues: int, hand_size: int, queue_length_limit: int) -> None:
        self.queue_length_limit = queue_length_limit
        self.hand_size = hand_size
        self.deck = queues
        self.queues: dict[int, Queue] = {}
        """Queues by index, created when first dealt (a level may declare millions of queues)."""
        self.active: set[int] = set()
        self.waiting_count = 0
        self.waiting_seats = 0
        self.virtual_time = 0.0
        self.mean_duration = 1.0
        self._hands: dict[tuple[str, str], list[int]] = {}

    def _hand(self, flow: tuple[str, str]) -> list[int]:
        hand = self._hands.get(flow)
        if hand is None:
            if len(self._hands) >= HAND_CACHE_LIMIT:
                self._hands.clear()
            hand = self._hands[flow] = deal(hash(flow) & 0xFFFFFFFFFFFFFFFF, deck=self.deck, hand=self.hand_size)
        return hand

    def _queue(self, index: int) -> Queue:
        q = self.queues.get(index)
        if q is None:
            q = self.queues[index] = Queue(index)
        return q

    def choose(self, flow: tuple[str, str]) -> Queue:
        """The queue of ``flow``'s hand holding the fewest seats."""
        best: Queue | None = None
        best_seats = -1
        for i in self._hand(flow):
            q = self._queue(i)
            seats = q.waiting_seats + q.executing_seats
            if best is None or seats < best_seats:
                best, best_seats = q, seats
        assert best is not None  # a hand is never empty
        return best

    def enqueue(self, req: Request) -> bool:
        """Put ``req`` in its flow's queue; False (nothing changed) when that queue is full."""
        q = self.choose(req.flow)
        if q.waiting_count >= self.queue_length_limit:
            return False
        req.queue = q
        q.requests.append(req)
        q.waiting_count += 1
        q.waiting_seats += req.width
        self.waiting_count += 1
        self.waiting_seats += req.width
        self.active.add(q.index)
        return True

    def remove(self, req: Request) -> None:
        """A waiting request leaves without executing (timeout, cancel)."""
        q = req.queue
        if req.state != WAITING or q is None:
            return
        req.state = REMOVED
        q.waiting_count -= 1
        q.waiting_seats -= req.width
        self.waiting_count -= 1
        self.waiting_seats -= req.width
        if q.waiting_count == 0:
            self.active.discard(q.index)
            q.requests.clear()

    def _head(self, q: Queue) -> Request | None:
        while q.requests and q.requests[0].state != WAITING:
            q.requests.popleft()
        return q.requests[0] if q.requests else None

    def next_queue(self) -> Queue | None:
        """The non-empty queue with the smallest start tag (ties: lowest index)."""
        best: Queue | None = None
        best_tag = 0.0
        vt = self.virtual_time
        for i in self.active:
            q = self.queues[i]
            tag = q.finish if q.finish > vt else vt
            if best is None or tag < best_tag or (tag == best_tag and q.index < best.index):
                best, best_tag = q, tag
        return best

    def pop(self, *, seats_free: int, idle: bool) -> Request | None:
        """The next request to execute if it fits in ``seats_free`` (or the level is ``idle``), else None."""
        q = self.next_queue()
        if q is None:
            return None
        req = self._head(q)
        if req is None:  # cannot happen while the invariants hold; repair rather than spin
            self.active.discard(q.index)
            return None
        if req.width > seats_free and not idle:
            return None
        q.requests.popleft()
        q.waiting_count -= 1
        q.waiting_seats -= req.width
        self.waiting_count -= 1
        self.waiting_seats -= req.width
        if q.waiting_count == 0:
            self.active.discard(q.index)
        start = q.finish if q.finish > self.virtual_time else self.virtual_time
        self.virtual_time = start
        req.cost = req.width * self.mean_duration
        q.finish = start + req.cost
        self.start_executing(req, q)
        return req

    def start_executing(self, req: Request, q: Queue) -> None:
        req.state = EXECUTING
        req.queue = q
        q.executing_count += 1
        q.executing_seats += req.width

    def charge(self, req: Request) -> None:
        """Account a request dispatched without waiting (fast path) to its flow's queue."""
        q = self.choose(req.flow)
        start = q.finish if q.finish > self.virtual_time else self.virtual_time
        req.cost = req.width * self.mean_duration
        q.finish = start + req.cost
        self.start_executing(req, q)

    def finish(self, req: Request, duration: float) -> None:
        """An executing request is done after ``duration`` seconds: free its seats, correct its charge."""
        q = req.queue
        if req.state != EXECUTING or q is None:
            return
        req.state = DONE
        q.executing_count -= 1
        q.executing_seats -= req.width
        q.finish += req.width * duration - req.cost
        self.mean_duration += (max(duration, 1e-4) - self.mean_duration) * 0.05

    def drain(self) -> list[Request]:
        """Remove and return every waiting request (the level is being reconfigured or removed)."""
        out: list[Request] = []
        for q in self.queues.values():
            for r in q.requests:
                if r.state == WAITING:
                    out.append(r)
            q.requests.clear()
            q.waiting_count = q.waiting_seats = 0
        self.active.clear()
        self.waiting_count = self.waiting_seats = 0
        return out
