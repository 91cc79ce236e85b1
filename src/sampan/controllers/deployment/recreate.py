"""The Recreate strategy (upstream's ``recreate.go``): scale every old ReplicaSet to zero, wait until none
of their pods is still running, then create/scale the new ReplicaSet to ``replicas``."""

from __future__ import annotations

from collections.abc import Callable

from sampan.controllers.deployment.progress import is_complete
from sampan.controllers.deployment.scaling import desired
from sampan.controllers.deployment.sync import Rollout


async def rollout_recreate(r: Rollout, old_pods_running: Callable[[list[str]], bool]) -> float | None:
    """``old_pods_running(uids)``: whether any pod owned by these ReplicaSets is still not terminated."""
    await r.ensure_new(create=False)
    scaled = False
    for rs in list(r.old_rss):
        scaled = await r.scale_rs(rs, 0) or scaled
    if scaled:
        return await r.sync_status()
    if old_pods_running([rs["metadata"]["uid"] for rs in r.old_rss]):
        return await r.sync_status()
    new = await r.ensure_new(create=True)
    assert new is not None
    await r.scale_rs(new, desired(r.d))
    requeue = await r.sync_status()
    if is_complete(r.d, r.d.get("status") or {}):
        await r.cleanup()
    return requeue
