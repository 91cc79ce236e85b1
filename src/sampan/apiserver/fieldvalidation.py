"""``fieldValidation`` (Strict / Warn / Ignore): unknown and duplicate fields in a write's body.

Unknown fields are found by walking the object along its kind's upstream schema
(:func:`sampan.api.schema.type_for_kind`); kinds without a schema have none. Duplicate fields are
found in JSON bodies (a tracking decode) and YAML bodies (a walk of the composed node tree). Paths are
spelled as upstream's strict decoder spells them: ``spec.containers[0].foo``.

* ``Strict``: any problem is 400 BadRequest ``<Kind> in version "<v>" cannot be handled as a <Kind>:
  strict decoding error: unknown field "spec.foo", duplicate field "metadata.name"``;
* ``Warn`` (the default, as upstream since 1.27): each problem is a ``Warning: 299 - "unknown field
  \\"spec.foo\\""`` response header;
* ``Ignore``: nothing is checked.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import yaml
from aiohttp import web

from sampan.api import errors
from sampan.api.gostrings import quote
from sampan.api.schema import TypeNode, type_for_kind
from sampan.apiserver.warning_headers import add_warnings

log = logging.getLogger(__name__)

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
_VALUES = (STRICT, WARN, IGNORE)
MAX_REPORTED = 100


def parse(request: web.BaseRequest) -> str:
    """The request's fieldValidation directive; 400 for an unknown value (as upstream)."""
    value = request.query.get("fieldValidation", "")
    if not value:
        return WARN
    if value not in _VALUES:
        raise errors.BadRequest(f'invalid fieldValidation directive: "{value}": supported values: '
                                f'"{STRICT}", "{WARN}", "{IGNORE}"')
    return value


def unknown_fields(obj: Any, node: TypeNode | None) -> list[str]:
    """Paths of the fields in ``obj`` its schema does not declare (at most :data:`MAX_REPORTED`)."""
    out: list[str] = []
    if node is not None:
        _walk(obj, node, "", out)
    return out


def _walk(value: Any, node: TypeNode, path: str, out: list[str]) -> None:
    if len(out) >= MAX_REPORTED or node.kind in ("any", "scalar"):
        return
    if node.kind == "struct" and isinstance(value, dict):
        for key, child in value.items():
            sub = node.field(key)
            where = f"{path}.{key}" if path else key
            if sub is None:
                out.append(where)
            else:
                _walk(child, sub, where, out)
    elif node.kind == "map" and isinstance(value, dict):
        for key, child in value.items():
            _walk(child, node.values, f"{path}.{key}" if path else key, out)
    elif node.kind == "list" and isinstance(value, list):
        for i, child in enumerate(value):
            _walk(child, node.items, f"{path}[{i}]", out)


def prune_unknown(obj: Any, node: TypeNode | None) -> None:
    """Drop, in place, the fields the schema does not declare (upstream's decoder drops them too)."""
    if node is None or node.kind in ("any", "scalar"):
        return
    if node.kind == "struct" and isinstance(obj, dict):
        for key in list(obj):
            sub = node.field(key)
            if sub is None:
                del obj[key]
            else:
                prune_unknown(obj[key], sub)
    elif node.kind == "map" and isinstance(obj, dict):
        for child in obj.values():
            prune_unknown(child, node.values)
    elif node.kind == "list" and isinstance(obj, list):
        for child in obj:
            prune_unknown(child, node.items)


class _Tracked(dict[str, Any]):
    """A decoded JSON object that remembers which of its keys appeared more than once."""

    dups: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Tracked:
    obj = _Tracked()
    obj.dups = []
    for k, v in pairs:
        if k in obj and k not in obj.dups:
            obj.dups.append(k)
        obj[k] = v
    return obj


def duplicate_fields(raw: bytes) -> list[str]:
    """Paths of keys repeated within one JSON object of ``raw`` ([] when ``raw`` is not JSON)."""
    try:
        value = json.loads(raw, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return []
    out: list[str] = []
    _dups(value, "", out)
    return out


def _dups(value: Any, path: str, out: list[str]) -> None:
    if len(out) >= MAX_REPORTED:
        return
    if isinstance(value, _Tracked):
        out.extend(f"{path}.{k}" if path else k for k in value.dups)
        for k, v in value.items():
            _dups(v, f"{path}.{k}" if path else k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _dups(v, f"{path}[{i}]", out)


def duplicate_yaml_fields(raw: bytes) -> list[str]:
    """Paths of keys repeated within one mapping of the YAML document ``raw`` ([] when it does not
    parse; callers have already decoded it, aliases included, so the node graph is a tree)."""
    try:
        root = yaml.compose(raw, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError, UnicodeDecodeError):
        return []
    out: list[str] = []
    _yaml_dups(root, "", out)
    return out


def _yaml_dups(node: Any, path: str, out: list[str]) -> None:
    if len(out) >= MAX_REPORTED:
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            where = f"{path}.{name}" if path else name
            if name in seen and where not in out:
                out.append(where)
            seen.add(name)
            _yaml_dups(value, where, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _yaml_dups(item, f"{path}[{i}]", out)


def problems(obj: Any, *, group: str, version: str, kind: str, raw: bytes | None, directive: str) -> list[str]:
    """Every unknown / duplicate field of a write, as upstream words it ([] for ``Ignore``)."""
    if directive == IGNORE:
        return []
    found = [f"unknown field {quote(p)}" for p in unknown_fields(obj, type_for_kind(group, version, kind))]
    if raw is not None:
        start = raw.lstrip()[:1]
        if start == b"{":
            found += [f"duplicate field {quote(p)}" for p in duplicate_fields(raw)]
        elif start and start != b"[" and not raw.startswith(b"k8s\x00"):  # YAML, not a JSON patch or protobuf
            found += [f"duplicate field {quote(p)}" for p in duplicate_yaml_fields(raw)]
    return found


def enforce(found: list[str], *, directive: str, kind: str, version: str, warnings: list[str]) -> None:
    """Raise Strict's 400, or add Warn's warnings to ``warnings``."""
    if not found:
        return
    if directive == STRICT:
        raise errors.BadRequest(f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding '
                                f"error: {', '.join(found)}")
    if directive == WARN:
        warnings.extend(found)


def add_warning_headers(response: web.StreamResponse, warnings: list[str]) -> web.StreamResponse:
    """``Warning: 299 - "<text>"`` per warning, deduplicated and capped as upstream
    (:mod:`sampan.apiserver.warning_headers`)."""
    return add_warnings(response, warnings)
