"""Which endpoints a service port uses on this node (upstream's ``CategorizeEndpoints``).

- Cluster policy: the ready endpoints anywhere; when none is ready, the serving-and-terminating ones
  (so a rolling update never leaves a gap while the old pods still serve).
- Local policy: this node's ready endpoints; when none, this node's serving-and-terminating ones.
- ``has_any``: some usable endpoint exists on some node (decides REJECT versus DROP for Local policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sampan.proxy.model import Endpoint, ServicePort


@dataclass(frozen=True, slots=True)
class Categorized:
    cluster: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]
    reachable: tuple[Endpoint, ...]
    """Every endpoint some rule of this node can send to (cluster, then local ones not in it)."""
    has_any: bool


def categorize(endpoints: Sequence[Endpoint], svc: ServicePort, node: str) -> Categorized:
    cluster: tuple[Endpoint, ...] = ()
    local: tuple[Endpoint, ...] = ()
    has_any = False
    if svc.uses_cluster_endpoints:
        cluster = tuple(e for e in endpoints if e.ready)
        if not cluster:
            cluster = tuple(e for e in endpoints if e.serving and e.terminating)
        has_any = bool(cluster)
    if svc.uses_local_endpoints:
        has_any = has_any or any(e.ready or (e.serving and e.terminating) for e in endpoints)
        local = tuple(e for e in endpoints if e.is_local(node) and e.ready)
        if not local:
            local = tuple(e for e in endpoints if e.is_local(node) and e.serving and e.terminating)
    if not svc.uses_local_endpoints:
        reachable = cluster
    elif not svc.uses_cluster_endpoints:
        reachable = local
    else:
        reachable = cluster + tuple(e for e in local if e not in cluster)
    return Categorized(cluster=cluster, local=local, reachable=reachable, has_any=has_any)
