"""Go's ``time.Parse`` with the RFC 3339 layouts metav1.Time and metav1.MicroTime decode with: which
strings parse, and the error text Go gives for those that do not.

``Time`` uses ``2006-01-02T15:04:05Z07:00`` (any fractional seconds are accepted after the seconds);
``MicroTime`` uses ``2006-01-02T15:04:05.000000Z07:00``, which needs exactly six fractional digits.
Errors read as Go's: ``parsing time "<v>" as "<layout>": cannot parse "<rest>" as "<element>"``,
``parsing time "<v>": month out of range`` (day, hour, minute, second alike) and
``parsing time "<v>": extra text: "<rest>"``.
"""

from __future__ import annotations

import re

__all__ = ["MICRO_SHAPE", "TIME_SHAPE", "go_time_error"]


_RFC3339 = "2006-01-02T15:04:05Z07:00"
_RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
_TWO_DIGITS = re.compile(r"[0-9]{2}")
_CLOCK = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
_ZONE = r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
TIME_SHAPE = re.compile(rf"([0-9]{{4}})-(0[1-9]|1[0-2])-([0-9]{{2}}){_CLOCK}(?:[.,][0-9]+)?{_ZONE}")
MICRO_SHAPE = re.compile(rf"([0-9]{{4}})-(0[1-9]|1[0-2])-([0-9]{{2}}){_CLOCK}[.,][0-9]{{6}}{_ZONE}")
"""Fast paths: well-formed values with in-range fields (days 01-28 need no calendar)."""
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def quote(text: str) -> str:
    """The time package's own quoting in its errors: ``"`` and ``\\`` escaped, every byte of a
    non-ASCII or control character written as ``\\xHH`` (not ``strconv.Quote``'s rules)."""
    out = ['"']
    for ch in text:
        if ch < " " or ch >= "\x80":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        elif ch in ('"', "\\"):
            out.append("\\" + ch)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_time_error(value: str, *, micro: bool) -> str | None:
    """Go's ``time.Parse`` error for ``value`` in the RFC 3339 layout (with exactly six fractional
    digits when ``micro``), or None when it parses."""
    layout = _RFC3339_MICRO if micro else _RFC3339
    rest = value

    def cannot(elem: str) -> str:
        return f"parsing time {quote(value)} as {quote(layout)}: cannot parse {quote(rest)} as {quote(elem)}"

    def out_of_range(what: str) -> str:
        return f"parsing time {quote(value)}: {what} out of range"

    if not re.match(r"[0-9]{4}", rest):
        return cannot("2006")
    year, rest = int(rest[:4]), rest[4:]
    numbers: list[int] = []
    for literal, elem, limit, what in (("-", "01", 12, "month"), ("-", "02", 31, ""), ("T", "15", 23, "hour"),
                                       (":", "04", 59, "minute"), (":", "05", 59, "second")):
        if not rest.startswith(literal):
            return cannot(literal)
        rest = rest[1:]
        if not _TWO_DIGITS.match(rest):
            return cannot(elem)
        n, rest = int(rest[:2]), rest[2:]
        if what and (n > limit or (what == "month" and n == 0)):
            return out_of_range(what)
        numbers.append(n)
    if micro:
        if not re.match(r"[.,][0-9]{6}", rest):
            return cannot(".000000")
        rest = rest[7:]
    elif (m := re.match(r"[.,][0-9]+", rest)) is not None:
        rest = rest[m.end():]
    if rest.startswith("Z"):
        rest = rest[1:]
    elif re.match(r"[+-][0-9]{2}:[0-9]{2}", rest):
        rest = rest[6:]
    else:
        return cannot("Z07:00")
    if rest:
        return f"parsing time {quote(value)}: extra text: {quote(rest)}"
    month, day = numbers[0], numbers[1]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day < 1 or day > _DAYS[month - 1] or (month == 2 and day == 29 and not leap):
        return out_of_range("day")
    return None
