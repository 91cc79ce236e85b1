"""Field paths: the elements server-side apply tracks ownership with, spelled and ordered as upstream.

A :class:`PathElement` is one step into an object:

* a field or map key: ``f:<name>`` (shown ``.name``);
* an item of a list with map keys: ``k:{"name":"nginx"}`` (shown ``[name="nginx"]``), key fields sorted
  by name, values JSON-encoded as Go's encoder writes them (``<``, ``>``, ``&`` escaped);
* an item of a set list: ``v:<json>`` (shown ``[=<value>]``);
* a list position ``i:<n>`` (shown ``[n]``) — read for compatibility, never produced: atomic lists are
  owned whole.

Invariants: ``text`` is canonical (two elements are equal iff their texts are equal), and sorting
elements orders them as upstream does (fields, then keys, then values, then indexes; within a kind by
name / key fields / value, numbers before strings before booleans before lists before maps before
null), which is the order fieldsV1 objects are written in. A :data:`Path` is a tuple of elements.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

FIELD, KEY, VALUE, INDEX = 0, 1, 2, 3


class PathElement(NamedTuple):
    """One path step. ``rank`` orders element kinds, ``order`` orders within a kind, ``text`` is the
    fieldsV1 spelling (and the identity)."""

    rank: int
    order: tuple[Any, ...]
    text: str

    def __str__(self) -> str:
        return element_string(self)


Path = tuple[PathElement, ...]


class PathError(ValueError):
    """A fieldsV1 key that is not a path element."""


@functools.lru_cache(maxsize=4096)
def field(name: str) -> PathElement:
    return PathElement(FIELD, (name,), "f:" + name)


def key(fields: Iterable[tuple[str, Any]]) -> PathElement:
    """An item of a list with map keys, identified by its key fields (any order; sorted here)."""
    items = tuple(sorted(fields, key=lambda kv: kv[0]))
    if all(isinstance(v, str | int | float | bool) for _, v in items):
        # Scalar keys (the norm) are cached; bool/int/float hash alike, so the type joins the key.
        return _scalar_key(tuple((name, type(v), v) for name, v in items))
    return _make_key(items)


@functools.lru_cache(maxsize=8192)
def _scalar_key(items: tuple[tuple[str, type, Any], ...]) -> PathElement:
    return _make_key(tuple((name, v) for name, _, v in items))


def _make_key(items: tuple[tuple[str, Any], ...]) -> PathElement:
    text = "k:{" + ",".join(f"{go_json(name)}:{go_json(v)}" for name, v in items) + "}"
    return PathElement(KEY, tuple((name, value_order(v)) for name, v in items), text)


def value(v: Any) -> PathElement:
    """An item of a set list."""
    return PathElement(VALUE, (value_order(v),), "v:" + go_json(v))


def index(i: int) -> PathElement:
    return PathElement(INDEX, (i,), f"i:{i}")


def make_path(*parts: str | PathElement) -> Path:
    """A path from field names and elements: ``make_path("spec", "replicas")``."""
    return tuple(field(p) if isinstance(p, str) else p for p in parts)


def parse_element(text: str) -> PathElement | None:
    """The element a fieldsV1 key spells; ``None`` for an unknown element kind (upstream skips those).
    Raises :class:`PathError` for a malformed key."""
    if len(text) < 2 or text[1] != ":":
        raise PathError(f"invalid path element {text!r}")
    kind, rest = text[0], text[2:]
    if kind == "f":
        return field(rest)
    if kind == "i":
        try:
            return index(int(rest))
        except ValueError as err:
            raise PathError(f"invalid index in {text!r}") from err
    if kind not in "kv":
        return None
    try:
        decoded = json.loads(rest)
    except ValueError as err:
        raise PathError(f"invalid JSON in path element {text!r}") from err
    if kind == "v":
        return value(decoded)
    if not isinstance(decoded, dict):
        raise PathError(f"key path element is not an object: {text!r}")
    return key(decoded.items())


def element_values(pe: PathElement) -> Any:
    """The JSON payload of a key (dict of key fields) or value element; the name or index otherwise."""
    if pe.rank in (KEY, VALUE):
        return json.loads(pe.text[2:])
    return pe.order[0]


def element_string(pe: PathElement) -> str:
    """The element as upstream prints it in messages: ``.name``, ``[name="x"]``, ``[=x]``, ``[0]``."""
    if pe.rank == FIELD:
        return "." + pe.order[0]
    if pe.rank == KEY:
        fields = element_values(pe)
        return "[" + ",".join(f"{k}={go_string(v)}" for k, v in fields.items()) + "]"
    if pe.rank == VALUE:
        return "[=" + go_string(element_values(pe)) + "]"
    return f"[{pe.order[0]}]"


def path_string(path: Path) -> str:
    """A path as upstream prints it in conflict messages: ``.spec.containers[name="app"].image``."""
    return "".join(element_string(pe) for pe in path)


def value_order(v: Any) -> tuple[Any, ...]:
    """A sort key for a JSON value following upstream's value ordering."""
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(value_order(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple((k, value_order(v[k])) for k in sorted(v)))
    return (5,)


def go_json(v: Any) -> str:
    """``v`` encoded as Go's encoding/json writes it: compact, sorted keys, HTML characters escaped."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return _go_quote(v)
    if isinstance(v, list | tuple):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{_go_quote(str(k))}:{go_json(v[k])}" for k in sorted(v)) + "}"
    raise TypeError(f"not a JSON value: {type(v).__name__}")


def go_string(v: Any) -> str:
    """``v`` as Go's ``%v`` of an unstructured value prints it (strings quoted)."""
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, list | dict):
        return go_json(v)
    return go_json(v)


def _go_float(f: float) -> str:
    if not math.isfinite(f):
        raise TypeError("NaN and infinities are not JSON values")
    if f == int(f) and abs(f) < 1e21:
        return str(int(f))
    if 1e-6 <= abs(f) < 1e21:
        return format(Decimal(repr(f)), "f")
    mantissa, _, exp = repr(f).partition("e")
    sign = "-" if exp.startswith("-") else "+"
    return f"{mantissa}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@functools.lru_cache(maxsize=8192)
def _go_quote(s: str) -> str:
    out = []
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
