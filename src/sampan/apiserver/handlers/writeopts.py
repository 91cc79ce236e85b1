"""What every mutating verb shares: the write options of the query (``dryRun``, ``fieldManager``,
``fieldValidation``) and the ``metadata.managedFields`` step run on every stored write.

The field manager defaults, as upstream, to the User-Agent's product (``kubectl/v1.32.4 (...)`` ->
``kubectl``); it may be at most 128 characters of printable ASCII (400 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sampan.api import apply as ssa
from sampan.api import errors
from sampan.api.schema import type_for_kind
from sampan.apiserver import bytefields, fieldvalidation
from sampan.apiserver.context import Scope
from sampan.apiserver.handlers import objectmeta as om

MAX_MANAGER_LENGTH = 128


@dataclass
class WriteOptions:
    dry: bool
    manager: str
    field_validation: str
    warnings: list[str] = field(default_factory=list)
    """Response ``Warning`` headers collected while handling the request."""


def manager_name(request: web.BaseRequest) -> str:
    """``fieldManager`` from the query, else the User-Agent's product; 400 when invalid."""
    name = request.query.get("fieldManager", "")
    if not name:
        agent = request.headers.get("User-Agent", "")
        return agent.split("/", 1)[0][:MAX_MANAGER_LENGTH]
    if len(name) > MAX_MANAGER_LENGTH:
        raise errors.BadRequest(f"fieldManager: Too long: may not be more than {MAX_MANAGER_LENGTH} bytes")
    if any(not (" " <= ch <= "~") for ch in name):
        raise errors.BadRequest(f"fieldManager: Invalid value: {name!r}: must only contain printable characters")
    return name


def parse(request: web.Request) -> WriteOptions:
    return WriteOptions(dry=om.dry_run(request), manager=manager_name(request),
                        field_validation=fieldvalidation.parse(request))


def check_fields(scope: Scope, obj: Any, *, opts: WriteOptions, raw: bytes | None = None) -> None:
    """fieldValidation of ``obj`` (and the duplicate keys of its ``raw`` JSON body), then drop the
    unknown fields from ``obj`` and decode its ``[]byte`` fields (:mod:`sampan.apiserver.bytefields`)
    as upstream's decoder does."""
    info = scope.info
    found = fieldvalidation.problems(obj, group=info.group, version=info.version, kind=info.kind, raw=raw,
                                     directive=opts.field_validation)
    fieldvalidation.enforce(found, directive=opts.field_validation, kind=info.kind, version=info.version,
                            warnings=opts.warnings)
    fieldvalidation.prune_unknown(obj, type_node(scope))
    bytefields.canonicalize(obj, type_node(scope), kind=info.kind, version=info.version)


def ignored_paths(scope: Scope, subresource: str | None) -> list[ssa.Path]:
    """The fields a write through this endpoint resets (upstream's ResetFieldsStrategy): ``status`` for a
    main-resource write of a kind with status, ``spec`` (and labels/annotations' siblings) for a
    status write."""
    if subresource == "status":
        return [ssa.make_path("spec")]
    if getattr(scope.strategy, "has_status", False):
        return [ssa.make_path("status")]
    return []


def type_node(scope: Scope) -> Any:
    info = scope.info
    return type_for_kind(info.group, info.version, info.kind)


def record_update(scope: Scope, old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, now: float,
                  subresource: str | None = None) -> dict[str, Any]:
    """``new`` with managedFields recording ``manager``'s create (``old`` None) or update."""
    sub = subresource if subresource in ("status", "scale") else ""
    return ssa.update_managed_fields(old, new, manager=manager, now=now, type_node=type_node(scope),
                                     subresource=sub, ignored=ignored_paths(scope, subresource))
