"""The JSONPath subset Kubernetes uses in CRD printer columns and scale paths.

Grammar (kubectl's JSONPath without the template parts; an optional ``{...}`` wrapper is accepted)::

    path     := step+
    step     := '.' name | '.' '*' | '..' name | '[' selector ']'
    selector := integer | '*' | quoted-name | integer? ':' integer? | '?(' filter ')'
    filter   := '@' relpath [op literal]          op in == != < <= > >=

``compile_path`` parses once (raising :class:`JSONPathError` with a clear message); ``Path.find``
returns every match in document order, never raising on any document. ``first`` gives the first
match or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9_$-]+")
_LITERAL = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|true|false|null)\s*""")
_OPS = ("==", "!=", "<=", ">=", "<", ">")

Step = Callable[[Any], Iterator[Any]]


class JSONPathError(ValueError):
    """A path outside the supported subset, with the position that broke it."""


@dataclass(frozen=True)
class Path:
    text: str
    steps: tuple[Step, ...]

    def find(self, doc: Any) -> list[Any]:
        """Every value ``doc`` holds at this path."""
        current = [doc]
        for step in self.steps:
            current = [out for value in current for out in step(value)]
        return current

    def first(self, doc: Any) -> Any:
        found = self.find(doc)
        return found[0] if found else None


def compile_path(text: str) -> Path:
    """Parse ``text`` (``.status.conditions[?(@.type=="Ready")].status``)."""
    src = text.strip()
    if src.startswith("{") and src.endswith("}"):
        src = src[1:-1].strip()
    if src.startswith("$"):
        src = src[1:]
    if not src:
        raise JSONPathError("empty JSONPath")
    if src[0] not in ".[":
        raise JSONPathError(f"JSONPath {text!r} must start with '.' or '['")
    steps, pos = _parse_steps(src, 0, text)
    if pos != len(src):
        raise JSONPathError(f"unexpected {src[pos]!r} at position {pos} in JSONPath {text!r}")
    return Path(text, tuple(steps))


def _parse_steps(src: str, pos: int, text: str, *, stop: str = "") -> tuple[list[Step], int]:
    steps: list[Step] = []
    while pos < len(src) and src[pos] not in stop:
        if src.startswith("..", pos):
            m = _NAME.match(src, pos + 2)
            if not m:
                raise JSONPathError(f"expected a name after '..' at position {pos} in JSONPath {text!r}")
            steps.append(_descend(m.group()))
            pos = m.end()
        elif src[pos] == ".":
            if src.startswith(".*", pos):
                steps.append(_wildcard)
                pos += 2
                continue
            m = _NAME.match(src, pos + 1)
            if not m:
                raise JSONPathError(f"expected a field name at position {pos + 1} in JSONPath {text!r}")
            steps.append(_field(m.group()))
            pos = m.end()
        elif src[pos] == "[":
            step, pos = _parse_bracket(src, pos, text)
            steps.append(step)
        else:
            break
    return steps, pos


def _parse_bracket(src: str, pos: int, text: str) -> tuple[Step, int]:
    if src.startswith("[?(", pos):
        return _parse_filter(src, pos + 3, text)
    end = src.find("]", pos)
    if end < 0:
        raise JSONPathError(f"unterminated '[' at position {pos} in JSONPath {text!r}")
    inner = src[pos + 1:end].strip()
    if inner == "*":
        return _wildcard, end + 1
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _field(inner[1:-1]), end + 1
    if re.fullmatch(r"-?\d+", inner):
        return _index(int(inner)), end + 1
    m = re.fullmatch(r"(-?\d+)?:(-?\d+)?", inner)
    if m:
        lo, hi = (int(g) if g else None for g in m.groups())
        return _slice(lo, hi), end + 1
    raise JSONPathError(f"unsupported selector [{inner}] in JSONPath {text!r}")


def _parse_filter(src: str, pos: int, text: str) -> tuple[Step, int]:
    if not src.startswith("@", pos):
        raise JSONPathError(f"a filter must start with '@' in JSONPath {text!r}")
    rel, pos = _parse_steps(src, pos + 1, text, stop="=!<> )")
    while pos < len(src) and src[pos] == " ":
        pos += 1
    op, literal = None, None
    for candidate in _OPS:
        if src.startswith(candidate, pos):
            op = candidate
            m = _LITERAL.match(src, pos + len(candidate))
            if not m:
                raise JSONPathError(f"expected a literal after {candidate!r} in JSONPath {text!r}")
            literal = _literal(m.group(1))
            pos = m.end()
            break
    if not src.startswith(")]", pos):
        raise JSONPathError(f"expected ')]' to close the filter at position {pos} in JSONPath {text!r}")
    relpath = Path("@", tuple(rel))
    return _filter(relpath, op, literal), pos + 2


def _literal(token: str) -> Any:
    if token[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    if token in ("true", "false"):
        return token == "true"
    if token == "null":
        return None
    return float(token) if "." in token else int(token)


def _field(name: str) -> Step:
    def step(value: Any) -> Iterator[Any]:
        if isinstance(value, dict) and name in value:
            yield value[name]
    return step


def _index(i: int) -> Step:
    def step(value: Any) -> Iterator[Any]:
        if isinstance(value, list) and -len(value) <= i < len(value):
            yield value[i]
    return step


def _slice(lo: int | None, hi: int | None) -> Step:
    def step(value: Any) -> Iterator[Any]:
        if isinstance(value, list):
            yield from value[lo:hi]
    return step


def _wildcard(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _descend(name: str) -> Step:
    def step(value: Any) -> Iterator[Any]:
        stack = [value]
        while stack:
            node = stack.pop(0)
            if isinstance(node, dict):
                if name in node:
                    yield node[name]
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return step


def _filter(rel: Path, op: str | None, literal: Any) -> Step:
    def matches(item: Any) -> bool:
        found = rel.find(item)
        if op is None:
            return bool(found)
        if not found:
            return False
        return _compare(found[0], op, literal)

    def step(value: Any) -> Iterator[Any]:
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
        yield from (item for item in items if matches(item))
    return step


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "==":
        if isinstance(left, bool) or isinstance(right, bool):
            return left is right
        return bool(left == right)
    if op == "!=":
        return not _compare(left, "==", right)
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (left, right))
    if not numeric and not (isinstance(left, str) and isinstance(right, str)):
        return False
    return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
