"""``Local`` APIServices for the group-versions this server serves itself (upstream's autoregister).

``kubectl get apiservices`` lists them as on any cluster. Priorities follow the group order of
:data:`~sampan.apiserver.registry.catalog.GROUP_PRIORITY` (upstream keeps a hand-written table with the
same order; exact numbers differ), the preferred version of a group ranked first. Idempotent: existing
objects are left as they are.
"""

from __future__ import annotations

import logging
from typing import Any

from sampan.apiserver.aggregator.registry import apiservices
from sampan.apiserver.cacher.objects import encode_for_store
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.objectmeta import new_uid, timestamp
from sampan.storage import KeyExists

log = logging.getLogger(__name__)

TOP_GROUP_PRIORITY = 18000
"""``groupPriorityMinimum`` of the core group; each following group 100 lower (upstream: 18000 for v1)."""


def local_apiservices(groups: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """The Local APIService bodies (no metadata beyond the name) for ``groups`` in priority order."""
    out = []
    for index, (group, versions) in enumerate(groups):
        for rank, version in enumerate(versions):
            name = f"{version}.{group}"  # the core group's is "v1." (trailing dot), as upstream
            out.append({
                "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name},
                "spec": {"group": group, "version": version,
                         "groupPriorityMinimum": max(TOP_GROUP_PRIORITY - 100 * index, 100),
                         "versionPriority": max(15 - rank, 1), "service": None},
                "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local",
                                           "message": "Local APIServices are always available"}]},
            })
    return out


async def ensure_local(ctx: ServerContext, groups: list[tuple[str, list[str]]]) -> None:
    scope = apiservices(ctx)
    if scope is None:
        return
    now = timestamp(ctx.clock.wall())
    for body in local_apiservices(groups):
        md = body["metadata"]
        md.update(uid=new_uid(), creationTimestamp=now)
        for cond in body["status"]["conditions"]:
            cond["lastTransitionTime"] = now
        try:
            await ctx.store.create(scope.key("", md["name"]), encode_for_store(body))
        except KeyExists:
            continue
