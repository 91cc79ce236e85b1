"""The availability controller: probe each remote group-version, write ``Available``, feed discovery.

Each pass (every ``interval`` seconds, and soon after any APIService, Service or Endpoints change)
resolves every remote APIService to an endpoint and GETs its ``/apis/<group>/<version>`` discovery
document. The condition follows upstream's reasons: ``ServiceNotFound``, ``MissingEndpoints``,
``FailedDiscoveryCheck`` (with the error), ``Passed``. The resource lists of available group-versions
go into ``/apis`` discovery; an unavailable one is listed with no resources (``Stale``), so clients see
the group without failing on it.

Invariant: a status is written only when the condition's status, reason or message changes (no write
storm from a steady state); the transition time moves only when the status does.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from sampan.api import errors
from sampan.apiserver.aggregator.proxy import tls_for
from sampan.apiserver.aggregator.registry import RemoteAPI, apiservices, endpoint_of, remotes
from sampan.apiserver.context import ServerContext
from sampan.apiserver.discovery import Discovery
from sampan.apiserver.handlers.guaranteed import UpdateRequest, update_object
from sampan.apiserver.handlers.objectmeta import timestamp
from sampan.apiserver.handlers.writeopts import WriteOptions
from sampan.apiserver.userinfo import UserInfo

log = logging.getLogger(__name__)

MANAGER = "kube-apiserver-aggregator"
AGGREGATOR_USER = UserInfo("system:kube-aggregator", groups=("system:masters", "system:authenticated"))


@dataclass(frozen=True, slots=True)
class Probe:
    status: str
    reason: str
    message: str
    resources: list[dict[str, Any]]


class AvailabilityController:
    def __init__(self, ctx: ServerContext, discovery: Discovery | None, *, interval: float = 30.0,
                 probe_timeout: float = 5.0, poll: float = 0.2) -> None:
        self._ctx = ctx
        self._discovery = discovery
        self._interval = interval
        self._timeout = probe_timeout
        self._poll = poll
        self.passes = 0

    def _change_marker(self) -> tuple[int, ...]:
        marks = []
        for resource in ("services", "endpoints"):
            scope = self._ctx.scope("", "v1", resource)
            marks.append(scope.cache.events_applied if scope is not None else 0)
        scope = apiservices(self._ctx)
        marks.append(scope.cache.events_applied if scope is not None else 0)
        return tuple(marks)

    async def run(self) -> None:
        await self._ctx.watch_cache.ready.wait()
        seen: tuple[int, ...] | None = None
        last = 0.0
        while True:
            now = self._ctx.clock.monotonic()
            marker = self._change_marker()
            if marker != seen or now - last >= self._interval:
                seen, last = marker, now
                try:
                    await self.sync_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("apiservice availability pass failed")
                seen = self._change_marker()  # our own status writes are not a reason for another pass
            await self._ctx.clock.sleep(self._poll)

    async def sync_once(self) -> None:
        self.passes += 1
        found = remotes(self._ctx)
        probes = dict(zip(found, await asyncio.gather(*(self.probe(r) for r in found.values())), strict=True))
        for remote, probe in zip(found.values(), probes.values(), strict=True):
            await self._write_condition(remote, probe)
        if self._discovery is not None:
            groups: dict[str, list[RemoteAPI]] = {}
            for remote in found.values():
                groups.setdefault(remote.group, []).append(remote)
            ordered = sorted(groups.items(), key=lambda kv: (-max(r.group_priority for r in kv[1]), kv[0]))
            order = [(g, [r.version for r in sorted(rs, key=lambda r: (-r.version_priority, r.version))])
                     for g, rs in ordered]
            self._discovery.set_remote({gv: p.resources for gv, p in probes.items()}, order)

    async def probe(self, remote: RemoteAPI) -> Probe:
        try:
            host, port = endpoint_of(self._ctx, remote)
        except errors.ServiceUnavailable as err:
            reason = "ServiceNotFound" if "not found" in err.message else "MissingEndpoints"
            return Probe("False", reason, err.message, [])
        url = f"https://{host}:{port}/apis/{remote.group}/{remote.version}"
        config = self._ctx.config  # the front-proxy certificate: extension servers believe X-Remote-User only from it
        tls = tls_for(remote, proxy_cert=config.proxy_client_cert_file, proxy_key=config.proxy_client_key_file)
        try:
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(
                    url, ssl=tls, headers={"Accept": "application/json",
                                           "X-Remote-User": AGGREGATOR_USER.username}) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise ValueError(f"bad status from {url}: {resp.status}")
                doc = orjson.loads(body)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as err:
            return Probe("False", "FailedDiscoveryCheck", f"failing or missing response from {url}: {err}", [])
        resources = doc.get("resources") if isinstance(doc, dict) else None
        return Probe("True", "Passed", "all checks passed", resources if isinstance(resources, list) else [])

    async def _write_condition(self, remote: RemoteAPI, probe: Probe) -> None:
        scope = apiservices(self._ctx)
        assert scope is not None
        cached = scope.cache.objects.get(scope.key("", remote.name))
        if cached is None:
            return
        conditions = (cached.obj.get("status") or {}).get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "Available"), None)
        if current is not None and (current.get("status"), current.get("reason"), current.get("message")) == (
                probe.status, probe.reason, probe.message):
            return
        moved = current is None or current.get("status") != probe.status
        when = timestamp(self._ctx.clock.wall()) if moved else str((current or {}).get("lastTransitionTime"))
        condition = {"type": "Available", "status": probe.status, "lastTransitionTime": when,
                     "reason": probe.reason, "message": probe.message}

        def transform(obj: dict[str, Any]) -> dict[str, Any]:
            obj = copy.deepcopy(obj)
            status = obj.setdefault("status", {}) or {}
            obj["status"] = status
            status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "Available"]
            status["conditions"].append(condition)
            return obj

        opts = WriteOptions(dry=False, manager=MANAGER, field_validation="Ignore", user=AGGREGATOR_USER)
        try:
            await update_object(self._ctx, UpdateRequest(scope, "", remote.name, "status", transform, opts))
        except errors.APIError as err:  # deleted or conflicting: the next pass sees the new state
            log.info("apiservice status write deferred name=%s reason=%s", remote.name, err)
