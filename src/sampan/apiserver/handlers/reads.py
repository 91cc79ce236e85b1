"""Read-path helpers shared by get, list, watch and deletecollection: resourceVersion semantics against
the watch cache, paged lists from the watch cache, and store-backed (paged, exact-revision) lists.

resourceVersion on reads, as upstream:
* ``""``  — most recent: a consistent read (the cache waits until it has seen the store's current
  revision; if it cannot within ``consistent_read_timeout``, the store is read directly);
* ``"0"`` — any: served from the cache at once;
* ``"N"`` — not older than N (the cache waits for N; 504 "Too large resource version" if it never
  arrives), or exactly N with ``resourceVersionMatch=Exact`` / legacy ``limit`` (read from the store).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sampan.api import errors
from sampan.apiserver import continuetoken
from sampan.apiserver.cacher.objects import CachedObject
from sampan.apiserver.cacher.watcher import Filter
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.listoptions import EXACT, ListOptions
from sampan.apiserver.storage_errors import to_api_error
from sampan.storage import Compacted, StorageError


def too_large_resource_version(requested: int, current: int) -> errors.Timeout:
    return errors.Timeout(
        f"Too large resource version: {requested}, current: {current}",
        details={"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                 "retryAfterSeconds": 1},
    )


async def wait_not_older_than(ctx: ServerContext, rv: int) -> None:
    """Return once the cache has reached ``rv``; 504 when it does not within the consistent-read timeout."""
    if not await ctx.watch_cache.wait_for(rv, ctx.config.consistent_read_timeout):
        raise too_large_resource_version(rv, ctx.watch_cache.revision)


async def cache_is_fresh(ctx: ServerContext) -> bool:
    """True when the cache has caught up with the store's current revision (a consistent read)."""
    return await ctx.watch_cache.wait_fresh(ctx.config.consistent_read_timeout)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[CachedObject]
    revision: int
    continue_token: str = ""
    remaining: int | None = None
    """``remainingItemCount``: set, as upstream, when a limit cut an unfiltered list and the count is known."""


def _storage_error(scope: Scope, err: StorageError) -> errors.APIError:
    return to_api_error(err, resource=scope.info.resource, group=scope.info.group, name="")


def _remaining(ctx: ServerContext, scope: Scope, flt: Filter, prefix: str, last_key: str,
               revision: int) -> int | None:
    """The keys after ``last_key`` at ``revision`` — upstream counts them in etcd and omits the count when
    selectors filter (it would be inaccurate). sampan counts them in the watch cache, so only when the
    cache is exactly at ``revision`` (no await between this check and the count)."""
    selective = (flt.labels is not None and not flt.labels.empty) or (flt.fields is not None and not flt.fields.empty)
    if selective or not ctx.watch_cache.ready.is_set() or ctx.watch_cache.revision != revision:
        return None
    return scope.cache.count_after(prefix, last_key)


def _continue_from(opts: ListOptions, prefix: str) -> continuetoken.ContinueToken | None:
    """The request's continue token (400 when malformed or combined with a resourceVersion)."""
    if not opts.continue_token:
        return None
    if opts.resource_version not in ("", "0"):
        raise errors.BadRequest("specifying resource version is not allowed when using continue")
    return continuetoken.decode(opts.continue_token, prefix=prefix)


async def page_from_cache(ctx: ServerContext, scope: Scope, flt: Filter, opts: ListOptions) -> Page | None:
    """:func:`_cache_page` in the scope's form (a view that calls out converts the page in one batch)."""
    compacted = 0
    if opts.continue_token:  # a continuation below the store's compacted revision is 410, as from the store
        compacted = await ctx.store.compacted_revision()
    page = _cache_page(ctx, scope, flt, opts, compacted=compacted)
    if page is None:
        return None
    await scope.prepare(page.items)
    return dataclasses.replace(page, items=[scope.shown(co) for co in page.items])


def _cache_page(ctx: ServerContext, scope: Scope, flt: Filter, opts: ListOptions, *, compacted: int) -> Page | None:
    """A paged list (``limit``, optionally ``continue``) in the storage form from the watch cache, or None
    when the cache cannot answer it exactly and the store must (see ``handlers/list.py``).

    A first page is read at the cache's current revision (the caller has made sure the cache is fresh
    enough), and so is a continuation whose token's revision *is* the cache's revision (nothing changed
    since the previous page). A continuation at an older revision is rebuilt from the window
    (:mod:`sampan.apiserver.cacher.snapshot`, like upstream 1.34's ``ListFromCacheSnapshot``) while the
    window reaches back to it and the store has not compacted it (``compacted``: the store's compacted
    revision, so an expired continuation is 410 wherever it is read); otherwise the store reads the token's
    revision. Synchronous: the state,
    the revision and the remaining count are one snapshot.
    """
    prefix = scope.list_prefix(flt.namespace)
    token = _continue_from(opts, prefix)
    revision = ctx.watch_cache.revision
    if not ctx.watch_cache.ready.is_set():
        return None
    if token is not None and token.revision != revision:
        if not compacted <= token.revision < revision:
            return None  # compacted (the store answers 410), newer than the cache (a store page's token) or -1
        at = scope.cache.page_at(flt, prefix=prefix, start_after=token.start_after, limit=opts.limit,
                                 revision=token.revision)
        if at is None:
            return None  # the window no longer reaches back: the store reads the token's revision
        items, last_key = at
        if last_key is None:
            return Page(items, token.revision)
        tok = continuetoken.encode(revision=token.revision, last_key=last_key, prefix=prefix)
        return Page(items, token.revision, tok)
    items, last_key = scope.cache.page(flt, prefix=prefix, start_after=token.start_after if token else None,
                                       limit=opts.limit)
    if last_key is None:
        return Page(items, revision)
    tok = continuetoken.encode(revision=revision, last_key=last_key, prefix=prefix)
    return Page(items, revision, tok, _remaining(ctx, scope, flt, prefix, last_key, revision))


async def list_from_store(ctx: ServerContext, scope: Scope, flt: Filter, opts: ListOptions) -> Page:
    """One page (``limit`` 0: everything) read from the store at one revision, filtered by ``flt``, in the
    scope's form (a view that calls out converts the page in one batch, without blocking the loop).

    With a continue token the page reads at the token's revision (410 with a fresh token when that
    revision was compacted). The returned token resumes after the last key examined.
    """
    page = await _stored_page(ctx, scope, flt, opts)
    await scope.prepare(page.items)
    return dataclasses.replace(page, items=[scope.shown(co) for co in page.items])


async def _stored_page(ctx: ServerContext, scope: Scope, flt: Filter, opts: ListOptions) -> Page:
    """:func:`list_from_store`'s page in the storage form."""
    prefix = scope.list_prefix(flt.namespace)
    start_after: str | None = None
    revision: int | None = None
    token = _continue_from(opts, prefix)
    if token is not None:
        start_after = token.start_after
        revision = None if token.revision == -1 else token.revision
    elif opts.resource_version not in ("", "0"):
        requested = int(opts.resource_version)
        current = await ctx.store.current_revision()
        if opts.resource_version_match == EXACT or (opts.limit and not opts.resource_version_match):
            if requested > current:
                raise too_large_resource_version(requested, current)
            revision = requested
        elif requested > current:
            await wait_not_older_than(ctx, requested)
    limit = opts.limit
    items: list[CachedObject] = []
    fv = scope.cache.field_values_of  # filters see the storage form
    try:
        while True:
            page = await ctx.store.list(prefix, revision=revision, limit=limit, start_after=start_after)
            if revision is None:
                revision = page.revision
            last_key = start_after
            for i, kv in enumerate(page.kvs):
                co = CachedObject.from_store(kv.key, kv.value, kv.mod_revision, fv)
                last_key = kv.key
                if flt.matches(co):
                    items.append(co)
                    if limit and len(items) >= limit:
                        more = page.more or i < len(page.kvs) - 1
                        if not more:
                            return Page(items, revision)
                        tok = continuetoken.encode(revision=revision, last_key=kv.key, prefix=prefix)
                        return Page(items, revision, tok, _remaining(ctx, scope, flt, prefix, kv.key, revision))
            if not page.more or not page.kvs:
                return Page(items, revision)
            start_after = last_key
    except Compacted as exc:
        if token is not None:
            fresh = continuetoken.encode(revision=-1, last_key=token.start_after, prefix=prefix)
            raise continuetoken.ExpiredContinue(fresh) from None
        raise errors.too_old_resource_version(exc.requested, exc.compacted) from None
    except StorageError as exc:
        raise _storage_error(scope, exc) from None
