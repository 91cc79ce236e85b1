"""Unit tests of the dispatching parts: shuffle sharding, fair queuing, seat limits, borrowing, width."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sampan.apiserver.flowcontrol.borrowing import Demand, allocate
from sampan.apiserver.flowcontrol.estimate import width
from sampan.apiserver.flowcontrol.levels import LevelSpec, PriorityLevel, new_request, nominal_limits
from sampan.apiserver.flowcontrol.queueset import deal
from sampan.apiserver.metrics import request_info


def test_deal_gives_distinct_cards_in_range() -> None:
    for h in (0, 1, 12345, 2**63 + 17, 987654321987654321):
        hand = deal(h, deck=128, hand=6)
        assert len(hand) == len(set(hand)) == 6
        assert all(0 <= c < 128 for c in hand)
    assert sorted(deal(7, deck=4, hand=4)) == [0, 1, 2, 3]
    hands = {tuple(sorted(deal(h * 2654435761, deck=64, hand=6))) for h in range(200)}
    assert len(hands) > 190  # flows rarely share a whole hand


def test_upstream_nominal_limits() -> None:
    shares = {"exempt": 0, "catch-all": 5, "system": 30, "node-high": 40, "leader-election": 10,
              "workload-high": 40, "workload-low": 100, "global-default": 20}
    limits = nominal_limits(600, shares)
    assert limits == {"exempt": 0, "catch-all": 13, "system": 74, "node-high": 98, "leader-election": 25,
                      "workload-high": 98, "workload-low": 245, "global-default": 49}


def _level(cl: int, *, queues: int = 8, hand: int = 2, limit: int = 3) -> PriorityLevel:
    spec = LevelSpec("l", "uid", False, 1, 0, None, (queues, hand, limit))
    return PriorityLevel(spec, nominal_cl=cl)


async def test_fair_queuing_serves_a_light_flow_before_a_heavy_flows_backlog() -> None:
    level = _level(1, queues=8, hand=1, limit=100)
    first = new_request(("fs", "heavy"), 1)
    assert level.admit(first) is None
    assert first.future.done()
    heavy = [new_request(("fs", "heavy"), 1) for _ in range(5)]
    for r in heavy:
        assert level.admit(r) is None
        assert not r.future.done()
    assert level.queues is not None
    heavy_queue = level.queues.choose(("fs", "heavy")).index
    name = next(f"light-{i}" for i in range(100) if level.queues.choose(("fs", f"light-{i}")).index != heavy_queue)
    light = new_request(("fs", name), 1)
    assert level.admit(light) is None
    assert not light.future.done()
    order = []
    pending = [*heavy, light]
    current = first
    while pending:
        level.finish(current, 0.01)
        current = next(r for r in pending if r.future.done())
        pending.remove(current)
        order.append(current)
    assert order.index(light) <= 1  # the light flow waits for at most one heavy request


async def test_queue_full_and_concurrency_limit_rejections() -> None:
    level = _level(1, queues=1, hand=1, limit=2)
    running = new_request(("fs", "a"), 1)
    assert level.admit(running) is None
    assert level.admit(new_request(("fs", "a"), 1)) is None
    assert level.admit(new_request(("fs", "a"), 1)) is None
    assert level.admit(new_request(("fs", "a"), 1)) == "queue-full"
    reject = PriorityLevel(LevelSpec("r", "u", False, 1, 0, None, None), nominal_cl=2)
    a, b, c = (new_request(("fs", "x"), 1) for _ in range(3))
    assert reject.admit(a) is None
    assert reject.admit(b) is None
    assert reject.admit(c) == "concurrency-limit"
    reject.finish(a, 0.01)
    assert reject.admit(c) is None


async def test_wide_requests_wait_for_enough_seats_and_run_alone_when_wider_than_the_limit() -> None:
    level = _level(4, queues=4, hand=1, limit=10)
    narrow = new_request(("fs", "a"), 2)
    assert level.admit(narrow) is None
    assert narrow.future.done()
    wide = new_request(("fs", "b"), 3)
    assert level.admit(wide) is None
    assert not wide.future.done()
    level.finish(narrow, 0.01)
    assert wide.future.done()
    assert level.seats_in_use == 3
    level.finish(wide, 0.01)
    huge = new_request(("fs", "c"), 9)
    assert level.admit(huge) is None
    assert huge.future.done()
    after = new_request(("fs", "d"), 1)
    assert level.admit(after) is None
    assert not after.future.done()


async def test_waiting_request_removed_on_timeout() -> None:
    level = _level(1, queues=1, hand=1, limit=5)
    level.admit(new_request(("fs", "a"), 1))
    waiting = new_request(("fs", "a"), 1)
    level.admit(waiting)
    assert level.waiting == 1
    level.remove_waiting(waiting, timed_out=True)
    assert level.waiting == 0
    assert level.timed_out == 1
    await asyncio.sleep(0)


async def test_reconfiguring_queues_keeps_waiting_requests() -> None:
    level = _level(1, queues=2, hand=1, limit=5)
    level.admit(new_request(("fs", "a"), 1))
    waiting = [new_request(("fs", str(i)), 1) for i in range(3)]
    for r in waiting:
        level.admit(r)
    level.apply(LevelSpec("l", "uid", False, 1, 0, None, (16, 4, 50)), nominal_cl=1)
    assert level.waiting == 3


def test_borrowing_gives_idle_levels_lendable_seats_to_busy_ones() -> None:
    idle = Demand(target=25, lower=25, upper=float("inf"))  # nominal 49, lends 24
    busy = Demand(target=400, lower=49, upper=float("inf"))
    seats = allocate(150, [idle, busy])
    assert seats[0] == 25
    assert seats[1] == 125
    capped = allocate(150, [idle, Demand(target=400, lower=49, upper=60)])
    assert capped[1] == 60
    assert sum(capped) <= 150 + 1
    assert allocate(10, [Demand(0, 6, 9), Demand(0, 6, 9)]) == [6, 6]  # floors win when oversubscribed


def test_list_width_follows_object_count() -> None:
    def count(g: str, v: str, r: str) -> int:
        return 5000 if r == "pods" else 250

    def w(path: str, query: dict[str, str] | None = None, max_seats: int = 10) -> int:
        q = query or {}
        return width(request_info("GET", path, q), q, count_of=count, max_seats=max_seats)

    assert w("/api/v1/pods") == 10
    assert w("/api/v1/pods", max_seats=8) == 8
    assert w("/api/v1/configmaps") == 3
    assert w("/api/v1/pods", {"limit": "100"}) == 2
    assert w("/api/v1/pods", {"limit": "100", "labelSelector": "a=b"}) == 10
    assert w("/api/v1/namespaces/x/pods/p") == 1
    assert w("/api/v1/pods", {"watch": "true", "resourceVersion": "12"}) == 1
    assert w("/api/v1/configmaps", {"watch": "true"}) == 3
    assert width(request_info("POST", "/api/v1/namespaces/x/pods", {}), {}, count_of=count, max_seats=10) == 1


def test_retry_after_grows_while_a_level_keeps_dropping_and_recovers() -> None:
    from sampan.apiserver.flowcontrol.retryafter import MAX_RETRY_AFTER, DroppedRequests

    clock = [1000.0]
    drops = DroppedRequests(now=lambda: clock[0])
    assert drops.retry_after("gd") == 1
    for _second in range(12):  # 10 drops a second
        for _ in range(10):
            drops.record("gd")
        clock[0] += 1
    grown = drops.retry_after("gd")
    assert grown > 1
    assert drops.retry_after("other") == 1
    for _ in range(200):  # a drop every 3 s: it shrinks back to 1
        drops.record("gd")
        clock[0] += 3
    assert drops.retry_after("gd") == 1
    for _ in range(2000):
        for _ in range(200):
            drops.record("gd")
        clock[0] += 1
    assert drops.retry_after("gd") == MAX_RETRY_AFTER


async def test_queues_are_created_only_when_dealt() -> None:
    level = _level(1, queues=10**9, hand=8, limit=5)
    level.admit(new_request(("fs", "a"), 1))
    for i in range(20):
        assert level.admit(new_request(("fs", f"flow-{i}"), 1)) is None
    assert level.queues is not None
    assert level.waiting == 20
    assert len(level.queues.queues) <= 21 * 8


def test_mutating_requests_pay_for_their_watch_notifications() -> None:
    from sampan.apiserver.flowcontrol.estimate import NO_FINAL_WORK, final_work

    def watchers(n: int) -> Callable[[str, str, str], int]:
        return lambda g, v, r: n

    create = request_info("POST", "/api/v1/namespaces/x/configmaps", {})
    assert final_work(create, watchers_of=watchers(9), max_seats=10) == NO_FINAL_WORK
    assert final_work(create, watchers_of=watchers(35), max_seats=10) == (4, 0.005)
    capped = final_work(create, watchers_of=watchers(1000), max_seats=8)
    assert capped.seats == 8
    assert abs(capped.latency - 100 * 0.005 / 8) < 1e-9  # same seat-seconds, stretched
    event = request_info("POST", "/api/v1/namespaces/x/events", {})
    assert final_work(event, watchers_of=watchers(1000), max_seats=8) == NO_FINAL_WORK
    get = request_info("GET", "/api/v1/namespaces/x/configmaps/a", {})
    assert final_work(get, watchers_of=watchers(1000), max_seats=8) == NO_FINAL_WORK
