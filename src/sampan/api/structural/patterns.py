"""``pattern`` keywords as upstream evaluates them: RE2 syntax (Go's regexp), via google-re2.

Python's ``re`` would accept look-arounds and back-references a CRD author could not use upstream,
and reject nothing upstream accepts differently; RE2 keeps both sides identical. Compiled patterns
are cached; RE2's own error logging is switched off (errors come back as messages).
"""

from __future__ import annotations

import functools
from typing import Any

import re2  # type: ignore[import-untyped]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> Any:
    return re2.compile(pattern, _OPTIONS)


def error(pattern: str) -> str | None:
    """None when ``pattern`` is a valid RE2 expression, else the parser's message."""
    try:
        _compile(pattern)
    except re2.error as err:
        detail = err.args[0] if err.args else err
        return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
    return None


def matches(pattern: str, value: str) -> bool:
    """Whether ``value`` contains a match of ``pattern`` (unanchored, as JSON Schema says); an invalid
    pattern matches everything (the CRD-time check reports it)."""
    try:
        return _compile(pattern).search(value) is not None
    except re2.error:
        return True
