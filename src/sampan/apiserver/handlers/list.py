"""LIST a collection: from the watch cache (rv "0", consistent "", not-older-than N, each also paged with
``limit`` except rv "0"; continuations while the cache's window reaches back to their revision) or from
the store (legacy exact: ``limit`` with a rv other than "" and "0" and no ``resourceVersionMatch``;
``resourceVersionMatch=Exact``; older continuations), as upstream's cacher decides.
Label and field selectors apply either way. Large lists are written in slices
(:mod:`sampan.apiserver.liststream`) so they neither hold the event loop nor escape flow control."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from sampan.api.selectors import FieldRequirement, FieldSelector
from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.cacher.watcher import Filter
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.reads import (
    Page,
    cache_is_fresh,
    list_from_store,
    page_from_cache,
    wait_not_older_than,
)
from sampan.apiserver.listoptions import EXACT, ListOptions, parse_list_options
from sampan.apiserver.liststream import send_list
from sampan.apiserver.responses import representation
from sampan.apiserver.routes import Target


def filter_for(t: Target, opts: ListOptions) -> Filter:
    """The objects a request selects: its namespace, selectors and, for the legacy single-object watch
    path (``/watch/…/<name>``), that name; field names translated to the storage form's (``Scope.view``)."""
    namespace = t.namespace if t.scope.info.namespaced and t.namespace else None
    fields = opts.field_selector
    if t.name is not None:
        fields = FieldSelector([*fields.requirements, FieldRequirement("metadata.name", "=", t.name)])
    return t.scope.storage_filter(Filter(namespace, opts.label_selector, fields))


def from_store(opts: ListOptions) -> bool:
    """Upstream's ``shouldDelegateList``: which lists the cache cannot answer. As upstream with
    consistent lists from the cache (1.31+), a paged consistent list (``limit``, resourceVersion "") is
    not one of them; a continuation may be answered by the cache too (:func:`page_from_cache`)."""
    rv = opts.resource_version
    return bool(
        opts.continue_token
        or (opts.limit > 0 and rv not in ("0", "") and not opts.resource_version_match)  # legacy exact
        or opts.resource_version_match == EXACT
    )


async def handle(request: web.Request, ctx: ServerContext, t: Target) -> web.StreamResponse:
    scope = t.scope
    opts = parse_list_options(request.query, selectable_fields=scope.selectable_fields())
    representation(request).require_compatible(is_list=True)
    flt = filter_for(t, opts)
    now = ctx.clock.wall()
    use_store = from_store(opts)
    if not use_store:
        rv = opts.resource_version
        if rv == "":
            use_store = not await cache_is_fresh(ctx)
        elif rv != "0":
            await wait_not_older_than(ctx, int(rv))
    page: Page | None = None
    if opts.limit > 0 and (opts.continue_token or (opts.resource_version != "0" and not use_store)):
        # a consistent or not-older-than first page; rv "0" ignores the limit (below), as upstream's cache
        page = await page_from_cache(ctx, scope, flt, opts)
    if page is None and use_store:
        page = await list_from_store(ctx, scope, flt, opts)
    if page is not None:
        return await send_list(request, scope, page.items, resource_version=page.revision,
                               continue_token=page.continue_token, remaining=page.remaining, now=now)
    # no await between reading the cache's state and its revision: one consistent snapshot (converted
    # afterwards, in one batch, when the view calls out)
    revision = ctx.watch_cache.revision
    items: Sequence[CachedObject]
    if flt.everything and flt.namespace is None and scope.view is None:
        items = scope.cache.all_objects()
    else:
        stored = scope.cache.sorted_objects(flt)
        await scope.prepare(stored)
        items = [scope.shown(o) for o in stored]
    return await send_list(request, scope, items, resource_version=revision, now=now)
