"""The change tracker: what the informers told the proxier, folded into the proxier's current state.

Upstream keeps a ServiceChangeTracker and an EndpointsChangeTracker and merges them into its maps at each
sync; here one :class:`ChangeTracker` holds the current service ports and endpoints (merged over every
EndpointSlice of a Service) and the set of Services whose programmed rules may be stale.

Invariants: ``services[k]`` is the parsed form of the last Service object seen for ``k`` (absent once
deleted or ignored); ``endpoints[pn]`` is the union, deduplicated by address and port, of the endpoints of
every live slice of ``pn``'s Service, sorted; a key is in ``pending`` iff its Service's ports or endpoints
changed since the last :meth:`take_pending`. Mutators are synchronous and called from one task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sampan.proxy.model import (
    TRIGGER_TIME_ANNOTATION,
    Endpoint,
    ServiceKey,
    ServicePort,
    ServicePortName,
    service_key,
    service_ports,
    slice_endpoints,
    slice_service,
)

log = logging.getLogger(__name__)

SliceEndpoints = dict[ServicePortName, tuple[Endpoint, ...]]


def _trigger_time(obj: dict[str, Any]) -> float | None:
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(TRIGGER_TIME_ANNOTATION)
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class ChangeTracker:
    def __init__(self) -> None:
        self.services: dict[ServiceKey, dict[ServicePortName, ServicePort]] = {}
        self.endpoints: dict[ServicePortName, tuple[Endpoint, ...]] = {}
        self._slices: dict[ServiceKey, dict[str, SliceEndpoints]] = {}
        self._ports_by_service: dict[ServiceKey, set[ServicePortName]] = {}
        self.pending: set[ServiceKey] = set()
        self.trigger_times: list[float] = []
        """EndpointSlice change-trigger times (wall clock) not yet programmed: network programming latency."""

    # -- services -------------------------------------------------------------------------------------
    def service_updated(self, obj: dict[str, Any]) -> bool:
        """Record the current state of a Service; True if what kube-proxy programs changed."""
        key = service_key(obj)
        ports = service_ports(obj)
        if self.services.get(key, {}) == ports:
            return False
        if ports:
            self.services[key] = ports
        else:
            self.services.pop(key, None)
        self.pending.add(key)
        return True

    def service_deleted(self, obj: dict[str, Any]) -> bool:
        key = service_key(obj)
        if key not in self.services:
            return False
        del self.services[key]
        self.pending.add(key)
        return True

    # -- endpoint slices ------------------------------------------------------------------------------
    def slice_updated(self, obj: dict[str, Any], *, deleted: bool = False) -> bool:
        """Record an EndpointSlice's current state (or its deletion); True if its Service's endpoints
        changed."""
        svc = slice_service(obj)
        if svc is None:
            return False
        name = str((obj.get("metadata") or {}).get("name") or "")
        slices = self._slices.setdefault(svc, {})
        if deleted:
            if slices.pop(name, None) is None:
                return False
        else:
            eps = slice_endpoints(obj)
            if slices.get(name) == eps:
                return False
            slices[name] = eps
        if not slices:
            del self._slices[svc]
        changed = self._merge(svc)
        if changed:
            self.pending.add(svc)
            t = _trigger_time(obj)
            if t is not None:
                self.trigger_times.append(t)
        return changed

    def _merge(self, svc: ServiceKey) -> bool:
        merged: dict[ServicePortName, dict[tuple[str, int], Endpoint]] = {}
        for _, eps_by_port in sorted(self._slices.get(svc, {}).items()):
            for pn, eps in eps_by_port.items():
                bucket = merged.setdefault(pn, {})
                for ep in eps:
                    bucket.setdefault((ep.ip, ep.port), ep)
        new = {pn: tuple(sorted(b.values())) for pn, b in merged.items()}
        old_names = self._ports_by_service.get(svc, set())
        old = {pn: self.endpoints[pn] for pn in old_names if pn in self.endpoints}
        if old == new:
            return False
        for pn in old_names - new.keys():
            self.endpoints.pop(pn, None)
        self.endpoints.update(new)
        if new:
            self._ports_by_service[svc] = set(new)
        else:
            self._ports_by_service.pop(svc, None)
        return True

    # -- sync -------------------------------------------------------------------------------------------
    def take_pending(self) -> tuple[set[ServiceKey], list[float]]:
        """The Services changed since the last call, and the trigger times to report; both reset."""
        pending, self.pending = self.pending, set()
        times, self.trigger_times = self.trigger_times, []
        return pending, times

    def service_endpoints(self, ports: Iterable[ServicePortName]) -> dict[ServicePortName, tuple[Endpoint, ...]]:
        return {pn: self.endpoints.get(pn, ()) for pn in ports}

    def endpoint_count(self) -> int:
        return sum(len(v) for v in self.endpoints.values())
