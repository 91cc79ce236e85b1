"""String formats a CRD schema may name, checked as upstream's kube-openapi ``strfmt`` registry does.

``check(fmt, value)`` is True when ``value`` (a string) is valid for ``fmt``. Unknown formats and the
numeric formats (``int32``, ``int64``, ``float``, ``double``) always pass: upstream records them for
clients but validates no range for them. ``password`` accepts anything.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import date, datetime

from sampan.api import gobase64

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-{v}[0-9a-f]{3}-{var}[0-9a-f]{3}-[0-9a-f]{12}"
_UUID_RES = {
    "uuid": re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"),
    "uuid3": re.compile("(?i)" + _UUID.replace("{v}", "3").replace("{var}", "[0-9a-f]")),
    "uuid4": re.compile("(?i)" + _UUID.replace("{v}", "4").replace("{var}", "[89ab]")),
    "uuid5": re.compile("(?i)" + _UUID.replace("{v}", "5").replace("{var}", "[89ab]")),
}
_HOSTNAME = re.compile(
    r"(?i)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MAC = re.compile(r"(?i)([0-9a-f]{2}[:-]){5}[0-9a-f]{2}|([0-9a-f]{4}\.){2}[0-9a-f]{4}")
_HEXCOLOR = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_RGBCOLOR = re.compile(r"rgb\(\s*\d{1,3}%?\s*,\s*\d{1,3}%?\s*,\s*\d{1,3}%?\s*\)")
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?"
)
_DURATION = re.compile(r"((\d+(\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h|d|w)\s*)+")
_BSON = re.compile(r"[0-9a-fA-F]{24}")


def _byte(value: str) -> bool:
    return gobase64.is_valid(value)  # strfmt's check is Go's StdEncoding: line breaks allowed


def _date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _date_time(value: str) -> bool:
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value[:10] + "T" + value[11:].upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _ip(version: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return ipaddress.ip_address(value).version == version
        except ValueError:
            return False
    return check


def _cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def _uri(value: str) -> bool:
    return re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S*", value) is not None


def _regex(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


_CHECKS: dict[str, Callable[[str], bool]] = {
    "byte": _byte,
    "date": _date,
    "date-time": _date_time,
    "datetime": _date_time,
    "duration": _regex(_DURATION),
    "hostname": lambda v: len(v) <= 255 and _HOSTNAME.fullmatch(v) is not None,
    "email": _regex(_EMAIL),
    "ipv4": _ip(4),
    "ipv6": _ip(6),
    "cidr": _cidr,
    "mac": _regex(_MAC),
    "uri": _uri,
    "hexcolor": _regex(_HEXCOLOR),
    "rgbcolor": _regex(_RGBCOLOR),
    "bsonobjectid": _regex(_BSON),
    **{name: _regex(rx) for name, rx in _UUID_RES.items()},
}

KNOWN = frozenset(_CHECKS) | {"int32", "int64", "float", "double", "password"}
"""Formats sampan knows; any other string is accepted in a schema and ignored, as upstream does."""


def check(fmt: str, value: str) -> bool:
    """Whether ``value`` is a valid ``fmt``; unknown formats always pass."""
    checker = _CHECKS.get(fmt)
    return True if checker is None else checker(value)
