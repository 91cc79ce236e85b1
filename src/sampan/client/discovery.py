"""Discovery: which resources a server serves, read from the legacy discovery documents and cached.

``/api`` + ``/apis`` list the group-versions (preferred version first); ``/api/v1`` and
``/apis/{group}/{version}`` list each one's resources. Any conformant server answers these. The cache
holds what was read until :meth:`Discovery.invalidate`; an unknown resource triggers one refresh before
the lookup fails (a CRD may just have been installed).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sampan.api import errors
from sampan.api.resources import ResourceInfo
from sampan.client.rest import RESTClient

log = logging.getLogger(__name__)

_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")


def split_api_version(api_version: str) -> tuple[str, str]:
    """``("apps", "v1")`` from ``apps/v1``; ``("", "v1")`` from ``v1``."""
    group, _, version = api_version.rpartition("/")
    if not version:
        raise ValueError(f"invalid apiVersion {api_version!r}")
    return group, version


def parse_resource_list(group: str, version: str, doc: dict[str, Any]) -> list[ResourceInfo]:
    """ResourceInfos from an ``APIResourceList``; subresources (``pods/status``) are folded into their
    parent's ``subresources``."""
    subs: dict[str, list[str]] = {}
    mains: list[dict[str, Any]] = []
    for r in doc.get("resources") or []:
        name = str(r.get("name") or "")
        if "/" in name:
            parent, _, sub = name.partition("/")
            subs.setdefault(parent, []).append(sub)
        elif name:
            mains.append(r)
    return [
        ResourceInfo(
            group=group, version=version, resource=r["name"], kind=str(r.get("kind") or ""),
            singular=str(r.get("singularName") or r.get("kind", "").lower()), namespaced=bool(r.get("namespaced")),
            short_names=tuple(r.get("shortNames") or ()), categories=tuple(r.get("categories") or ()),
            verbs=tuple(r.get("verbs") or ()), subresources=tuple(subs.get(r["name"], ())),
        )
        for r in mains
    ]


class Discovery:
    """Cached discovery over a :class:`RESTClient`."""

    def __init__(self, rest: RESTClient) -> None:
        self._rest = rest
        self._groups: list[tuple[str, list[str]]] | None = None
        self._resources: dict[tuple[str, str], list[ResourceInfo]] = {}

    def invalidate(self) -> None:
        self._groups = None
        self._resources.clear()

    async def groups(self) -> list[tuple[str, list[str]]]:
        """``(group, [versions, preferred first])``, core group ``""`` first."""
        if self._groups is None:
            core = await self._rest.request("GET", "/api")
            groups: list[tuple[str, list[str]]] = [("", list(core.get("versions") or ["v1"]))]
            doc = await self._rest.request("GET", "/apis")
            for g in doc.get("groups") or []:
                preferred = (g.get("preferredVersion") or {}).get("version")
                versions = [v["version"] for v in g.get("versions") or []]
                if preferred in versions:
                    versions.remove(preferred)
                    versions.insert(0, preferred)
                groups.append((g["name"], versions))
            self._groups = groups
        return self._groups

    async def resources(self, group: str, version: str) -> list[ResourceInfo]:
        key = (group, version)
        if key not in self._resources:
            path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
            self._resources[key] = parse_resource_list(group, version, await self._rest.request("GET", path))
        return self._resources[key]

    async def resolve(self, api_version: str, name: str) -> ResourceInfo:
        """The resource ``name`` (plural, singular, short name or kind, any case) in ``api_version``
        (``v1``, ``apps/v1``, or a bare group ``apps`` meaning its preferred version)."""
        for attempt in range(2):
            try:
                group, version = await self._group_version(api_version)
                found = _match(await self.resources(group, version), name)
            except errors.NotFound:
                found = None
            if found is not None:
                return found
            if attempt == 0:
                log.debug("discovery miss, refreshing api_version=%s resource=%s", api_version, name)
                self.invalidate()
        raise errors.NotFound(f'the server doesn\'t have a resource type "{name}" in {api_version}')

    async def _group_version(self, api_version: str) -> tuple[str, str]:
        if "/" in api_version or _VERSION.match(api_version):
            return split_api_version(api_version)
        for group, versions in await self.groups():
            if group == api_version and versions:
                return group, versions[0]
        raise errors.NotFound(f"the server doesn't serve API group {api_version!r}")


def _match(infos: list[ResourceInfo], name: str) -> ResourceInfo | None:
    lower = name.lower()
    for info in infos:
        if lower in (info.resource, info.singular, info.kind.lower()) or lower in info.short_names:
            return info
    return None
