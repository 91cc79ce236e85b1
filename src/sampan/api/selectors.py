"""Label and field selectors: upstream's query syntax, parsed once, matched many times.

Label selector grammar (apimachinery ``labels.Parse``), requirements joined by ``,`` (AND)::

    key=value  key==value  key!=value  key in (v1,v2)  key notin (v1)  key  !key  key>5  key<5

Keys are qualified names (``[prefix/]name``), values label values. ``!=`` and ``notin`` match objects
*without* the key too, as upstream. Field selectors (``fields.ParseSelector``) are ``field=value``,
``field==value``, ``field!=value`` joined by ``,``; ``\\``, ``\\,`` and ``\\=`` escape inside values.

Invariants: a parsed selector is immutable; ``str(selector)`` is upstream's canonical form
(requirements sorted by key, set values sorted) and re-parses to an equal selector; a bad selector
raises ``ValueError`` with a message naming the offending piece, never anything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sampan.api import validation

EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "in", "notin", "exists", "!", "gt", "lt"

_SET_OPS = (IN, NOT_IN)
_TOKEN_RE = re.compile(r"\s*(==|!=|=|!|\(|\)|,|<|>|[^\s=!(),<>]+)")


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


class _Tokens:
    """A cursor over selector tokens; ``peek()`` is None at the end."""

    def __init__(self, text: str) -> None:
        self.items: list[str] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN_RE.match(text, pos)
            if m is None:  # pragma: no cover - the pattern matches any non-space character
                raise ValueError(f"unable to parse selector near {text[pos:]!r}")
            self.items.append(m.group(1))
            pos = m.end()
        self.i = 0

    def peek(self) -> str | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.i += 1
        return tok


_PUNCT = {"=", "==", "!=", "!", "(", ")", ",", "<", ">"}


def _expect_ident(toks: _Tokens, what: str) -> str:
    tok = toks.take()
    if tok is None or tok in _PUNCT:
        raise ValueError(f"found {_show(tok)}, expected: {what}")
    return tok


def _show(tok: str | None) -> str:
    return "end of string" if tok is None else repr(tok)


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
        """Upstream ``labels.Parse``. ValueError on bad syntax, keys or values."""
        if not isinstance(text, str):
            raise ValueError("label selector must be a string")
        toks = _Tokens(text)
        reqs: list[Requirement] = []
        if toks.peek() is None:
            return cls()
        while True:
            reqs.append(cls._parse_requirement(toks))
            tok = toks.take()
            if tok is None:
                break
            if tok != ",":
                raise ValueError(f"found {_show(tok)}, expected: ',' or end of string")
            if toks.peek() is None:
                raise ValueError("found end of string, expected: identifier after ','")
        return cls(reqs)

    @staticmethod
    def _parse_requirement(toks: _Tokens) -> Requirement:
        if toks.peek() == "!":
            toks.take()
            key = _expect_ident(toks, "identifier after '!'")
            return _requirement(key, DOES_NOT_EXIST, [])
        key = _expect_ident(toks, "identifier")
        op = toks.peek()
        if op is None or op == ",":
            return _requirement(key, EXISTS, [])
        toks.take()
        if op in ("=", "==", "!="):
            nxt = toks.peek()
            # "a=" means the empty value, as upstream.
            value = "" if nxt is None or nxt == "," else _expect_ident(toks, "value")
            return _requirement(key, op, [value])
        if op in (">", "<"):
            return _requirement(key, GT if op == ">" else LT, [_expect_ident(toks, "integer value")])
        if op in ("in", "notin"):
            paren = toks.take()
            if paren != "(":
                raise ValueError(f"found {_show(paren)}, expected: '(' after {op!r}")
            values: list[str] = []
            while True:
                tok = toks.take()
                if tok == ")":
                    if not values:
                        values.append("")
                    break
                if tok == ",":
                    values.append("")  # "a in (,x)" has an empty value, as upstream
                    continue
                if tok is None or tok in _PUNCT:
                    raise ValueError(f"found {_show(tok)}, expected: value or ')' in set for key {key!r}")
                values.append(tok)
                sep = toks.take()
                if sep == ")":
                    break
                if sep != ",":
                    raise ValueError(f"found {_show(sep)}, expected: ',' or ')' in set for key {key!r}")
            return _requirement(key, op, values)
        raise ValueError(f"found {_show(op)}, expected: one of '=', '==', '!=', 'in', 'notin', '<', '>', ','")

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


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str, term: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise ValueError(f"invalid field selector: {term!r}: invalid escape sequence")
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise ValueError(f"invalid field selector: {term!r}: unescaped {ch!r} in value")
        out.append(ch)
        i += 1
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
        """Upstream ``fields.ParseSelector``. ValueError on a term without an operator or field."""
        if not isinstance(text, str):
            raise ValueError("field selector must be a string")
        if text.strip() == "":
            return cls()
        reqs: list[FieldRequirement] = []
        for term in _split_unescaped(text, ","):
            idx, op = _split_term(term)
            if idx < 0:
                raise ValueError(f"invalid selector: '{text}'; can't understand '{term}'")
            field, value = term[:idx].strip(), term[idx + len(op) :]
            if not field:
                raise ValueError(f"invalid field selector: {term!r}: missing field name")
            reqs.append(FieldRequirement(field, NOT_EQUALS if op == NOT_EQUALS else EQUALS, _unescape(value, term)))
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


def _split_term(term: str) -> tuple[int, str]:
    """The first unescaped operator in ``term`` (``!=`` and ``==`` before ``=`` at one position)."""
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        for op in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(op, i):
                return i, op
        i += 1
    return -1, ""
