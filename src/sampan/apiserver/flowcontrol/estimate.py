"""Request width in seats (upstream's work estimator).

* LIST: one seat per 100 objects the server will go through: the resource's object count in the watch
  cache (for a LIST whose ``limit`` is smaller and that filters nothing, twice the limit as upstream's
  estimate for a paged read from storage; sampan reads from the cache, which still walks the namespace
  or collection), at least 1 and at most the level's ``max_seats``;
* WATCH: like a LIST while it sends its initial state (no ``resourceVersion``, ``0``, or
  ``sendInitialEvents=true``), else 1 seat; seats are held only until the watch is initialized;
* a mutating request (create, update, patch, delete, deletecollection) on a resource with at least
  10 watchers: 1 seat while it executes plus the cost of notifying them afterwards, ``ceil(watchers / 10)``
  *final* seats for 5 ms (capped at the level's ``max_seats``, the latency stretched to keep the same
  seat-seconds), as upstream's mutating work estimator; creates of ``events`` are exempt;
* everything else: 1 seat.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

from sampan.apiserver.metrics import RequestInfo

OBJECTS_PER_SEAT = 100
WATCHES_PER_SEAT = 10
EVENT_ADDITIONAL_DURATION = 0.005
MUTATING = frozenset({"create", "update", "patch", "delete", "deletecollection"})

CountOf = Callable[[str, str, str], int]
"""(group, version, resource) -> objects currently stored (0 when unknown)."""


def width(info: RequestInfo, query: Mapping[str, str], *, count_of: CountOf, max_seats: int) -> int:
    if not info.is_resource or info.verb not in ("list", "watch") or info.name:
        return 1
    if info.verb == "watch":
        rv = query.get("resourceVersion", "")
        if rv not in ("", "0") and query.get("sendInitialEvents") != "true":
            return 1
    stored = count_of(info.group, info.version, info.resource)
    estimated = stored
    limit_text = query.get("limit", "")
    if info.verb == "list" and limit_text.isdigit():
        limit = int(limit_text)
        if 0 < limit < stored and not query.get("labelSelector") and not query.get("fieldSelector"):
            estimated = 2 * limit
    seats = math.ceil(estimated / OBJECTS_PER_SEAT)
    return max(1, min(max_seats, seats))


class FinalWork(NamedTuple):
    seats: int
    latency: float
    """Seconds the final seats stay taken after the request's handler returns."""


NO_FINAL_WORK = FinalWork(0, 0.0)


def final_work(info: RequestInfo, *, watchers_of: CountOf, max_seats: int) -> FinalWork:
    """The seats a mutating request keeps after it returns, for the watch events it caused."""
    if not info.is_resource or info.verb not in MUTATING or (info.verb == "create" and info.resource == "events"):
        return NO_FINAL_WORK
    watchers = watchers_of(info.group, info.version, info.resource)
    if watchers < WATCHES_PER_SEAT:
        return NO_FINAL_WORK
    seats = math.ceil(watchers / WATCHES_PER_SEAT)
    if seats > max_seats:
        return FinalWork(max_seats, seats * EVENT_ADDITIONAL_DURATION / max_seats)
    return FinalWork(seats, EVENT_ADDITIONAL_DURATION)
