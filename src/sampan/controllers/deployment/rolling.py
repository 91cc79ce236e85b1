"""The RollingUpdate strategy (upstream's ``rolling.go``): grow the new ReplicaSet within maxSurge, shrink
old ones while keeping at least ``replicas - maxUnavailable`` pods available; unhealthy old pods go first.

Invariants at every write: total ``spec.replicas`` <= replicas + maxSurge, and no scale-down takes the
available count below replicas - maxUnavailable (given the caches this reconcile read).
"""

from __future__ import annotations

from sampan.controllers.deployment.progress import is_complete
from sampan.controllers.deployment.revisions import created, replicas, status_int
from sampan.controllers.deployment.scaling import desired, fenceposts, new_rs_replicas
from sampan.controllers.deployment.sync import Rollout


async def rollout_rolling(r: Rollout) -> float | None:
    new = await r.ensure_new(create=True)
    assert new is not None
    if await _reconcile_new(r):
        return await r.sync_status()
    if await _reconcile_old(r):
        return await r.sync_status()
    requeue = await r.sync_status()
    if is_complete(r.d, r.d.get("status") or {}):
        await r.cleanup()
    return requeue


async def _reconcile_new(r: Rollout) -> bool:
    new = r.new_rs
    assert new is not None
    n = desired(r.d)
    if replicas(new) == n:
        return False
    if replicas(new) > n:
        return await r.scale_rs(new, n)
    return await r.scale_rs(new, new_rs_replicas(r.d, r.all_rss, new))


async def _reconcile_old(r: Rollout) -> bool:
    new = r.new_rs
    assert new is not None
    if sum(replicas(rs) for rs in r.old_rss) == 0:
        return False
    all_pods = sum(replicas(rs) for rs in r.all_rss)
    _, max_unavailable = fenceposts(r.d)
    min_available = desired(r.d) - max_unavailable
    new_unavailable = replicas(new) - status_int(new, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    cleaned = await _cleanup_unhealthy(r, max_scaled_down)
    scaled = await _scale_down_old(r, min_available)
    return cleaned + scaled > 0


async def _cleanup_unhealthy(r: Rollout, max_cleanup: int) -> int:
    """Scale old ReplicaSets down by their unavailable pods (oldest first), at most ``max_cleanup``."""
    total = 0
    for rs in sorted(r.old_rss, key=created):
        if total >= max_cleanup:
            break
        unhealthy = replicas(rs) - status_int(rs, "availableReplicas")
        if replicas(rs) == 0 or unhealthy <= 0:
            continue
        cut = min(max_cleanup - total, unhealthy)
        await r.scale_rs(next(o for o in r.old_rss if o["metadata"]["name"] == rs["metadata"]["name"]),
                         replicas(rs) - cut)
        total += cut
    return total


async def _scale_down_old(r: Rollout, min_available: int) -> int:
    """Scale old ReplicaSets down (oldest first) by as many available pods as may go."""
    available = sum(status_int(rs, "availableReplicas") for rs in r.all_rss)
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in sorted(r.old_rss, key=created):
        if total >= budget:
            break
        if replicas(rs) == 0:
            continue
        cut = min(replicas(rs), budget - total)
        await r.scale_rs(rs, replicas(rs) - cut)
        total += cut
    return total
