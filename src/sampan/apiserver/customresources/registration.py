"""Which custom resources the server routes right now, and the bookkeeping of adding and removing them.

:class:`Registrations` owns, per served CRD (keyed by ``(group, plural)``): its storage prefix
``<root><group>/<plural>/`` (upstream's apiextensions key layout), one :class:`ResourceCache` shared
by its served versions, and one :class:`Scope` per served version in ``ServerContext.scopes``. After
every change it swaps in a new :class:`Catalog` (built-ins + custom strategies) and rebuilds the
discovery documents (new ETags, so kubectl's disk cache refreshes) and the OpenAPI v3 documents (with
the CRD's structural schema, so ``kubectl explain`` works).

Invariants: a scope is only routed after its cache is loaded and registered with the watch cache; a
removed CRD's scopes leave ``ctx.scopes`` before its cache leaves the watch cache (watchers closed).
Conversion ``None``: every served version reads and writes the same stored objects (storage
version's ``apiVersion``); the other versions' strategies are ``registry.conversion.Converted``
ones whose scope view rewrites ``apiVersion`` on every read and write (when the storage version is
not served, versions are served as stored). Conversion ``Webhook``: the same views, converting through
the CRD's conversion webhook (``conversionwebhook``).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from sampan.api import meta
from sampan.api.crd import naming
from sampan.api.crd import openapi as crdopenapi
from sampan.api.crd import spec as crdspec
from sampan.apiserver.admission.webhooks.client import WebhookClient
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.customresources.conversionwebhook import ConversionWebhook
from sampan.apiserver.discovery import Discovery
from sampan.apiserver.openapi import OpenAPIService
from sampan.apiserver.registry.catalog import Catalog
from sampan.apiserver.registry.conversion import Converted, view_for
from sampan.apiserver.registry.custom import custom_strategy
from sampan.apiserver.registry.strategy import Strategy

log = logging.getLogger(__name__)

GroupResource = tuple[str, str]


@dataclass(eq=False)
class Served:
    """One registered CRD."""

    uid: str
    fingerprint: bytes
    cache: ResourceCache
    scopes: dict[str, Scope] = field(default_factory=dict)
    """version -> Scope."""
    schemas: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)


def prefix_of(root: str, group: str, plural: str) -> str:
    return f"{root}{group}/{plural}/"


def served_versions(crd: dict[str, Any]) -> list[str]:
    """The versions routed for ``crd``: every served one."""
    return crdspec.served_versions(crd)


@dataclass(frozen=True)
class WebhookRemote:
    """A served version's conversions through the CRD's webhook, awaited (``cacher.views.Remote``)."""

    webhook: ConversionWebhook
    served_gv: str
    stored_gv: str

    async def to_view_many(self, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return await self.webhook.convert_many(objs, self.served_gv)

    async def to_storage_one(self, obj: dict[str, Any]) -> dict[str, Any]:
        return (await self.webhook.convert_many([obj], self.stored_gv))[0]


def converted(strategy: Strategy, storage: tuple[str, str], webhook: ConversionWebhook | None = None) -> Strategy:
    """``strategy`` (a non-storage version) as a :class:`Converted` one over the storage version:
    conversion ``None`` only rewrites ``apiVersion`` (deep copies: nothing shared with the cache);
    ``Webhook`` asks the CRD's conversion webhook (``conversionwebhook``): awaited through the view's
    remote on the request path, synchronously only where nothing can await."""
    served_gv, stored_gv = strategy.info.group_version, f"{storage[0]}/{storage[1]}"

    def to_storage(self: Any, obj: dict[str, Any]) -> dict[str, Any]:
        if webhook is not None:
            return webhook.convert(obj, stored_gv)
        return {**copy.deepcopy(obj), "apiVersion": stored_gv}

    def from_storage(self: Any, obj: dict[str, Any]) -> dict[str, Any]:
        if webhook is not None:
            return webhook.convert(obj, served_gv)
        return {**copy.deepcopy(obj), "apiVersion": served_gv}

    base = type(strategy)
    remote = WebhookRemote(webhook, served_gv, stored_gv) if webhook is not None else None
    cls = type(base.__name__, (Converted, base), {"storage_gv": storage, "to_storage": to_storage,
                                                  "from_storage": from_storage, "remote": remote})
    out: Strategy = cls()
    return out


def routable(crd: dict[str, Any]) -> bool:
    """Established (also while terminating: its objects are still listed and deleted)."""
    return naming.is_established(crd) and bool(served_versions(crd))


def terminating(crd: dict[str, Any]) -> bool:
    return bool(meta.metadata(crd).get("deletionTimestamp"))


def _fingerprint(crd: dict[str, Any]) -> bytes:
    return orjson.dumps([crd.get("spec"), naming.accepted_names(crd), terminating(crd)],
                        option=orjson.OPT_SORT_KEYS)


def _refuse_create(strategy: Strategy) -> None:
    """A terminating CRD's objects can be read and deleted, not created (upstream: 405)."""
    cls = type(strategy)  # one class per strategy made here, so this changes no other
    cls.info = dataclasses.replace(strategy.info, verbs=tuple(v for v in strategy.info.verbs if v != "create"))


class Registrations:
    """The custom resources served by one server (see the module invariants)."""

    def __init__(self, ctx: ServerContext, *, discovery: Discovery | None, openapi: OpenAPIService | None) -> None:
        self._ctx = ctx
        self._discovery = discovery
        self._openapi = openapi
        self._builtin: list[Strategy] = list(ctx.catalog.strategies())
        self._builtin_groups = frozenset(s.info.group for s in self._builtin)
        self._shadowed: set[str] = set()
        self.served: dict[GroupResource, Served] = {}
        self._conversion_client = WebhookClient()
        """One HTTPS session for every CRD's conversion webhook (closed by :meth:`aclose`)."""

    async def sync(self, crds: list[dict[str, Any]]) -> bool:
        """Make the served set match the routable ``crds``; True when anything changed."""
        wanted: dict[GroupResource, dict[str, Any]] = {}
        for crd in crds:
            if not routable(crd):
                continue
            if crdspec.group(crd) in self._builtin_groups:  # built-in handlers take precedence, as upstream
                if meta.uid(crd) not in self._shadowed:
                    self._shadowed.add(meta.uid(crd))
                    log.warning("not serving crd=%s: its group is a built-in one", meta.name(crd))
                continue
            wanted[(crdspec.group(crd), str(crdspec.names(crd).get("plural", "")))] = crd
        changed = False
        for gr in [gr for gr in self.served if gr not in wanted]:
            self._remove(gr)
            changed = True
        for gr, crd in wanted.items():
            current = self.served.get(gr)
            if current is not None and current.uid == meta.uid(crd) and current.fingerprint == _fingerprint(crd):
                continue
            if current is not None and current.uid != meta.uid(crd):
                self._remove(gr)
                changed = True
            if await self._add(gr, crd):
                changed = True
        if changed:
            self._publish()
        return changed

    async def _add(self, gr: GroupResource, crd: dict[str, Any]) -> bool:
        versions = served_versions(crd)
        try:
            storage = crdspec.storage_version(crd) or versions[0]
            strategies = {v: cast(Strategy, custom_strategy(crd, v)) for v in versions}
            webhook = self._conversion_webhook(crd, gr)
            strategies = {v: s if v == storage else converted(s, (gr[0], storage), webhook)
                          for v, s in strategies.items()}
            if terminating(crd):
                for s in strategies.values():
                    _refuse_create(s)
        except Exception:  # a CRD that passed validation never gets here; keep serving the others
            log.exception("cannot build strategies for crd=%s", meta.name(crd))
            return False
        current = self.served.get(gr)
        first = strategies.get(storage) or next(iter(strategies.values()))
        if current is None:
            prefix = prefix_of(self._ctx.store.root, *gr)
            cache = ResourceCache(prefix, kind=first.info.kind, api_version=first.info.group_version,
                                  field_values_of=first.field_values,
                                  window_size=self._ctx.config.default_watch_cache_size,
                                  watcher_capacity=self._ctx.config.watcher_queue_size)
            await self._ctx.watch_cache.add_cache(cache)
            current = Served(meta.uid(crd), _fingerprint(crd), cache)
            self.served[gr] = current
            log.info("serving custom resource group=%s resource=%s versions=%s", gr[0], gr[1], versions)
        else:
            current.fingerprint = _fingerprint(crd)
            log.info("updated custom resource group=%s resource=%s versions=%s", gr[0], gr[1], versions)
        for version in [v for v in current.scopes if v not in strategies]:
            self._ctx.scopes.pop((gr[0], version, gr[1]), None)
        current.scopes = {v: Scope(s, current.cache.prefix, current.cache, view_for(s)) for v, s in strategies.items()}
        current.schemas = {(gr[0], v, s.info.kind): crdopenapi.kind_schemas(crd, v) for v, s in strategies.items()}
        for v, scope in current.scopes.items():
            self._ctx.scopes[(gr[0], v, gr[1])] = scope
        return True

    def _conversion_webhook(self, crd: dict[str, Any], gr: GroupResource) -> ConversionWebhook | None:
        conv = crdspec.spec(crd).get("conversion")
        if not isinstance(conv, dict) or conv.get("strategy") != "Webhook" or not isinstance(conv.get("webhook"), dict):
            return None
        return ConversionWebhook(self._ctx, group=gr[0], kind=str(crdspec.names(crd).get("kind", "")),
                                 webhook=conv["webhook"], client=self._conversion_client)

    def _remove(self, gr: GroupResource) -> None:
        served = self.served.pop(gr)
        for version in served.scopes:
            self._ctx.scopes.pop((gr[0], version, gr[1]), None)
        self._ctx.watch_cache.remove_cache(served.cache.prefix)
        log.info("stopped serving custom resource group=%s resource=%s", *gr)

    def _publish(self) -> None:
        """Swap in the new catalog; rebuild discovery and OpenAPI from it."""
        custom = [scope.strategy for s in self.served.values() for scope in s.scopes.values()]
        try:
            catalog = Catalog([*self._builtin, *custom])
        except ValueError as exc:  # a CRD claiming a built-in kind: serve it, but keep discovery sane
            log.warning("custom resources clash with built-ins, discovery lists built-ins only reason=%s", exc)
            catalog = Catalog(self._builtin)
        self._ctx.catalog = catalog
        if self._discovery is not None:
            self._discovery.rebuild(catalog)
        if self._openapi is not None:
            schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
            for s in self.served.values():
                schemas.update(s.schemas)
            self._openapi.rebuild(catalog, custom_schemas=schemas)

    def close(self) -> None:
        for gr in list(self.served):
            self._remove(gr)

    async def aclose(self) -> None:
        """:meth:`close`, and the conversion webhooks' HTTPS session."""
        self.close()
        await self._conversion_client.close()
