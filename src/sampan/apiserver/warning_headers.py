"""``Warning`` response headers, written as upstream's warning recorder writes them
(k8s.io/apiserver ``filters.WithWarningRecorder`` and apimachinery's ``NewWarningHeader``).

* one ``Warning: 299 - "<text>"`` header per distinct text, in the order added (duplicates dropped);
  ``"`` and ``\\`` in the text are backslash-escaped;
* a text holding a control character (Go's ``unicode.IsControl``: U+0000 to U+001F, U+007F to U+009F) is
  not sent at all — it could not be a valid header; callers quote user input first (Go's ``%q``,
  :func:`sampan.api.gostrings.quote`), as upstream's messages do;
* at most :data:`TOTAL_RUNES` characters of warning text per response: once a warning would pass the
  limit, every warning so far is cut to :data:`ITEM_RUNES` characters and so is each later one, and
  warnings arriving after the (truncated) total reached the limit are dropped.

Invariant: the headers this writes never contain CR or LF, so writing a response cannot fail on them.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

TOTAL_RUNES = 4 * 1024
ITEM_RUNES = 256
CODE = 299
AGENT = "-"


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


def header_value(text: str, *, agent: str = AGENT, code: int = CODE) -> str | None:
    """The header for one warning, or None when upstream would refuse it (control characters)."""
    if any(_is_control(ch) for ch in text):
        return None
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'{code:03d} {agent} "{escaped}"'


def warning_headers(texts: Iterable[str], *, total: int = TOTAL_RUNES, item: int = ITEM_RUNES) -> list[str]:
    """The ``Warning`` header values a response carries for ``texts`` (see the module rules; ``total``
    and ``item`` are the two limits)."""
    recorded: set[str] = set()
    ordered: list[str] = []
    headers: list[str] = []
    written = 0
    truncating = False
    for text in texts:
        if not text or (truncating and written >= total) or text in recorded:
            continue
        recorded.add(text)
        ordered.append(text)
        if truncating and len(text) > item:
            text = text[:item]
        header = header_value(text)
        if header is None:
            continue
        if truncating or written + len(text) <= total:
            written += len(text)
            headers.append(header)
            continue
        truncating, written, headers = True, 0, []
        for earlier in ordered:
            cut = earlier[:item]
            replayed = header_value(cut)
            if replayed is not None:
                written += len(cut)
                headers.append(replayed)
    return headers


def add_warnings(response: web.StreamResponse, texts: Iterable[str]) -> web.StreamResponse:
    """Add the ``Warning`` headers for ``texts`` to ``response``."""
    for header in warning_headers(texts):
        response.headers.add("Warning", header)
    return response
