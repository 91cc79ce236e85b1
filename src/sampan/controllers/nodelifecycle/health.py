"""Is a node's kubelet still alive? Observed by this controller's clock, as upstream.

For every node the tracker remembers the last Lease ``renewTime`` and Ready ``lastHeartbeatTime`` it saw
and the local (monotonic) time it first saw each new value: the *probe time*. Comparing our own
observation times avoids trusting the kubelet's clock. A node is *silent* when ``now - probe`` exceeds its
grace period: ``--node-monitor-grace-period`` once the kubelet has posted a Ready condition,
``--node-startup-grace-period`` before. A node seen for the first time gets a fresh probe time (a
restarted controller gives every node a full grace period).

States of one node's entry::

    (absent) --first seen--> tracked(probe=now) --lease renewed / heartbeat changed--> tracked(probe=now)
    tracked --node deleted--> (absent)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sampan.controllers.nodelifecycle.taints import condition

NODE_LEASE_NAMESPACE = "kube-node-lease"
UNKNOWN_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
"""The conditions the controller turns Unknown when the kubelet goes silent (upstream's list)."""


@dataclass
class _Seen:
    probe: float
    renew_time: str | None
    heartbeat: str | None


class HealthTracker:
    """Probe times per node name; one owner (the monitor loop), synchronous mutators."""

    def __init__(self, *, grace_period: float, startup_grace_period: float) -> None:
        self.grace_period = grace_period
        self.startup_grace_period = startup_grace_period
        self._seen: dict[str, _Seen] = {}

    def observe(self, node: Mapping[str, Any], lease: Mapping[str, Any] | None, now: float) -> None:
        """Record what the caches show for ``node`` and its Lease at monotonic time ``now``."""
        name = node["metadata"]["name"]
        renew = str((lease or {}).get("spec", {}).get("renewTime") or "") or None
        ready = condition(node, "Ready")
        heartbeat = str((ready or {}).get("lastHeartbeatTime") or "") or None
        seen = self._seen.get(name)
        if seen is None:
            self._seen[name] = _Seen(now, renew, heartbeat)
            return
        if renew != seen.renew_time and renew is not None:
            seen.renew_time = renew
            seen.probe = now
        if heartbeat != seen.heartbeat and heartbeat is not None:
            seen.heartbeat = heartbeat
            seen.probe = now

    def forget_missing(self, names: set[str]) -> None:
        for gone in set(self._seen) - names:
            del self._seen[gone]

    def silent(self, node: Mapping[str, Any], now: float) -> bool:
        """True when the node's kubelet has been silent longer than its grace period."""
        seen = self._seen.get(node["metadata"]["name"])
        if seen is None:
            return False
        grace = self.grace_period if condition(node, "Ready") is not None else self.startup_grace_period
        return now - seen.probe > grace

    def probe_age(self, name: str, now: float) -> float | None:
        seen = self._seen.get(name)
        return None if seen is None else now - seen.probe


def unknown_conditions(node: Mapping[str, Any], *, now: str) -> list[dict[str, Any]] | None:
    """The node's conditions with :data:`UNKNOWN_CONDITIONS` set to Unknown (``NodeStatusUnknown``, or
    ``NodeStatusNeverUpdated`` for one the kubelet never posted); None when nothing would change."""
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
    changed = False
    for ctype in UNKNOWN_CONDITIONS:
        cond = next((c for c in conditions if c.get("type") == ctype), None)
        if cond is None:
            conditions.append({"type": ctype, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.", "lastHeartbeatTime": now,
                               "lastTransitionTime": now})
            changed = True
        elif cond.get("status") != "Unknown":
            cond.update({"status": "Unknown", "reason": "NodeStatusUnknown",
                         "message": "Kubelet stopped posting node status.", "lastTransitionTime": now})
            changed = True
    return conditions if changed else None
