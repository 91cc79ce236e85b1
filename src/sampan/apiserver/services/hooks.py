"""Where the write handlers meet the allocators: ``begin_create`` / ``begin_update`` before a Service is
stored (they return a :class:`~.allocators.Transaction` to ``revert()`` when the store write fails and
to ``commit()`` when it succeeded) and ``after_delete`` once a Service is gone. Other resources get a
no-op transaction, so handlers call these unconditionally. The allocators live in the server context
(``install``); a server built without them (unit tests of other parts) allocates nothing.
"""

from __future__ import annotations

from typing import Any

from sampan.apiserver.context import Scope, ServerContext
from sampan.apiserver.services.allocators import ServiceAllocators, Transaction

CONTEXT_KEY = "service-allocators"


def install(ctx: ServerContext, allocators: ServiceAllocators) -> None:
    ctx.extras[CONTEXT_KEY] = allocators


def allocators(ctx: ServerContext) -> ServiceAllocators | None:
    found = ctx.extras.get(CONTEXT_KEY)
    return found if isinstance(found, ServiceAllocators) else None


def _applies(ctx: ServerContext, scope: Scope) -> ServiceAllocators | None:
    if (scope.info.group, scope.info.resource) != ("", "services"):
        return None
    return allocators(ctx)


async def begin_create(ctx: ServerContext, scope: Scope, obj: dict[str, Any], *, dry: bool) -> Transaction:
    owner = _applies(ctx, scope)
    if owner is None:
        return Transaction()
    return await owner.allocate_create(obj, dry=dry)


async def begin_update(ctx: ServerContext, scope: Scope, new: dict[str, Any], old: dict[str, Any], *,
                       subresource: str | None, dry: bool) -> Transaction:
    owner = _applies(ctx, scope)
    if owner is None or subresource is not None:
        return Transaction()
    return await owner.allocate_update(new, old, dry=dry)


async def after_delete(ctx: ServerContext, scope: Scope, obj: dict[str, Any]) -> None:
    owner = _applies(ctx, scope)
    if owner is not None:
        await owner.release_service(obj)
