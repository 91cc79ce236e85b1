"""Namespace lifecycle, as upstream's NamespaceLifecycle admission plugin: content may be created only in
a namespace that exists and is not terminating; the system namespaces cannot be deleted; the system
namespaces are created at start when missing.
"""

from __future__ import annotations

import logging
from typing import Any

from sampan.api import errors, meta
from sampan.apiserver.cacher.objects import decode_stored, encode_for_store
from sampan.apiserver.context import ServerContext
from sampan.apiserver.handlers.objectmeta import new_uid, timestamp
from sampan.storage import KeyExists, KeyNotFound

log = logging.getLogger(__name__)

UNDELETABLE = frozenset({"default", "kube-system", "kube-public"})


def _terminating(ns: dict[str, Any]) -> bool:
    status = ns.get("status")
    phase = status.get("phase") if isinstance(status, dict) else None
    return bool(meta.deletion_timestamp(ns)) or phase == "Terminating"


async def check_can_create_in(ctx: ServerContext, namespace: str, *, resource: str, group: str, name: str) -> None:
    """404 when ``namespace`` does not exist, 403 when it is terminating."""
    scope = ctx.namespaces()
    key = scope.key("", namespace)
    cached = scope.cache.objects.get(key)
    obj: dict[str, Any] | None = cached.obj if cached is not None else None
    if obj is None:
        try:
            kv = await ctx.store.get(key)
        except KeyNotFound:
            raise errors.not_found("namespaces", namespace) from None
        obj = decode_stored(kv.value, kv.mod_revision)
    if _terminating(obj):
        qualified = errors.qualified(resource, group)
        details: dict[str, Any] = {
            "name": name, "kind": resource,
            "causes": [{"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace"}],
        }
        if group:
            details["group"] = group
        raise errors.Forbidden(
            f'{qualified} "{name}" is forbidden: unable to create new content in namespace {namespace} because it '
            "is being terminated",
            details=details,
        )


def check_deletable(namespace: str) -> None:
    if namespace in UNDELETABLE:
        raise errors.Forbidden(f'namespaces "{namespace}" is forbidden: this namespace may not be deleted',
                               details={"name": namespace, "kind": "namespaces"})


async def ensure_system_namespaces(ctx: ServerContext, names: tuple[str, ...]) -> None:
    """Create each of ``names`` unless it exists (idempotent; safe with several servers on one store)."""
    scope = ctx.namespaces()
    for name in names:
        obj: dict[str, Any] = {
            "kind": scope.info.kind,
            "apiVersion": scope.info.group_version,
            "metadata": {"name": name, "uid": new_uid(), "creationTimestamp": timestamp(ctx.clock.wall())},
        }
        scope.strategy.prepare_for_create(obj)
        try:
            await ctx.store.create(scope.key("", name), encode_for_store(obj))
            log.info("created system namespace name=%s", name)
        except KeyExists:
            pass
