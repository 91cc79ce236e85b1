"""Which resources exist: discovery, one preferred version per (group, resource).

Both the namespace controller (delete everything in a namespace) and the garbage collector (watch every
resource that can have owners) enumerate the server's resources this way, as upstream does with
``ServerPreferredNamespacedResources``. Subresources are never returned; resources lacking a required
verb are skipped.
"""

from __future__ import annotations

import logging

from sampan.api import errors
from sampan.api.resources import ResourceInfo
from sampan.client import Client

log = logging.getLogger(__name__)

DUPLICATES = frozenset({("events.k8s.io", "events")})
"""Resources that are another group's resource under a second name (same storage): skip them."""


async def preferred_resources(client: Client, *, verbs: frozenset[str], namespaced: bool | None = None
                              ) -> list[ResourceInfo]:
    """Every served resource (preferred version of each group) having all ``verbs``; ``namespaced``
    filters by scope when not None. Groups whose discovery fails are skipped and logged."""
    client.discovery.invalidate()
    out: list[ResourceInfo] = []
    seen: set[tuple[str, str]] = set()
    for group, versions in await client.discovery.groups():
        if not versions:
            continue
        try:
            infos = await client.discovery.resources(group, versions[0])
        except (errors.APIError, OSError) as exc:
            log.warning("discovery failed group=%s version=%s error=%s", group, versions[0], exc)
            continue
        for info in infos:
            ident = (info.group, info.resource)
            if ident in seen or ident in DUPLICATES or not verbs.issubset(info.verbs):
                continue
            if namespaced is not None and info.namespaced != namespaced:
                continue
            seen.add(ident)
            out.append(info)
    return out
