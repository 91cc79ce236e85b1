"""Pages of a resource as it was at an earlier revision, rebuilt from the cache's event window.

A paged LIST's continuation carries the revision of its first page. While writes go on (any write in the
store moves the revision: 5,000 nodes renew 500 Leases a second), the cache has moved past that revision
before the next page is asked for. Upstream 1.33 then reads the page from etcd; 1.34's
``ListFromCacheSnapshot`` keeps snapshots of the cache instead. sampan needs no snapshot: the window
holds every event of the resource after ``window_start``, each with the object it replaced, so the state
at any revision ``R >= window_start`` is the current state with the events after ``R`` undone. Only the
keys those events touched differ from the current state; every other key is read from the current,
sorted state as it is.

Invariant (what makes it exact): for each key touched after ``R``, the ``prev`` of its *earliest* event
after ``R`` is its object at ``R`` (None: the key did not exist at ``R``).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterator, Mapping, Reversible, Sequence

from sampan.apiserver.cacher.objects import CachedObject, WatchEvent
from sampan.apiserver.cacher.watcher import Filter


def changed_since(window: Reversible[WatchEvent], revision: int) -> dict[str, CachedObject | None]:
    """Each key an event after ``revision`` touched, with its object at ``revision`` (None: absent then).

    ``window`` is oldest first; only its tail after ``revision`` is walked (newest to oldest, so the
    earliest event of a key is the one whose ``prev`` stays)."""
    at: dict[str, CachedObject | None] = {}
    for ev in reversed(window):
        if ev.rv <= revision:
            break
        at[ev.cur.key] = ev.prev
    return at


def page_at(
    *,
    keys: Sequence[str],
    objects: Mapping[str, CachedObject],
    changed: Mapping[str, CachedObject | None],
    flt: Filter,
    lo_key: str,
    hi_key: str | None,
    start_after: str | None,
    limit: int,
) -> tuple[list[CachedObject], str | None]:
    """Up to ``limit`` objects matching ``flt`` with ``lo_key <= key < hi_key`` (None: no bound) and
    ``key > start_after``, in key order, as of the revision ``changed`` was taken at; and the key the next
    page starts after (None when no key of that state follows the page in the range).

    ``keys``/``objects`` are the current state (``keys`` sorted), ``changed`` is :func:`changed_since`."""
    lo = bisect.bisect_left(keys, lo_key)
    if start_after is not None:
        lo = max(lo, bisect.bisect_right(keys, start_after))
    hi = bisect.bisect_left(keys, hi_key) if hi_key is not None else len(keys)

    def unchanged() -> Iterator[tuple[str, CachedObject]]:
        for i in range(lo, hi):
            key = keys[i]
            if key not in changed:
                yield key, objects[key]

    def in_range(key: str) -> bool:
        return key >= lo_key and (hi_key is None or key < hi_key) and (start_after is None or key > start_after)

    old = sorted(((k, o) for k, o in changed.items() if o is not None and in_range(k)), key=lambda pair: pair[0])
    merged = heapq.merge(unchanged(), old, key=lambda pair: pair[0])
    out: list[CachedObject] = []
    for key, co in merged:
        if flt.matches(co):
            out.append(co)
            if len(out) >= limit:
                more = next(merged, None) is not None
                return out, (key if more else None)
    return out, None
