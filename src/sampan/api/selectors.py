"""Label and field selectors: upstream's query syntax, parsed once, matched many times.

Label selector grammar (apimachinery ``labels.Parse``, in :mod:`sampan.api.labelparser`),
requirements joined by ``,`` (AND)::

    key=value  key==value  key!=value  key in (v1,v2)  key notin (v1)  key  !key  key>5  key<5

Keys are qualified names (``[prefix/]name``), values label values. ``!=`` and ``notin`` match objects
*without* the key too, as upstream. Field selectors (``fields.ParseSelector``) are ``field=value``,
``field==value``, ``field!=value`` joined by ``,`` (empty terms skipped); ``\\``, ``\\,`` and ``\\=``
escape inside values.

Invariants: a parsed selector is immutable; ``str(selector)`` is upstream's canonical form
(requirements sorted by key, set values sorted) and re-parses to an equal selector; a bad selector
raises ``ValueError`` with a message naming the offending piece, never anything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sampan.api import labelparser, validation

EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "in", "notin", "exists", "!", "gt", "lt"
_PARSED_OPS = {">": GT, "<": LT}

_SET_OPS = (IN, NOT_IN)
@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement. ``values`` is sorted; empty for exists / does-not-exist."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        op = self.operator
        if op in (EQUALS, DOUBLE_EQUALS, IN):
            return present and value in self.values
        if op in (NOT_EQUALS, NOT_IN):
            return not present or value not in self.values
        if op == EXISTS:
            return present
        if op == DOES_NOT_EXIST:
            return not present
        if not present:
            return False
        try:
            have, want = int(str(value)), int(self.values[0])
        except ValueError:
            return False
        return have > want if op == GT else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op in _SET_OPS:
            return f"{self.key} {op} ({','.join(self.values)})"
        symbol = {GT: ">", LT: "<"}.get(op, op)
        return f"{self.key}{symbol}{self.values[0]}"


def _requirement(key: str, op: str, values: list[str]) -> Requirement:
    """A validated requirement (upstream ``NewRequirement``)."""
    problems = validation.qualified_name(key)
    if problems:
        raise ValueError(f"invalid label key {key!r}: {'; '.join(problems)}")
    if op in _SET_OPS and not values:
        raise ValueError(f"for 'in', 'notin' operators, values set can't be empty (key {key!r})")
    if op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        raise ValueError(f"exact-match compatibility requires one single value (key {key!r})")
    if op in (EXISTS, DOES_NOT_EXIST) and values:
        raise ValueError(f"values set must be empty for exists and does not exist (key {key!r})")
    if op in (GT, LT):
        if len(values) != 1:
            raise ValueError(f"for 'Gt', 'Lt' operators, exactly one value is required (key {key!r})")
        if not re.fullmatch(r"[-+]?\d+", values[0]):
            raise ValueError(f"for 'Gt', 'Lt' operators, the value must be an integer (key {key!r})")
    else:
        for v in values:
            problems = validation.label_value(v)
            if problems:
                raise ValueError(f"invalid label value {v!r} for key {key!r}: {'; '.join(problems)}")
    return Requirement(key, op, tuple(sorted(set(values))) if op in _SET_OPS else tuple(values))


class LabelSelector:
    """A parsed label selector: the AND of its requirements. Empty matches everything; the
    :meth:`nothing` selector (a nil ``metav1.LabelSelector``) matches nothing."""

    __slots__ = ("_nothing", "requirements")

    def __init__(self, requirements: list[Requirement] | tuple[Requirement, ...] = (), *, nothing: bool = False):
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._nothing = nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    @property
    def empty(self) -> bool:
        """True when the selector has no requirement (and so matches every object)."""
        return not self.requirements and not self._nothing

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self._nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Upstream ``labels.Parse`` (:mod:`sampan.api.labelparser`); ValueError with upstream's text."""
        if not isinstance(text, str):
            raise ValueError("label selector must be a string")
        reqs = [Requirement(key, _PARSED_OPS.get(op, op), tuple(values)) for key, op, values in labelparser.parse(text)]
        return cls(reqs)

    @classmethod
    def from_dict(cls, sel: Any) -> LabelSelector:
        """Upstream ``LabelSelectorAsSelector`` for a metav1.LabelSelector dict: None matches nothing,
        ``{}`` everything. ValueError on a bad operator, key or value."""
        if sel is None:
            return cls.nothing()
        if not isinstance(sel, dict):
            raise ValueError("label selector must be an object")
        reqs: list[Requirement] = []
        match_labels = sel.get("matchLabels") or {}
        if not isinstance(match_labels, dict):
            raise ValueError("matchLabels must be a map of strings")
        for k, v in match_labels.items():
            reqs.append(_requirement(str(k), EQUALS, [v if isinstance(v, str) else str(v)]))
        exprs = sel.get("matchExpressions") or []
        if not isinstance(exprs, list):
            raise ValueError("matchExpressions must be a list")
        ops = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
        for expr in exprs:
            if not isinstance(expr, dict):
                raise ValueError("a matchExpressions item must be an object")
            op = ops.get(expr.get("operator", ""))
            if op is None:
                raise ValueError(f'"{expr.get("operator")}" is not a valid label selector operator')
            values = expr.get("values") or []
            if not isinstance(values, list):
                raise ValueError("matchExpressions values must be a list of strings")
            reqs.append(_requirement(str(expr.get("key", "")), op, [str(v) for v in values]))
        return cls(reqs)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return "LabelSelector(<nothing>)" if self._nothing else f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return self.requirements == other.requirements and self._nothing == other._nothing

    def __hash__(self) -> int:
        return hash((self.requirements, self._nothing))


def format_labels(labels: Mapping[str, str] | None) -> str:
    """Upstream ``labels.FormatLabels``: ``a=b,c=d`` sorted by key, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(sel: Any) -> str:
    """Upstream ``metav1.FormatLabelSelector``: ``<none>`` for an empty or nil selector,
    ``<error>`` for one that does not parse."""
    try:
        parsed = LabelSelector.from_dict(sel)
    except ValueError:
        return "<error>"
    text = str(parsed)
    return text or "<none>"


# ---- field selectors -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """``field operator value``; ``operator`` is ``=`` (``==`` is normalised to it) or ``!=``."""

    field: str
    operator: str
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        have = fields.get(self.field, "")
        return have == self.value if self.operator == EQUALS else have != self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


def escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(text: str) -> list[str]:
    """Upstream ``splitTerms``: split on commas not preceded by an escaping backslash."""
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Upstream ``splitTerm``: (field, operator, raw value) at the first ``!=``, ``==`` or ``=`` — the
    field part knows no escapes — or None."""
    for i in range(len(term)):
        for op in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def unescape_field_value(value: str) -> str:
    """Upstream ``UnescapeValue`` (``\\\\``, ``\\,``, ``\\=``); ValueError with its messages."""
    if not any(ch in value for ch in "\\,="):
        return value
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise ValueError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


class FieldSelector:
    """A parsed field selector (AND of requirements). Empty matches everything."""

    __slots__ = ("requirements",)

    def __init__(self, requirements: list[FieldRequirement] | tuple[FieldRequirement, ...] = ()) -> None:
        self.requirements: list[FieldRequirement] = list(requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """Upstream ``fields.ParseSelector``: terms split on unescaped commas and sorted, empty terms
        skipped (``metadata.name=x,`` is valid), each ``field op value`` split at its first operator
        (an empty field is left for the caller's supported-field check); ValueError otherwise."""
        if not isinstance(text, str):
            raise ValueError("field selector must be a string")
        reqs: list[FieldRequirement] = []
        for term in sorted(_split_terms(text)) if text else []:
            if term == "":
                continue
            split = _split_term(term)
            if split is None:
                raise ValueError(f"invalid selector: '{text}'; can't understand '{term}'")
            field, op, value = split
            reqs.append(FieldRequirement(field, NOT_EQUALS if op == NOT_EQUALS else EQUALS,
                                         unescape_field_value(value)))
        return cls(reqs)

    def fields(self) -> list[str]:
        return [r.field for r in self.requirements]

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(tuple(self.requirements))
