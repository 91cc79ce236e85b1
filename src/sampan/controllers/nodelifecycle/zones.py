"""Zone disruption states and the per-zone NoExecute tainting rate (upstream's eviction limiter).

A zone is the node's ``topology.kubernetes.io/zone`` label (with region, as upstream), or ``""``.

* FullDisruption — no node in the zone is Ready and at least one is not;
* PartialDisruption — more than two nodes are not Ready and they are at least
  ``--unhealthy-zone-threshold`` of the zone;
* Normal otherwise.

NoExecute taints (which start evictions) are added at most ``--node-eviction-rate`` nodes per second per
zone; a partially disrupted zone uses ``--secondary-node-eviction-rate`` if it has more than
``--large-cluster-size-threshold`` nodes and stops otherwise; when *every* zone is fully disrupted the
controller assumes its own network is at fault and adds no NoExecute taint anywhere (and removes those it
added), as upstream.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sampan.controllers.nodelifecycle.taints import ready_status

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


class ZoneState(enum.StrEnum):
    NORMAL = "Normal"
    PARTIAL = "PartialDisruption"
    FULL = "FullDisruption"


def zone_of(node: Mapping[str, Any]) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    region, zone = labels.get(REGION_LABEL, ""), labels.get(ZONE_LABEL, "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def zone_states(nodes: Iterable[Mapping[str, Any]], *, unhealthy_threshold: float) -> dict[str, ZoneState]:
    ready: dict[str, int] = {}
    not_ready: dict[str, int] = {}
    for node in nodes:
        zone = zone_of(node)
        ready.setdefault(zone, 0)
        not_ready.setdefault(zone, 0)
        if ready_status(node) == "True":
            ready[zone] += 1
        else:
            not_ready[zone] += 1
    states: dict[str, ZoneState] = {}
    for zone, ok in ready.items():
        bad = not_ready[zone]
        if ok == 0 and bad > 0:
            states[zone] = ZoneState.FULL
        elif bad > 2 and bad / (ok + bad) >= unhealthy_threshold:
            states[zone] = ZoneState.PARTIAL
        else:
            states[zone] = ZoneState.NORMAL
    return states


@dataclass
class TokenBucket:
    """``rate`` tokens per second, burst 1; ``rate`` 0 never grants. One owner, synchronous."""

    rate: float
    next_free: float = 0.0

    def take(self, now: float) -> float:
        """0 when a token was taken; otherwise the seconds until one is free (inf when rate is 0)."""
        if self.rate <= 0:
            return float("inf")
        if now >= self.next_free:
            self.next_free = now + 1.0 / self.rate
            return 0.0
        return self.next_free - now


class ZoneLimiters:
    """One :class:`TokenBucket` per zone, re-rated when the zone's state changes."""

    def __init__(self, *, rate: float, secondary_rate: float, large_cluster_threshold: int) -> None:
        self._rate = rate
        self._secondary = secondary_rate
        self._large = large_cluster_threshold
        self._buckets: dict[str, TokenBucket] = {}

    def set_state(self, zone: str, state: ZoneState, size: int) -> None:
        if state == ZoneState.NORMAL:
            rate = self._rate
        elif state == ZoneState.PARTIAL:
            rate = self._secondary if size > self._large else 0.0
        else:
            rate = self._rate  # a fully disrupted zone keeps evicting unless every zone is down
        bucket = self._buckets.get(zone)
        if bucket is None:
            self._buckets[zone] = TokenBucket(rate)
        elif bucket.rate != rate:
            bucket.rate = rate

    def take(self, zone: str, now: float) -> float:
        bucket = self._buckets.setdefault(zone, TokenBucket(self._rate))
        return bucket.take(now)
