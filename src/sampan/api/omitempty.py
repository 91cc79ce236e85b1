"""Go's ``omitempty`` on plain integer status fields.

Upstream's typed objects drop a non-pointer ``int32``/``int64`` field tagged ``omitempty`` when it is 0, so
a Deployment with no ready pods has no ``status.readyReplicas`` at all (the Python client reads ``None``,
kubectl reads Go's zero). Controllers that write such counters pass them through :func:`drop_zero` so the
stored object has the shape upstream's would. Pointer fields (Job ``ready``/``terminating``) and fields
without ``omitempty`` (ReplicaSet ``replicas``, DaemonSet ``numberReady``) are never listed: they stay
even when 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DEPLOYMENT_STATUS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                     "unavailableReplicas", "observedGeneration")
REPLICA_SET_STATUS = ("fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration")
DAEMON_SET_STATUS = ("updatedNumberScheduled", "numberAvailable", "numberUnavailable", "observedGeneration")
JOB_STATUS = ("active", "succeeded", "failed")


def drop_zero(fields: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A copy of ``fields`` without those of ``names`` whose value is 0 (other keys are kept as they are)."""
    omitted = {name for name in names if fields.get(name) == 0}
    return {k: v for k, v in fields.items() if k not in omitted}
