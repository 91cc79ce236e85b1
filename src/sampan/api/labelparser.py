"""The label selector string grammar exactly as apimachinery's ``labels.Parse`` reads it: its lexer,
its recursive-descent parser and its error messages (which the API server returns verbatim as 400s).

    selector    ::= requirement ("," requirement)*          (an empty string selects everything)
    requirement ::= ["!"] KEY [ ("in"|"notin") "(" values ")" | ("="|"=="|"!="|">"|"<") VALUE ]

Lexing is upstream's: blanks are space, tab, CR and LF; ``= ! ( ) , < >`` form the longest operator
they can (``==``, ``!=``), anything else up to the next blank or symbol is an identifier (``in`` and
``notin`` are keywords only where an operator is expected); a NUL character ends the input. Notable
consequences: a trailing or doubled comma is an error (``found '', expected: identifier after ','``),
``a=`` and ``a in (,x)`` hold the empty value, set values are sorted and deduplicated.

:func:`parse` returns ``(key, operator, values)`` triples in input order; every error is a
``ValueError`` carrying upstream's text.
"""

from __future__ import annotations

import re

from sampan.api import validation
from sampan.api.gostrings import quote

IDENT, EOS, COMMA, NOT, EQ, DEQ, NEQ, IN, NOTIN, GT, LT, OPEN, CLOSE = (
    "ident", "eos", ",", "!", "=", "==", "!=", "in", "notin", ">", "<", "(", ")")
_KEYWORDS = {")": CLOSE, ",": COMMA, "!": NOT, "==": DEQ, "=": EQ, ">": GT, "in": IN, "<": LT, "!=": NEQ,
             "notin": NOTIN, "(": OPEN}
_SPECIAL = frozenset("=!(),<>")
_BLANK = frozenset(" \t\r\n")
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"
OPERATOR_NAMES = {IN: "in", NOTIN: "notin", EQ: "=", DEQ: "==", NEQ: "!=", GT: "gt", LT: "lt"}
"""Token -> upstream's ``selection.Operator`` spelling."""
_INT64 = re.compile(r"[+-]?[0-9]+")

Token = tuple[str, str]


def lex(text: str) -> list[Token]:
    """Every token of ``text`` (kind, literal), ending with ``(EOS, "")``."""
    end = text.find("\x00")
    if end >= 0:
        text = text[:end]
    tokens: list[Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _BLANK:
            i += 1
        if i >= n:
            tokens.append((EOS, ""))
            return tokens
        if text[i] in _SPECIAL:
            best, j = "", i
            while j < n and text[j] in _SPECIAL and text[i:j + 1] in _KEYWORDS:
                best, j = text[i:j + 1], j + 1
            tokens.append((_KEYWORDS[best], best))
            i = j
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _BLANK:
            j += 1
        word = text[i:j]
        tokens.append((_KEYWORDS.get(word, IDENT), word))
        i = j


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = lex(text)
        self.pos = 0

    def lookahead(self, *, values: bool = True) -> Token:
        return _as_value(self.items[self.pos]) if values else self.items[self.pos]

    def consume(self, *, values: bool = True) -> Token:
        self.pos += 1
        return _as_value(self.items[self.pos - 1]) if values else self.items[self.pos - 1]

    def parse(self) -> list[tuple[str, str, list[str]]]:
        out: list[tuple[str, str, list[str]]] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (IDENT, NOT):
                try:
                    out.append(self.requirement())
                except ValueError as exc:
                    raise ValueError(f"unable to parse requirement: {exc}") from None
                tok, lit = self.consume()
                if tok == EOS:
                    return out
                if tok == COMMA:
                    nxt, nlit = self.lookahead()
                    if nxt not in (IDENT, NOT):
                        raise ValueError(f"found '{nlit}', expected: identifier after ','")
                    continue
                raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
            if tok == EOS:
                return out
            raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> tuple[str, str, list[str]]:
        operator = ""
        tok, key = self.consume()
        if tok == NOT:
            operator = "!"
            tok, key = self.consume()
        if tok != IDENT:
            raise ValueError(f"found '{key}', expected: identifier")
        problems = validation.qualified_name(key)
        if problems:
            raise ValueError(f"<nil>: Invalid value: {quote(key)}: {'; '.join(problems)}")
        if self.lookahead()[0] in (EOS, COMMA):
            return key, operator or "exists", []
        if operator == "!":
            return key, "!", []
        op, lit = self.consume(values=False)
        if op not in OPERATOR_NAMES:
            raise ValueError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        values = sorted(set(self.set_values() if op in (IN, NOTIN) else self.exact_value()))
        check_values(key, op, values)
        return key, op, values

    def set_values(self) -> list[str]:
        tok, lit = self.consume()
        if tok != OPEN:
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok == CLOSE:
            self.consume()
            return [""]
        if tok not in (IDENT, COMMA):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.consume()[0] != CLOSE:
            raise ValueError(f"found '{lit}', expected: ')'")
        return values

    def identifiers(self) -> list[str]:
        values: list[str] = []
        while True:
            tok, lit = self.consume()
            if tok == IDENT:
                values.append(lit)
                nxt, nlit = self.lookahead()
                if nxt == COMMA:
                    continue
                if nxt == CLOSE:
                    return values
                raise ValueError(f"found '{nlit}', expected: ',' or ')'")
            if tok == COMMA:
                if not values:
                    values.append("")  # "(,"
                nxt = self.lookahead()[0]
                if nxt == CLOSE:
                    values.append("")  # ",)"
                    return values
                if nxt == COMMA:
                    values.append("")  # ",,"
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        if self.lookahead()[0] in (EOS, COMMA):
            return [""]
        tok, lit = self.consume()
        if tok == IDENT:
            return [lit]
        raise ValueError(f"found '{lit}', expected: identifier")


def _as_value(token: Token) -> Token:
    """Where a value is expected, ``in`` and ``notin`` are plain identifiers."""
    return (IDENT, token[1]) if token[0] in (IN, NOTIN) else token


def check_values(key: str, op: str, values: list[str]) -> None:
    """Upstream ``NewRequirement``'s value checks for a parsed requirement (messages joined as an
    aggregate: one as is, several in brackets)."""
    problems: list[str] = []
    if op in (GT, LT):
        for i, value in enumerate(values):
            if not _INT64.fullmatch(value) or not -(2**63) <= int(value) < 2**63:
                problems.append(f"values[{i}]: Invalid value: {quote(value)}: for 'Gt', 'Lt' operators, "
                                "the value must be an integer")
    for i, value in enumerate(values):
        errs = validation.label_value(value)
        if errs:
            problems.append(f"values[{i}][{key}]: Invalid value: {quote(value)}: {'; '.join(errs)}")
    unique = list(dict.fromkeys(problems))
    if len(unique) == 1:
        raise ValueError(unique[0])
    if unique:
        raise ValueError("[" + ", ".join(unique) + "]")


def parse(text: str) -> list[tuple[str, str, list[str]]]:
    """``text`` as ``(key, operator, sorted values)`` triples; operator is a token (``=``, ``==``,
    ``!=``, ``in``, ``notin``, ``>``, ``<``) or ``exists`` / ``!``. ValueError with upstream's text."""
    return _Parser(text).parse()
