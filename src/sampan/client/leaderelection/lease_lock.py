"""The lock leader election contends for: a coordination.k8s.io/v1 Lease, updated by compare-and-swap.

:class:`LeaderElectionRecord` is the lock's content (who holds it, for how long, since when).
:class:`LeaseLock` reads it (``get``), creates it, and updates it with the resourceVersion it last read,
so two candidates racing for an expired lease cannot both win: the second update gets a 409 Conflict.
"""

from __future__ import annotations

import datetime
import math
import time
from dataclasses import dataclass
from typing import Any

from sampan.client.dynamic import ResourceClient

_MAX_FAST_SECONDS = 253402300800
"""9999-12-31T23:59:59 is the last second :func:`format_micro_time` formats itself (as ``datetime``'s years end)."""
_last_second: tuple[int, str] = (-1, "")
"""The last whole second formatted and its text: renewals come many per second (500/s at 5,000 hollow nodes),
so the calendar part is worked out once a second. A tuple, replaced whole: safe across threads."""


def format_micro_time(ts: float) -> str:
    """RFC 3339 with microseconds, UTC (metav1.MicroTime): the text of
    ``datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")``, microseconds rounded half to even
    as ``datetime`` rounds them, at a fifth of its cost (it was ~3% of a hollow node's Lease renewal, issue 21).
    Times before 1970 or after 9999 go through ``datetime`` itself."""
    global _last_second
    frac, whole = math.modf(ts)
    micros = round(frac * 1e6)
    second = int(whole)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:
        second, micros = second - 1, micros + 1_000_000
    if not 0 <= second < _MAX_FAST_SECONDS:
        return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cached = _last_second
    if cached[0] == second:
        prefix = cached[1]
    else:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, prefix)
    return f"{prefix}.{micros:06d}Z"


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class LeaderElectionRecord:
    holder_identity: str
    lease_duration_seconds: int
    acquire_time: float | None
    renew_time: float | None
    leader_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> LeaderElectionRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            leader_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.leader_transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        return spec


class LeaseLock:
    """A Lease ``namespace/name`` used as a lock by ``identity``."""

    def __init__(self, leases: ResourceClient, *, namespace: str, name: str, identity: str) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self._leases = leases
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._last: dict[str, Any] | None = None

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def get(self) -> tuple[LeaderElectionRecord, str]:
        """The record and the lease's resourceVersion (the raw identity of what was read).
        Raises NotFound when the lease does not exist."""
        lease = await self._leases.get(self.name, namespace=self.namespace)
        self._last = lease
        return LeaderElectionRecord.from_lease(lease), str(lease["metadata"].get("resourceVersion") or "")

    async def create(self, record: LeaderElectionRecord) -> None:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": record.to_spec()}
        self._last = await self._leases.create(body, namespace=self.namespace)

    async def update(self, record: LeaderElectionRecord) -> None:
        """Replace the record, failing with Conflict if the lease changed since the last ``get``."""
        if self._last is None:
            raise RuntimeError("LeaseLock.update before get or create")
        body = {**self._last, "spec": record.to_spec()}
        self._last = await self._leases.update(body, namespace=self.namespace)
