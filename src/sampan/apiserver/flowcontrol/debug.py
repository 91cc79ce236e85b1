"""``/debug/api_priority_and_fairness/dump_priority_levels``, ``dump_queues`` and ``dump_requests``:
upstream's comma-separated tables of the controller's state (one line per level, per queue, or per
waiting request)."""

from __future__ import annotations

import time

from aiohttp import web

from sampan.apiserver.flowcontrol.controller import APF

LEVEL_HEADER = ("PriorityLevelName", "ActiveQueues", "IsIdle", "IsQuiescing", "WaitingRequests", "ExecutingRequests",
                "DispatchedRequests", "RejectedRequests", "TimedoutRequests", "CancelledRequests")
QUEUE_HEADER = ("PriorityLevelName", "Index", "PendingRequests", "ExecutingRequests", "SeatsInUse", "NextDispatchR",
                "InitialSeatsSum", "MaxSeatsSum", "TotalWorkSum")


def _table(rows: list[tuple[object, ...]]) -> str:
    cells = [[f"{c}," if i < len(r) - 1 else str(c) for i, c in enumerate(r)] for r in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(len(r) for r in cells))]
    return "".join(" ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() + "\n" for row in cells)


def dump_priority_levels(apf: APF) -> str:
    rows: list[tuple[object, ...]] = [LEVEL_HEADER]
    for name in sorted(apf.levels):
        lv = apf.levels[name]
        active = 0 if lv.queues is None else len(lv.queues.active)
        idle = lv.executing == 0 and lv.waiting == 0
        rows.append((name, active, str(idle).lower(), "false", lv.waiting, lv.executing, lv.dispatched, lv.rejected,
                     lv.timed_out, lv.cancelled))
    return _table(rows)


def dump_queues(apf: APF) -> str:
    rows: list[tuple[object, ...]] = [QUEUE_HEADER]
    for name in sorted(apf.levels):
        qs = apf.levels[name].queues
        if qs is None:
            continue
        for q in sorted(qs.queues.values(), key=lambda q: q.index):
            rows.append((name, q.index, q.waiting_count, q.executing_count, q.executing_seats,
                         f"{q.finish:.8f}ss", q.waiting_seats, q.waiting_seats, f"{q.finish:.8f}ss"))
    return _table(rows)


REQUEST_HEADER = ("PriorityLevelName", "FlowSchemaName", "QueueIndex", "RequestIndexInQueue", "FlowDistingsher",
                  "ArriveTime", "InitialSeats", "FinalSeats", "AdditionalLatency", "StartTime")


def dump_requests(apf: APF) -> str:
    rows: list[tuple[object, ...]] = [REQUEST_HEADER]
    offset = time.time() - time.monotonic()
    for name in sorted(apf.levels):
        qs = apf.levels[name].queues
        if qs is None:
            continue
        for q in sorted(qs.queues.values(), key=lambda q: q.index):
            waiting = [r for r in q.requests if r.state == "waiting"]
            for i, r in enumerate(waiting):
                arrived = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.enqueued_at + offset))
                rows.append((name, r.flow[0], q.index, i, r.flow[1], arrived, r.width, 0, "0s", "0001-01-01T00:00:00Z"))
    return _table(rows)


def register(app: web.Application, apf: APF) -> None:
    async def levels(request: web.Request) -> web.Response:
        return web.Response(text=dump_priority_levels(apf), content_type="text/plain")

    async def queues(request: web.Request) -> web.Response:
        return web.Response(text=dump_queues(apf), content_type="text/plain")

    app.router.add_get("/debug/api_priority_and_fairness/dump_priority_levels", levels)
    async def requests(request: web.Request) -> web.Response:
        return web.Response(text=dump_requests(apf), content_type="text/plain")

    app.router.add_get("/debug/api_priority_and_fairness/dump_queues", queues)
    app.router.add_get("/debug/api_priority_and_fairness/dump_requests", requests)
