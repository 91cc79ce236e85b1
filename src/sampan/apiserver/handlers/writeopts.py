"""What every mutating verb shares: the write options of the query (``dryRun``, ``fieldManager``,
``fieldValidation``) and the ``metadata.managedFields`` step run on every stored write.

The field manager defaults, as upstream, to the User-Agent's product (``kubectl/v1.32.4 (...)`` ->
``kubectl``); it may be at most 128 characters of printable ASCII (400 otherwise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from sampan.api import apply as ssa
from sampan.api import errors, structural, typed
from sampan.api.gostrings import quote
from sampan.api.schema import type_for_kind, type_named
from sampan.apiserver import bytefields, fieldvalidation
from sampan.apiserver.context import Scope
from sampan.apiserver.handlers import objectmeta as om
from sampan.apiserver.userinfo import ANONYMOUS, UserInfo, request_user

MAX_MANAGER_LENGTH = 128


@dataclass
class WriteOptions:
    dry: bool
    manager: str
    field_validation: str
    warnings: list[str] = field(default_factory=list)
    """Response ``Warning`` headers collected while handling the request."""
    user: UserInfo = ANONYMOUS
    """Who sent the request (admission sees it)."""


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
                        field_validation=fieldvalidation.parse(request), user=request_user(request))


def check_fields(scope: Scope, obj: Any, *, opts: WriteOptions, raw: bytes | None = None,
                 patched: bool = False, decoded: bool = True) -> None:
    """Decode ``obj`` as upstream's typed decoder would, then apply ``fieldValidation``.

    1. Built-in kinds: JSON types against the kind's schema (:mod:`sampan.api.typed`); a mismatch is 400
       ``<Kind> in version "<v>" cannot be handled as a <Kind>: json: cannot unmarshal ...`` — or, for
       the result of a patch (``patched``), 422 on the field ``patch`` as upstream's patcher words it.
       The object also gets Go's round-trip shape (nulls dropped, always-written structs). Skipped when
       not ``decoded``: an apply configuration is not decoded into Go structs upstream (server-side
       apply checks its types itself).
    2. Unknown fields (built-in schema, or a custom resource's structural schema plus ObjectMeta) and
       duplicate keys of the ``raw`` body: Strict -> 400, Warn -> warnings, Ignore -> nothing.
    3. Unknown fields are dropped from ``obj``, as upstream's decoder (or pruning) drops them, and its
       ``[]byte`` fields are decoded (:mod:`sampan.apiserver.bytefields`).
    """
    info = scope.info
    checker = typed.checker_for(info.group, info.version, info.kind)
    saw_unknown = True
    if checker is not None and decoded and isinstance(obj, dict):
        try:
            saw_unknown = checker.check(obj, normalize=True)
        except typed.DecodeError as err:
            if patched:
                shown = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()
                raise errors.invalid_object("", "", [errors.invalid("patch", shown, str(err))]) from None
            raise om.cannot_handle(scope, str(obj.get("kind") or ""), str(err)) from None
    custom_schema = _custom_schema(scope) if checker is None else None
    found: list[str] = []
    if opts.field_validation != fieldvalidation.IGNORE:
        dup_raw = None if raw is None or _json_without_duplicates(raw) else raw
        if checker is None or saw_unknown:
            found = fieldvalidation.problems(obj, group=info.group, version=info.version, kind=info.kind,
                                             raw=dup_raw, directive=opts.field_validation)
        elif dup_raw is not None:  # duplicates only: the typed pass saw no unknown field
            found = fieldvalidation.problems(obj, group="", version="", kind="", raw=dup_raw,
                                             directive=opts.field_validation)
    if custom_schema is not None:
        unknown = prune_custom(obj, custom_schema)
        found = [f"unknown field {quote(p)}" for p in unknown] + found
    if found and opts.field_validation == fieldvalidation.STRICT and patched:
        raise errors.BadRequest(f"strict decoding error: {', '.join(found)}")
    fieldvalidation.enforce(found, directive=opts.field_validation, kind=info.kind, version=info.version,
                            warnings=opts.warnings)
    if saw_unknown and custom_schema is None:
        fieldvalidation.prune_unknown(obj, type_node(scope))
    bytefields.canonicalize(obj, type_node(scope), kind=info.kind, version=info.version)


def _no_duplicates_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Duplicate
    return out


class _Duplicate(Exception):
    pass


_DUPLICATE_SCAN = json.JSONDecoder(object_pairs_hook=_no_duplicates_hook)


def _json_without_duplicates(raw: bytes) -> bool:
    """True when ``raw`` is a JSON object with no repeated key anywhere (a fast scan, ~5x quicker than
    finding where the repeats are); False for duplicates, YAML, protobuf and anything else.

    First the round trip: when ``orjson.dumps(orjson.loads(raw)) == raw`` (any compact body an orjson
    client sent, e.g. every kubelet Lease renewal), ``raw`` has no duplicate: equal bytes parse to the
    same sequence of members, and the encoding of a dict repeats no key. ~7x cheaper than the scan below,
    which decides every other body (whitespace, escapes, other number forms, duplicates)."""
    if raw[:1] != b"{":
        return False
    try:
        if orjson.dumps(orjson.loads(raw)) == raw:
            return True
    except (ValueError, TypeError):  # not JSON orjson reads or writes (e.g. integers beyond 64 bits)
        pass
    return _scan_without_duplicates(raw)


def _scan_without_duplicates(raw: bytes) -> bool:
    """:func:`_json_without_duplicates` by a full scan that sees every member of every object."""
    try:
        _DUPLICATE_SCAN.decode(raw.decode())
    except (_Duplicate, ValueError, RecursionError):
        return False
    return True


def _custom_schema(scope: Scope) -> dict[str, Any] | None:
    """The structural schema of a custom resource's version (None for other kinds)."""
    schema = getattr(scope.strategy, "schema", None)
    return schema if isinstance(schema, dict) and type_node(scope) is None else None


def prune_custom(obj: Any, schema: dict[str, Any]) -> list[str]:
    """Drop (in place) what a custom resource's schema does not specify, and unknown ``metadata`` fields
    (upstream reads metadata as ObjectMeta); returns the dropped paths, metadata's first."""
    if not isinstance(obj, dict):
        return []
    removed: list[str] = []
    md = obj.get("metadata")
    if isinstance(md, dict):
        removed = [f"metadata.{p}" for p in fieldvalidation.unknown_fields(md, _object_meta())]
        fieldvalidation.prune_unknown(md, _object_meta())
    return removed + structural.prune(obj, schema)


def _object_meta() -> Any:
    return type_named("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")


def ignored_paths(scope: Scope, subresource: str | None) -> list[ssa.Path]:
    """The fields a write through this endpoint resets (upstream's ResetFieldsStrategy): ``status`` for a
    main-resource write of a kind with status, ``spec`` (and labels/annotations' siblings) for a
    status write."""
    if subresource in ("status", "approval"):
        return [ssa.make_path("spec")]
    if getattr(scope.strategy, "has_status", False):
        return [ssa.make_path("status")]
    return []


def type_node(scope: Scope) -> Any:
    """The built-in kind's type (None for custom resources: no strategic merge, no typed decoding)."""
    info = scope.info
    return type_for_kind(info.group, info.version, info.kind)


def apply_type(scope: Scope) -> Any:
    """The type server-side apply and managedFields work with: the built-in kind's, or a custom
    resource's from its CRD schema (its list types and map keys decide ownership, as upstream)."""
    node = type_node(scope)
    if node is not None:
        return node
    apply_type_of = getattr(scope.strategy, "apply_type", None)
    return apply_type_of() if callable(apply_type_of) else None


def record_update(scope: Scope, old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, now: float,
                  subresource: str | None = None, in_place: bool = False) -> dict[str, Any]:
    """``new`` with managedFields recording ``manager``'s create (``old`` None) or update (``in_place``:
    ``new`` itself, which the caller owns, is changed and returned rather than a copy)."""
    sub = subresource if subresource in ("status", "scale", "ephemeralcontainers") else ""
    return ssa.update_managed_fields(old, new, manager=manager, now=now, type_node=apply_type(scope),
                                     subresource=sub, ignored=ignored_paths(scope, subresource), in_place=in_place)
