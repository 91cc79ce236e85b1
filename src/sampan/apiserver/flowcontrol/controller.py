"""The API Priority and Fairness controller: configuration in force, and the life of each request.

:meth:`APF.serve` is the request path (called by the middleware, after authentication):

1. classify: the first FlowSchema (by precedence) matching the request's user and target, and the flow
   inside it (:mod:`.classify`); FlowSchemas naming a missing level are ignored (``Dangling``);
2. exempt levels run the request at once; others estimate its width (:mod:`.estimate`) and ask the level
   (:mod:`.levels`): run now, queue, or refuse;
3. a refused request, or one still queued after ``queue_wait_limit``, gets ``429`` with upstream's text
   and a ``Retry-After`` that grows while its level keeps dropping requests (:mod:`.retryafter`); a
   queued one whose client goes away leaves its queue;
4. the request executes; its seats are freed when the handler returns (a mutating request with many
   watchers keeps its *final* seats a few milliseconds longer, for the notifications), for a WATCH
   as soon as the response starts (the watch is initialized), so long-running watches hold no seats,
   and for any other write as soon as it only waits for the store's commit (:mod:`.seats`).

Every response carries ``X-Kubernetes-PF-FlowSchema-UID`` and ``X-Kubernetes-PF-PriorityLevel-UID``.

:meth:`APF.apply_config` swaps in new FlowSchemas and levels (from the watch cache, :mod:`.configwatch`).
A level that stays keeps its queues and requests; a removed level keeps serving the requests it already
holds (it quiesces) and gets no new ones. Everything runs on the event loop, synchronously except for
the wait itself: APF never blocks the loop, and probes (``/healthz``, ``/livez``, ``/readyz``) and
``system:masters`` land in the exempt level, so liveness never queues.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from sampan._lib.urgent import CRITICAL, HEARTBEAT, urgent
from sampan.apiserver.context import ServerContext
from sampan.apiserver.flowcontrol import bootstrap, estimate
from sampan.apiserver.flowcontrol.borrowing import Demand, allocate, smoothed
from sampan.apiserver.flowcontrol.classify import CompiledSchema, Digest, classify, compile_schema, sort_schemas
from sampan.apiserver.flowcontrol.levels import LevelSpec, PriorityLevel, new_request, nominal_limits
from sampan.apiserver.flowcontrol.metrics import APFMetrics
from sampan.apiserver.flowcontrol.queueset import EXECUTING
from sampan.apiserver.flowcontrol.retryafter import DroppedRequests
from sampan.apiserver.flowcontrol.seats import bind as bind_commit_release
from sampan.apiserver.metrics import RequestInfo, request_info
from sampan.apiserver.userinfo import request_user

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UIDS_KEY = web.RequestKey("sampan.apf.uids", tuple[str, str])
"""Request key: (FlowSchema uid, PriorityLevel uid) for the response headers."""
Release = Callable[[], None]
RELEASE_KEY: web.RequestKey[Release] = web.RequestKey("sampan.apf.release")
"""Request key: a callable freeing a WATCH's seats once its response starts."""
FLOW_SCHEMA_HEADER = "X-Kubernetes-PF-FlowSchema-UID"
PRIORITY_LEVEL_HEADER = "X-Kubernetes-PF-PriorityLevel-UID"
TOO_MANY = "Too many requests, please try again later.\n"
MEMO_LIMIT = 4096
URGENT_LEVELS = {"leader-election": CRITICAL, "node-high": HEARTBEAT}
"""Levels whose requests, once dispatched, run ahead of all other work on the event loop
(:mod:`sampan._lib.urgent`): leader-election renewals, kubelets' Leases and node status — the heartbeats
that keep components and nodes alive (DESIGN.md §6), leader election first: its 10 s renew deadline is the
tightest. Health probes (the ``probes`` FlowSchema) run as critical too."""


def exempt_heartbeat(info: RequestInfo) -> int:
    """The urgent lane of an *exempt* request that is a heartbeat (0: none): exempt users (``system:masters``,
    every component of a cluster run with the insecure port) never reach the leader-election or node-high
    levels, so their heartbeats are recognised by target, as those levels' FlowSchemas match them: a single
    Lease in ``kube-system`` (leader election) is critical, any other single Lease or a node's status a
    heartbeat."""
    if not info.name or info.verb not in ("get", "update", "patch"):
        return 0
    if info.resource == "leases" and info.group == "coordination.k8s.io":
        return CRITICAL if info.namespace == "kube-system" else HEARTBEAT
    if info.resource == "nodes" and info.subresource == "status":
        return HEARTBEAT
    return 0


def too_many_requests(retry_after: int) -> web.Response:
    """Upstream's 429 (Go's ``http.Error`` text, ``Retry-After`` in seconds)."""
    return web.Response(status=429, text=TOO_MANY, content_type="text/plain", charset="utf-8",
                        headers={"Retry-After": str(retry_after), "X-Content-Type-Options": "nosniff"})


class APF:
    """See the module docstring. ``server_cl``: total seats (``--max-requests-inflight`` +
    ``--max-mutating-requests-inflight``)."""

    def __init__(self, ctx: ServerContext, *, server_cl: int, queue_wait_limit: float,
                 metrics: APFMetrics, drops: DroppedRequests | None = None) -> None:
        self.ctx = ctx
        self.server_cl = server_cl
        self.queue_wait_limit = queue_wait_limit
        self.metrics = metrics
        self.drops = drops or DroppedRequests()
        self.levels: dict[str, PriorityLevel] = {}
        self.schemas: list[CompiledSchema] = []
        self.all_schemas: list[CompiledSchema] = []
        self.dangling: set[str] = set()
        self._memo: dict[tuple[Any, ...], CompiledSchema | None] = {}
        """Classification results by everything matching looks at (cleared on every configuration)."""
        self.generation = 0
        """Bumped by every :meth:`apply_config` (tests wait for it)."""
        self.initialized = asyncio.Event()
        """Set once the configuration from the store is in force and its statuses are written."""
        self.apply_config(bootstrap.mandatory_schemas() + bootstrap.suggested_schemas(),
                          bootstrap.mandatory_levels() + bootstrap.suggested_levels())

    # ---- configuration ---------------------------------------------------------------------------

    def apply_config(self, schemas: Iterable[dict[str, Any]], levels: Iterable[dict[str, Any]]) -> None:
        specs = {s.name: s for s in (LevelSpec.from_object(o) for o in levels)}
        for obj in bootstrap.mandatory_levels():  # mandatory levels exist even while being re-created
            name = obj["metadata"]["name"]
            if name not in specs:
                specs[name] = LevelSpec.from_object(obj)
        nominal = nominal_limits(self.server_cl, {n: s.shares for n, s in specs.items()})
        new_levels: dict[str, PriorityLevel] = {}
        for name, spec in specs.items():
            level = self.levels.get(name)
            if level is None:
                level = PriorityLevel(spec, nominal_cl=nominal[name])
            else:
                level.apply(spec, nominal_cl=nominal[name])
            new_levels[name] = level
        self.levels = new_levels
        compiled = [compile_schema(o) for o in schemas]
        if not any(s.name == bootstrap.CATCH_ALL for s in compiled):
            compiled.append(compile_schema(bootstrap.mandatory_schemas()[1]))
        self.all_schemas = sort_schemas(compiled)
        self.dangling = {s.name for s in compiled if s.level not in new_levels}
        self.schemas = [s for s in self.all_schemas if s.name not in self.dangling]
        self._memo = {}
        for level in new_levels.values():
            self._publish_limits(level)
        self.generation += 1

    def _publish_limits(self, level: PriorityLevel) -> None:
        self.metrics.limits(level.name, nominal=level.nominal_cl, current=level.current_cl, lower=level.min_cl,
                            upper=min(level.max_cl, self.server_cl))

    def adjust_borrowing(self) -> None:
        """Re-divide the seats among the limited levels by their recent demand (:mod:`.borrowing`)."""
        limited = [lv for lv in self.levels.values() if not lv.spec.exempt]
        demands: list[Demand] = []
        for lv in limited:
            mean, stddev, _peak = lv.demand.reset()
            lv.smoothed_demand = smoothed(lv.smoothed_demand, mean, stddev)
            upper = min(lv.max_cl, float(self.server_cl))
            target = max(float(lv.min_cl), min(upper, lv.smoothed_demand))
            demands.append(Demand(target, float(lv.min_cl), upper))
        for lv, seats in zip(limited, allocate(self.server_cl, demands), strict=True):
            lv.current_cl = seats
            self._publish_limits(lv)
            lv.dispatch()

    # ---- requests --------------------------------------------------------------------------------

    def _count(self, group: str, version: str, resource: str) -> int:
        scope = self.ctx.scope(group, version, resource)
        return 0 if scope is None else len(scope.cache.objects)

    def _watchers(self, group: str, version: str, resource: str) -> int:
        scope = self.ctx.scope(group, version, resource)
        return 0 if scope is None else len(scope.cache.watchers)

    def classify(self, request: web.BaseRequest) -> tuple[CompiledSchema, PriorityLevel, Digest]:
        user = request_user(request)
        info = request_info(request.method, request.path, request.query)
        digest = Digest(user, info, request.path)
        key = (user.username, user.groups, info.is_resource, info.verb, info.group, info.resource, info.subresource,
               info.namespace, "" if info.is_resource else request.path)
        try:
            schema = self._memo[key]
        except KeyError:
            schema = classify(self.schemas, digest)
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = schema
        level = self.levels.get(schema.level) if schema is not None else None
        if schema is None or level is None:  # only while the mandatory catch-all is being re-created
            level = self.levels[bootstrap.CATCH_ALL]
            schema = next(s for s in self.all_schemas if s.name == bootstrap.CATCH_ALL)
        return schema, level, digest

    async def serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        schema, level, digest = self.classify(request)
        request[UIDS_KEY] = (schema.uid, level.spec.uid)
        fm = self.metrics.flow(level.name, schema.name)
        if level.spec.exempt:
            fm.dispatched.inc()
            fm.executing.inc()
            try:
                lane = CRITICAL if schema.name == "probes" else exempt_heartbeat(digest.info)
                if lane:
                    with urgent(lane):
                        return await handler(request)
                return await handler(request)
            finally:
                fm.executing.dec()
        width = estimate.width(digest.info, request.query, count_of=self._count, max_seats=level.max_seats)
        final = estimate.final_work(digest.info, watchers_of=self._watchers, max_seats=level.max_seats)
        width = max(width, final.seats)  # held from dispatch until the final work is done, as upstream reserves
        req = new_request((schema.name, schema.flow(digest)), width)
        reason = level.admit(req)
        if reason is not None:
            fm.rejected(reason)
            fm.wait_rejected.observe(0.0)
            return self._reject(level)
        if not req.future.done():
            fm.inqueue.inc()
            try:
                async with asyncio.timeout(self.queue_wait_limit):
                    await req.future
            except TimeoutError:
                self._give_up(level, req, timed_out=True)
                fm.rejected("time-out")
                fm.wait_rejected.observe(time.monotonic() - req.enqueued_at)
                return self._reject(level)
            except asyncio.CancelledError:
                self._give_up(level, req, timed_out=False)
                fm.rejected("cancelled")
                raise
            finally:
                fm.inqueue.dec()
        fm.wait_executed.observe(time.monotonic() - req.enqueued_at)
        fm.dispatched.inc()
        fm.executing.inc()
        fm.executing_seats.inc(width)
        fm.seats.observe(width)
        start = time.monotonic()
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            took = time.monotonic() - start
            level.finish(req, took)
            fm.executing.dec()
            fm.executing_seats.dec(width)
            fm.execution.observe(took)

        if digest.info.verb == "watch":
            request[RELEASE_KEY] = release
        try:
            # a write waiting only for the store's commit hands its seats back (:mod:`.seats`)
            with bind_commit_release(release if not final.seats and digest.info.verb in estimate.MUTATING else None):
                if level.name in URGENT_LEVELS:
                    with urgent(URGENT_LEVELS[level.name]):
                        return await handler(request)
                return await handler(request)
        finally:
            if final.seats and not released:  # the watch events it caused: seats kept a little longer
                asyncio.get_running_loop().call_later(final.latency, release)
            else:
                release()

    def _reject(self, level: PriorityLevel) -> web.Response:
        self.drops.record(level.name)
        return too_many_requests(self.drops.retry_after(level.name))

    @staticmethod
    def _give_up(level: PriorityLevel, req: Any, *, timed_out: bool) -> None:
        if req.state == EXECUTING:  # dispatched just as the wait ended: hand the seats straight back
            level.finish(req, 0.0)
            return
        level.remove_waiting(req, timed_out=timed_out)


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp ``on_response_prepare`` signal: the APF headers, and a WATCH's seats freed."""
    uids = request.get(UIDS_KEY)
    if uids is not None:
        response.headers[FLOW_SCHEMA_HEADER] = uids[0]
        response.headers[PRIORITY_LEVEL_HEADER] = uids[1]
    release = request.get(RELEASE_KEY)
    if release is not None:
        release()
