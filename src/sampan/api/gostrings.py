"""Go's string quoting (``strconv.Quote``, the ``%q`` verb), for messages that must read as upstream's.

``quote("a\\x01")`` is ``"a\\x01"`` with the quotes: printable runes (Unicode letters, marks, numbers,
punctuation, symbols and the ASCII space — Python's ``str.isprintable`` is the same class) are kept,
``\\a \\b \\f \\n \\r \\t \\v \\\\ \\"`` use their short escapes, other runes below U+0080 are ``\\xNN``,
other non-printable runes ``\\uNNNN`` or ``\\UNNNNNNNN`` (lower-case hex). Surrogates, which Go
strings cannot hold, are written as ``\\ufffd`` (Go's replacement for invalid UTF-8).
"""

from __future__ import annotations

_SHORT = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
          "\\": "\\\\", '"': '\\"'}


def _escape(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(text: str) -> str:
    """``text`` as Go's ``strconv.Quote`` writes it (with the surrounding double quotes)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return '"' + "".join(_escape(ch) for ch in text) + '"'
