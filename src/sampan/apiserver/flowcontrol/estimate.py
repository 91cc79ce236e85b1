"""Request width in seats (upstream's work estimator).

* LIST: one seat per 100 objects the server will go through: the resource's object count in the watch
  cache (for a LIST whose ``limit`` is smaller and that filters nothing, twice the limit as upstream's
  estimate for a paged read from storage; sampan reads from the cache, which still walks the namespace
  or collection), at least 1 and at most the level's ``max_seats``;
* WATCH: like a LIST while it sends its initial state (no ``resourceVersion``, ``0``, or
  ``sendInitialEvents=true``), else 1 seat; seats are held only until the watch is initialized;
* everything else: 1 seat.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from sampan.apiserver.metrics import RequestInfo

OBJECTS_PER_SEAT = 100

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
