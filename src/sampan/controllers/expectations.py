"""Expectations: what a controller is still waiting to see in its cache after its own writes.

A controller that creates 5 pods must not create 5 more when the next reconcile runs before the
informer delivered the first 5. Before writing it records ``expect_creations(key, 5)``; the pod informer's
handler calls ``creation_observed(key)`` per pod it sees; ``reconcile`` acts only when
``satisfied(key)``. A create that failed is "observed" at once by the controller itself (it will never
arrive). Expectations older than ``ttl`` (5 minutes, as upstream) count as satisfied, so a lost event
cannot wedge a controller forever.

Per key the state is::

    (no record) --expect--> pending(add>0 or del>0) --observed...--> fulfilled(add<=0 and del<=0)
         ^                        |  older than ttl: treated as satisfied                |
         +-------- delete_expectations (owner gone) -------------------------------------+

:class:`UIDTrackingExpectations` adds the identities of the pods a controller is deleting, so a deletion is
counted once even if both a graceful-delete update and the final delete are observed (upstream's
UIDTrackingControllerExpectations, used by the ReplicaSet and Job controllers).

All methods are synchronous: the controller's event loop is the single owner.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sampan._lib.clock import Clock, RealClock

log = logging.getLogger(__name__)

EXPECTATIONS_TTL = 300.0
"""Seconds after which unfulfilled expectations are ignored (upstream's ExpectationsTimeout)."""


@dataclass(slots=True)
class Expectation:
    add: int
    delete: int
    timestamp: float

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """Counts of creations/deletions a controller still expects to observe, per controller key."""

    def __init__(self, *, ttl: float = EXPECTATIONS_TTL, clock: Clock | None = None) -> None:
        self._ttl = ttl
        self._clock = clock or RealClock()
        self._items: dict[str, Expectation] = {}

    def get(self, key: str) -> Expectation | None:
        return self._items.get(key)

    def satisfied(self, key: str) -> bool:
        """True when the controller may act on ``key``: no record, fulfilled, or expired."""
        exp = self._items.get(key)
        if exp is None:
            return True
        if exp.fulfilled():
            return True
        if self._clock.monotonic() - exp.timestamp > self._ttl:
            log.info("expectations expired key=%s add=%d del=%d", key, exp.add, exp.delete)
            return True
        return False

    def set(self, key: str, *, add: int = 0, delete: int = 0) -> None:
        """Replace ``key``'s expectations (and restart its ttl)."""
        self._items[key] = Expectation(add, delete, self._clock.monotonic())

    def expect_creations(self, key: str, count: int) -> None:
        self.set(key, add=count)

    def expect_deletions(self, key: str, count: int) -> None:
        self.set(key, delete=count)

    def raise_expectations(self, key: str, *, add: int = 0, delete: int = 0) -> None:
        exp = self._items.get(key)
        if exp is None:
            self.set(key, add=add, delete=delete)
        else:
            exp.add += add
            exp.delete += delete

    def lower_expectations(self, key: str, *, add: int = 0, delete: int = 0) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, add=1)

    def deletion_observed(self, key: str) -> None:
        self.lower_expectations(key, delete=1)

    def delete_expectations(self, key: str) -> None:
        """Forget ``key`` (its owner is gone)."""
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class UIDTrackingExpectations(ControllerExpectations):
    """Expectations that also remember *which* objects (by ``ns/name`` key) a controller is deleting.

    Invariant: for each controller key, ``len(self._deleting[key])`` equals the pending delete count only as
    long as every deletion is reported through :meth:`deletion_observed_for`.
    """

    def __init__(self, *, ttl: float = EXPECTATIONS_TTL, clock: Clock | None = None) -> None:
        super().__init__(ttl=ttl, clock=clock)
        self._deleting: dict[str, set[str]] = {}

    def expect_deletions_of(self, key: str, deleted_keys: Iterable[str]) -> None:
        keys = set(deleted_keys)
        self._deleting[key] = keys
        self.set(key, delete=len(keys))

    def deletion_observed_for(self, key: str, deleted_key: str) -> None:
        """``deleted_key`` went (or is going) away; counted once however often it is reported."""
        pending = self._deleting.get(key)
        if pending is not None and deleted_key in pending:
            pending.discard(deleted_key)
            self.lower_expectations(key, delete=1)

    def deleting(self, key: str) -> frozenset[str]:
        return frozenset(self._deleting.get(key, ()))

    def delete_expectations(self, key: str) -> None:
        super().delete_expectations(key)
        self._deleting.pop(key, None)
