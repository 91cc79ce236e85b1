"""WATCH a collection from the watch cache: chunked newline-delimited JSON events, or length-prefixed
protobuf ``WatchEvent`` frames when the client's Accept prefers ``application/vnd.kubernetes.protobuf``
(client-go's protobuf clients, ``kubectl debug``'s informer).

Where the stream starts, as upstream:
* ``sendInitialEvents=true`` (with ``resourceVersionMatch=NotOlderThan``): ADDED for every matching
  object in a state at least as new as the requested version, then (with ``allowWatchBookmarks``) a
  BOOKMARK annotated ``k8s.io/initial-events-end``, then changes;
* no resourceVersion, or "0" (legacy): ADDED for the current state (consistent for "", cache for "0"),
  then changes;
* resourceVersion N: every change after N (from the cache's event window); an N older than the window
  gives one ERROR event with a 410 Expired Status, then the stream ends.

The stream ends after ``timeoutSeconds`` (default: a random time in [min-request-timeout, 2x]), when the
watcher falls behind (its queue overflowed), or when the client goes away. JSON watchers write the
event bytes the cache encoded once, protobuf watchers the frame each event memoizes (same sharing);
Table/metadata watchers render per event. An object that cannot be encoded as protobuf (it does not fit
its schema) ends a protobuf stream with an ERROR event (500 Status): the client re-lists, getting JSON.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiohttp import web

from sampan.api import errors, protobuf
from sampan.apiserver import protobuf_bodies, tables
from sampan.apiserver.cacher.objects import ADDED, ERROR, CachedObject, WatchEvent, encode_event
from sampan.apiserver.cacher.views import View, view_of
from sampan.apiserver.cacher.watcher import Bookmark, CacheWatcher, Item, Sink
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.list import filter_for
from sampan.apiserver.handlers.reads import cache_is_fresh, wait_not_older_than
from sampan.apiserver.listoptions import parse_list_options
from sampan.apiserver.responses import representation
from sampan.apiserver.routes import Target

log = logging.getLogger(__name__)


def _timeout(ctx: ServerContext, requested: int | None) -> float:
    if requested is not None and requested > 0:
        return float(requested)
    base = ctx.config.min_request_timeout
    return base * (1.0 + random.random())


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    opts = parse_list_options(request.query, selectable_fields=scope.selectable_fields())
    rep = representation(request)
    pb = rep.is_protobuf
    include = tables.parse_include_object(request.query.get("includeObject"))
    renderer = tables.WatchRenderer(rep, scope.strategy, include_object=include)
    flt = filter_for(t, opts)
    cache = scope.cache
    wc = ctx.watch_cache
    rv = opts.resource_version
    error_line: bytes | None = None
    watcher: CacheWatcher | None = None

    initial_state = opts.send_initial_events is True or (opts.send_initial_events is None and rv in ("", "0"))
    if rv == "" and initial_state:
        await cache_is_fresh(ctx)  # best effort: serve the newest state the cache has
    elif rv not in ("", "0"):
        await wait_not_older_than(ctx, int(rv))
    # From here to add_watcher there is no await: the snapshot and the registration see the same state.
    if initial_state:
        initial: list[Item] = [(_added(o), ADDED) for o in cache.sorted_objects(flt)]
        if opts.send_initial_events and opts.allow_watch_bookmarks:
            initial.append(cache.bookmark(wc.revision, initial_events_end=True, view=scope.view))
        watcher = cache.add_watcher(flt, bookmarks=opts.allow_watch_bookmarks, initial=initial, view=scope.view)
    elif rv in ("", "0"):
        watcher = cache.add_watcher(flt, bookmarks=opts.allow_watch_bookmarks, initial=(), view=scope.view)
    else:
        try:
            replay = cache.events_since(int(rv), flt)
        except errors.Expired as exc:
            status = exc.to_status()
            error_line = protobuf_bodies.error_frame(status) if pb else encode_event(ERROR, status)
        else:
            watcher = cache.add_watcher(flt, bookmarks=opts.allow_watch_bookmarks, initial=replay,
                                        view=scope.view)

    content_type = protobuf_bodies.WATCH_CONTENT_TYPE if pb else rep.content_type
    response = web.StreamResponse(status=200, headers={"Content-Type": content_type,
                                                       "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    counter = None
    metrics = ctx.metrics
    if metrics is not None:
        counter = metrics.watch_events(group=scope.info.group, version=scope.info.version, kind=scope.info.kind)
    try:
        await response.prepare(request)
        if error_line is not None:
            await response.write(error_line)
            return response
        assert watcher is not None
        await _pump(ctx, watcher, response, renderer, counter, timeout=_timeout(ctx, opts.timeout_seconds),
                    transport=_transport(request), use_protobuf=pb)
    except (ConnectionResetError, ConnectionError, asyncio.CancelledError) as exc:
        log.debug("watch client went away resource=%s reason=%r", scope.info.resource, exc)
        if isinstance(exc, asyncio.CancelledError):
            raise
    finally:
        if watcher is not None:
            cache.remove_watcher(watcher)
    try:
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    return response


def _transport(request: web.Request) -> asyncio.Transport | None:
    transport = request.transport
    return transport if isinstance(transport, asyncio.Transport) else None


def _added(o: CachedObject) -> WatchEvent:
    """An initial-state ADDED delivery: a synthetic event whose current object is ``o``."""
    return WatchEvent(ADDED, o, None, o.rv)


async def _pump(
    ctx: ServerContext,
    watcher: CacheWatcher,
    response: web.StreamResponse,
    renderer: tables.WatchRenderer,
    counter: Any,
    *,
    timeout: float,
    transport: asyncio.Transport | None,
    use_protobuf: bool = False,
) -> None:
    timer = asyncio.get_running_loop().call_later(timeout, watcher.expire)
    passthrough = renderer.passthrough
    view = watcher.view
    shared = _frame if use_protobuf else _line
    if passthrough and transport is not None:
        watcher.sink = _direct_sink(transport, counter, shared, view)
    if transport is not None:
        watcher.on_close = _abort_if_stuck(watcher, transport)
    try:
        while True:
            batch = watcher.take()
            if batch:
                failure_line = await _convert_ahead(batch, view, use_protobuf=use_protobuf)
                if failure_line is not None:  # a conversion webhook failed: end the watch with its Status
                    watcher.expire()
                    await response.write(failure_line)
                    return
                if use_protobuf:
                    chunks, failure = _frames(batch, view)
                    if failure is not None:
                        log.warning("ending a protobuf watch: %s", failure)
                        watcher.expire()  # nothing after the ERROR event
                        chunks.append(protobuf_bodies.error_frame(errors.InternalError(str(failure)).to_status()))
                else:
                    chunks = [_encode(item, renderer, passthrough, ctx, view) for item in batch]
                if counter is not None:
                    for c in chunks:
                        counter.sent(len(c))
                watcher.busy = True
                try:
                    await response.write(b"".join(chunks))
                finally:
                    watcher.busy = False
                continue
            if watcher.closed:
                return
            await watcher.wait()
    finally:
        watcher.sink = None
        watcher.on_close = None
        timer.cancel()


async def _convert_ahead(batch: Sequence[Item], view: View | None, *, use_protobuf: bool) -> bytes | None:
    """Convert the batch's objects for a view that calls out (one webhook round trip for the batch, shared
    with every other watcher of the same events); the ERROR event to end the watch with when that fails."""
    if view is None or view.remote is None:
        return None
    try:
        await view.prepare(item[0].object_for(item[1]) for item in batch if not isinstance(item, Bookmark))
    except errors.APIError as err:
        log.warning("ending a watch: %s", err.message)
        if use_protobuf:
            return protobuf_bodies.error_frame(err.to_status())
        return encode_event(ERROR, err.to_status())
    return None


def _abort_if_stuck(watcher: CacheWatcher, transport: asyncio.Transport) -> Callable[[], None]:
    """When the watcher closes (fell behind, or its time is up) while a write is blocked on a client
    that does not read, drop the connection: nothing else would ever end that write."""

    def on_close() -> None:
        if watcher.busy and not transport.is_closing():
            log.info("aborting a watch connection whose client stopped reading")
            transport.abort()

    return on_close


def _line(item: Item, view: View | None = None) -> bytes:
    """The shared JSON line of a passthrough item."""
    return item.line if isinstance(item, Bookmark) else item[0].line(item[1], view)


def _frame(item: Item, view: View | None = None) -> bytes:
    """The shared protobuf frame of an item (a bookmark's is built per watcher: they are rare). Raises
    ``ProtobufError`` for an object that does not fit its schema."""
    if isinstance(item, Bookmark):
        return protobuf_bodies.watch_frame("BOOKMARK", protobuf.encode(orjson.loads(item.line)["object"]))
    return item[0].frame(item[1], view)


def _frames(batch: Sequence[Item], view: View | None) -> tuple[list[bytes], protobuf.ProtobufError | None]:
    """The frames of ``batch`` up to the first item that cannot be encoded (and that item's error)."""
    out: list[bytes] = []
    for item in batch:
        try:
            out.append(_frame(item, view))
        except protobuf.ProtobufError as exc:
            return out, exc
    return out, None


def _direct_sink(transport: asyncio.Transport, counter: Any, shared: Callable[[Item, View | None], bytes],
                 view: View | None) -> Sink:
    """Write pending events as one HTTP chunk straight to an idle connection (nothing buffered), skipping
    the writer task; a connection with buffered bytes gets them through the writer (and back-pressure),
    and so do items that fail to encode (the writer ends the stream with an ERROR event)."""
    json = shared is _line
    remote = view if view is not None and view.remote is not None else None

    def sink(items: Sequence[Item]) -> bool:
        if transport.is_closing() or transport.get_write_buffer_size():
            return False
        if remote is not None and not all(isinstance(i, Bookmark) or remote.shown_already(i[0].object_for(i[1]))
                                          for i in items):
            return False  # the writer converts them first (awaiting the conversion webhook)
        if json:  # the hot path: no extra call per event
            lines = [item.line if isinstance(item, Bookmark) else item[0].line(item[1], view) for item in items]
        else:
            try:
                lines = [shared(item, view) for item in items]
            except protobuf.ProtobufError:
                return False
        data = b"".join(lines) if len(lines) > 1 else lines[0]
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        if counter is not None:
            for line in lines:
                counter.sent(len(line))
        return True

    return sink


def _encode(item: Item, renderer: tables.WatchRenderer, passthrough: bool, ctx: ServerContext,
            view: View | None) -> bytes:
    if isinstance(item, Bookmark):
        if passthrough:
            return item.line
        obj = orjson.loads(item.line)["object"]
        return orjson.dumps(renderer.render_event("BOOKMARK", obj, now=ctx.clock.wall())) + b"\n"
    event, variant = item
    if passthrough:
        return event.line(variant, view)
    wire_type = "DELETED" if variant == "DELETED_PREV" else variant
    obj = view_of(event.object_for(variant), view).obj
    return orjson.dumps(renderer.render_event(wire_type, obj, now=ctx.clock.wall())) + b"\n"
