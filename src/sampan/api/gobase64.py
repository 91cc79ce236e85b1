"""Base64 as Go's ``encoding/base64.StdEncoding`` decodes it — the decoder behind every ``[]byte`` JSON
field upstream (Secret ``data``, ConfigMap ``binaryData``, ``caBundle``…) and OpenAPI ``format: byte``.

Rules (Go's, which Python's ``base64.b64decode`` does not share): the standard alphabet with ``=``
padding required; ``\\r`` and ``\\n`` anywhere are skipped (a YAML ``|`` block's line breaks are fine);
any other character outside the alphabet, missing or misplaced padding, or data after the padding is an
error naming the byte offset (``illegal base64 data at input byte 4``); bits left over in the last
quantum are ignored (StdEncoding is not strict). :func:`canonical` re-encodes what was decoded, as
upstream writes the field back: padded, no line breaks.
"""

from __future__ import annotations

import base64
import re

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_PAD = ord("=")
_NEWLINES = (ord("\n"), ord("\r"))


class CorruptInput(ValueError):
    """Go's ``base64.CorruptInputError``: ``offset`` is the offending byte's index in the input."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def _skip_newlines(src: bytes, si: int) -> int:
    while si < len(src) and src[si] in _NEWLINES:
        si += 1
    return si


_WELL_FORMED = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_LINE_BREAKS = re.compile(rb"[\r\n]")


def decode(text: str | bytes) -> bytes:
    """Decode ``text`` as Go's ``StdEncoding.DecodeString``; :class:`CorruptInput` when Go would fail.

    Well-formed input (line breaks aside) is decoded by the C codec; anything else goes through the
    byte-by-byte port of Go's decoder, which finds the offset Go reports."""
    src = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    compact = _LINE_BREAKS.sub(b"", src) if b"\n" in src or b"\r" in src else src
    if _WELL_FORMED.fullmatch(compact):
        return base64.b64decode(compact)
    return _decode_slowly(src)


def _decode_slowly(src: bytes) -> bytes:
    out = bytearray()
    si, n = 0, len(src)
    while True:
        quantum = [0, 0, 0, 0]
        j = 0
        length = 4
        finished = False
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out)
                raise CorruptInput(si - j)  # a partial quantum: padding is required
            c = src[si]
            si += 1
            value = _DECODE.get(c)
            if value is not None:
                quantum[j] = value
                j += 1
                continue
            if c in _NEWLINES:
                continue
            if c != _PAD or j < 2:
                raise CorruptInput(si - 1)
            if j == 2:  # "==" expected: the second "=" may follow line breaks
                si = _skip_newlines(src, si)
                if si == n:
                    raise CorruptInput(n)
                if src[si] != _PAD:
                    raise CorruptInput(si - 1)
                si += 1
            si = _skip_newlines(src, si)
            if si < n:
                raise CorruptInput(si)  # data after the padding
            length, finished = j, True
            break
        bits = quantum[0] << 18 | quantum[1] << 12 | quantum[2] << 6 | quantum[3]
        out.extend(bits.to_bytes(3, "big")[: length - 1])
        if finished:
            return bytes(out)


def canonical(text: str) -> str:
    """``text`` decoded as Go does and encoded again as Go writes ``[]byte`` (padded, one line)."""
    return base64.b64encode(decode(text)).decode("ascii")


def is_valid(text: str) -> bool:
    try:
        decode(text)
    except CorruptInput:
        return False
    return True
