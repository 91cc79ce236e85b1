"""Typed decoding of built-in kinds: the JSON types Go's decoder refuses, and what it fills in.

kube-apiserver decodes every body into Go structs, so a number where a string belongs is 400 BadRequest
``Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal number into Go struct field
LeaseSpec.spec.holderIdentity of type string``. :func:`checker_for` gives, per kind, a checker compiled
once from upstream's 1.32 definitions (:func:`sampan.api.schema.raw_definitions`): one closure per
definition, shared by every kind that reaches it, so checking an object is one walk of plain dict/list
type tests. :meth:`Checker.check` raises :class:`DecodeError` with Go's message:

* ``json: cannot unmarshal <value> into Go struct field <Struct>.<path> of type <type>`` — ``<value>`` is
  ``string``, ``number``, ``bool``, ``array`` or ``object`` (``number 3.5`` for a non-integer or
  out-of-range number into an integer); ``<Struct>`` is the innermost struct holding the field;
  ``<path>`` joins the JSON field names from the root, without list indexes or map keys, as Go's
  decoder does; ``<type>`` is the Go type (``int32``, ``[]v1.Container``, ``map[string]string``,
  ``v1.PodPhase`` for named types, from :mod:`sampan.api.gotypes`);
* values with their own decoders: IntOrString (a string, or an int32), Quantity (a string or number
  that parses; otherwise upstream's ``quantities must match the regular expression …``), Time and
  MicroTime (RFC 3339 strings, :mod:`sampan.api.gotime`; MicroTime needs six fractional digits; Go's
  ``parsing time …`` messages); RawExtension, JSON, FieldsV1 and schemaless objects take anything.

``null`` is always accepted (Go leaves the field at its zero value). With ``normalize=True`` (bodies of
create and update, patch results) the object is also changed as Go's decode-then-encode round trip
changes it: ``null`` struct fields are dropped (their zero values are omitted or empty; a Time stays
``null``, which is how Go writes a zero Time), ``null``
scalars inside lists and maps become the zero value, and a required struct field that is missing is
written as ``{}`` (Go always writes non-``omitempty`` struct fields: an Event's ``involvedObject``).

Unknown fields are not errors here (``fieldValidation`` decides); :meth:`Checker.check` only reports
whether it saw any, so callers can skip the slower unknown-field walk when there are none.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from sampan.api import quantity
from sampan.api.gotime import MICRO_SHAPE, TIME_SHAPE, go_time_error
from sampan.api.gotypes import GO_FIELD_TYPES
from sampan.api.protobuf.schema_table import MESSAGES
from sampan.api.schema import raw_definitions, type_for_kind

__all__ = ["Checker", "DecodeError", "checker_for", "go_time_error", "json_kind"]

_DEFS = "#/$defs/"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
_MICRO_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
_QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

Check = Callable[[Any], bool | None]
"""Checks a non-null value (raises on a mismatch); a true result means "saw an unknown field"."""


class DecodeError(ValueError):
    """A body Go's decoder refuses; ``str(err)`` is Go's message (without the kind prefix)."""


class _Mismatch(Exception):
    """A value of the wrong JSON type; the path is collected while the exception unwinds."""

    def __init__(self, value: str, go_type: str) -> None:
        super().__init__(value)
        self.value = value
        self.go_type = go_type
        self.fields: list[str] = []
        self.struct: str | None = None

    def message(self) -> str:
        if self.struct is None and not self.fields:
            return f"json: cannot unmarshal {self.value} into Go value of type {self.go_type}"
        path = ".".join(reversed(self.fields))
        return f"json: cannot unmarshal {self.value} into Go struct field {self.struct or ''}.{path} of type " \
               f"{self.go_type}"


def json_kind(value: Any) -> str:
    """Go's name for the JSON value's kind in an UnmarshalTypeError."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


class Checker:
    """The compiled check of one kind; see the module docstring. Immutable and shared."""

    def __init__(self, kind: str, check: Check, normalizing: Check) -> None:
        self.kind = kind
        self._check = check
        self._normalizing = normalizing

    def check(self, obj: dict[str, Any], *, normalize: bool = False) -> bool:
        """Raise :class:`DecodeError` for the first value (in document order) Go would refuse; returns
        True when ``obj`` holds fields the schema does not declare."""
        try:
            return bool((self._normalizing if normalize else self._check)(obj))
        except _Mismatch as m:
            raise DecodeError(m.message()) from None


@functools.cache
def checker_for(group: str, version: str, kind: str) -> Checker | None:
    """The checker of a built-in kind, or None (custom resources, kinds upstream does not define)."""
    node = type_for_kind(group, version, kind)
    if node is None or node.name is None:
        return None
    return Checker(kind, _PLAIN.struct(node.name), _NORMALIZING.struct(node.name))


def _go_name(definition: str) -> str:
    """``io.k8s.api.core.v1.PodSpec`` -> ``v1.PodSpec`` (package name and type, as Go prints types)."""
    parts = definition.split(".")
    return f"{parts[-2]}.{parts[-1]}" if len(parts) >= 2 else definition


def _resolve(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    name = None
    for _ in range(16):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            break
        name = ref.removeprefix(_DEFS)
        schema = raw_definitions().get(name, {})
    return schema, name


def _types(schema: Mapping[str, Any]) -> set[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return {x for x in t if x != "null"}
    return set()


def _always_written_structs(definition: str) -> frozenset[str]:
    """Fields of ``definition`` Go always writes as a struct (not a pointer, no ``omitempty``), from the
    Go flags the protobuf table records (:mod:`sampan.api.protobuf.schema_table`)."""
    parts = definition.split(".")
    if definition.startswith("io.k8s.api.") and len(parts) == 6:
        key = f"{parts[3]}/{parts[4]}.{parts[5]}"
    elif definition.startswith("io.k8s.apimachinery.pkg.apis.meta.v1."):
        key = f"meta/v1.{parts[-1]}"
    else:
        return frozenset()
    entry = MESSAGES.get(key)
    if entry is None:
        return frozenset()
    return frozenset(json_name for _, json_name, label, type_name, go in entry[1]
                     if label == "opt" and "/" in type_name and not ({"o", "p", "i"} & set(go)))


def _accept(_value: Any) -> None:
    return None


class _Compiler:
    """Turns definitions into closures; one per definition name, so recursive types terminate."""

    def __init__(self, *, normalize: bool) -> None:
        self.normalize = normalize
        self.structs: dict[str, Check] = {}

    # ---- structs ------------------------------------------------------------------------------

    def struct(self, name: str) -> Check:
        if name in self.structs:
            return self.structs[name]
        schema = raw_definitions().get(name, {})
        go_struct = name.rsplit(".", 1)[-1]
        go_type = _go_name(name)
        fields: dict[str, Check] = {}
        fill: list[str] = []
        keep_null: set[str] = set()
        normalize = self.normalize

        def check(value: Any) -> bool:
            if type(value) is not dict:
                raise _Mismatch(json_kind(value), go_type)
            unknown = False
            nulls = None
            for key, child in value.items():
                sub = fields.get(key)
                if sub is None:
                    unknown = True
                    continue
                if child is None:
                    if normalize and key not in keep_null:
                        nulls = [key] if nulls is None else [*nulls, key]
                    continue
                try:
                    if sub(child):
                        unknown = True
                except _Mismatch as m:
                    m.fields.append(key)
                    if m.struct is None:
                        m.struct = go_struct
                    raise
            if nulls is not None:
                for key in nulls:
                    del value[key]
            for key in fill:
                if key not in value:
                    value[key] = {}
            return unknown

        self.structs[name] = check
        named = GO_FIELD_TYPES.get(name, {})
        always_written = _always_written_structs(name)
        for field, prop in (schema.get("properties") or {}).items():
            if not isinstance(prop, Mapping):
                continue
            fields[field] = self.value(prop, named.get(field))[0]
            if _resolve(prop)[1] in (_TIME, _MICRO_TIME):
                keep_null.add(field)  # a zero Time is written as null
            if normalize and field in always_written and _resolve(prop)[0].get("properties"):
                fill.append(field)
        return check

    # ---- any value ----------------------------------------------------------------------------

    def value(self, prop: Mapping[str, Any], go_type: str | None) -> tuple[Check, str, Callable[[], Any] | None]:
        """(check, Go type name, zero-value factory for scalars or None) of a property schema."""
        target, name = _resolve(prop)
        if name == _INT_OR_STRING:
            return _int_or_string, "intstr.IntOrString", None
        if name == _QUANTITY:
            return _quantity, "resource.Quantity", None
        if name in (_TIME, _MICRO_TIME):
            return _time_check(micro=name == _MICRO_TIME), "v1.Time", None
        types = _types(target)
        if target.get("properties"):
            assert name is not None
            return self.struct(name), go_type or _go_name(name), None
        if "array" in types:
            items = target.get("items")
            item_type = go_type[2:] if go_type and go_type.startswith("[]") else None
            item_check, item_go, item_zero = self.value(items, item_type) if isinstance(items, Mapping) else (
                _accept, "interface {}", None)
            go = go_type or f"[]{item_go}"
            return self._list(item_check, go, item_zero), go, None
        if "object" in types and isinstance(target.get("additionalProperties"), Mapping):
            val_check, val_go, val_zero = self.value(target["additionalProperties"], None)
            go = go_type or f"map[string]{val_go}"
            return self._map(val_check, go, val_zero), go, None
        if types and types <= {"string", "integer", "number", "boolean"} and len(types) == 1:
            return _scalar(types.pop(), target.get("format"), go_type)
        return _accept, go_type or "interface {}", None

    def _list(self, item: Check, go_type: str, zero: Callable[[], Any] | None) -> Check:
        normalize = self.normalize and zero is not None

        def check(value: Any) -> bool:
            if type(value) is not list:
                raise _Mismatch(json_kind(value), go_type)
            unknown = False
            for i, child in enumerate(value):
                if child is None:
                    if normalize:
                        value[i] = zero()  # type: ignore[misc]
                elif item(child):
                    unknown = True
            return unknown

        return check

    def _map(self, val: Check, go_type: str, zero: Callable[[], Any] | None) -> Check:
        normalize = self.normalize and zero is not None

        def check(value: Any) -> bool:
            if type(value) is not dict:
                raise _Mismatch(json_kind(value), go_type)
            unknown = False
            for key, child in value.items():
                if child is None:
                    if normalize:
                        value[key] = zero()  # type: ignore[misc]
                elif val(child):
                    unknown = True
            return unknown

        return check


_PLAIN = _Compiler(normalize=False)
_NORMALIZING = _Compiler(normalize=True)
"""Shared by every kind: a definition (ObjectMeta, PodSpec...) is compiled once per mode."""


# ---- scalars ------------------------------------------------------------------------------------


def _scalar(kind: str, fmt: Any, named: str | None) -> tuple[Check, str, Callable[[], Any]]:
    if kind == "string":
        go = named or ("[]uint8" if fmt == "byte" else "string")
        return _string_check(go), go, str
    if kind == "boolean":
        go = named or "bool"
        return _bool_check(go), go, bool
    if kind == "number":
        go = named or "float64"
        return _number_check(go), go, float
    go_int = fmt if fmt in _INT_RANGES else "int64"
    go = named or go_int
    return _int_check(go, *_INT_RANGES[go_int]), go, int


def _string_check(go_type: str) -> Check:
    def check(value: Any) -> None:
        if type(value) is not str:
            raise _Mismatch(json_kind(value), go_type)

    return check


def _bool_check(go_type: str) -> Check:
    def check(value: Any) -> None:
        if type(value) is not bool:
            raise _Mismatch(json_kind(value), go_type)

    return check


def _number_check(go_type: str) -> Check:
    def check(value: Any) -> None:
        if type(value) is not int and type(value) is not float:
            raise _Mismatch(json_kind(value), go_type)

    return check


def _int_check(go_type: str, low: int, high: int) -> Check:
    def check(value: Any) -> None:
        if type(value) is int:
            if low <= value <= high:
                return
            raise _Mismatch(f"number {value}", go_type)
        if type(value) is float:
            raise _Mismatch(f"number {_number_text(value)}", go_type)
        raise _Mismatch(json_kind(value), go_type)

    return check


def _number_text(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") and "e" not in text else text


_int32 = _int_check("int32", *_INT_RANGES["int32"])


def _int_or_string(value: Any) -> None:
    """IntOrString's decoder: a JSON string, else the value decoded into an int32."""
    if type(value) is not str:
        _int32(value)


_CANONICAL_QUANTITY = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?")


def _quantity(value: Any) -> None:
    """Quantity's decoder parses the string's text (or the number's literal); null is zero."""
    if type(value) is int:
        return
    if isinstance(value, bool) or not isinstance(value, str | float):
        raise DecodeError(_QUANTITY_ERROR)
    text = value.strip() if isinstance(value, str) else _number_text(value)
    if _CANONICAL_QUANTITY.fullmatch(text) is None and quantity.parse_or_none(text) is None:
        raise DecodeError(_QUANTITY_ERROR)


def _time_check(*, micro: bool) -> Check:
    fast = MICRO_SHAPE if micro else TIME_SHAPE

    def check(value: Any) -> None:
        if type(value) is not str:
            raise _Mismatch(json_kind(value), "string")
        m = fast.fullmatch(value)
        if m is not None and 1 <= int(m[3]) <= 28:  # every month has days 1-28: no calendar check needed
            return
        problem = go_time_error(value, micro=micro)
        if problem is not None:
            raise DecodeError(problem)

    return check
