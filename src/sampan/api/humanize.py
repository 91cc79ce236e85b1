"""Human renderings of times, as upstream's printers write them, and RFC 3339 timestamps.

``age`` is apimachinery's ``HumanDuration``: precision shrinks as durations grow (``90s``, ``3m2s``,
``10m``, ``5h4m``, ``30h``, ``3d4h``, ``40d``, ``2y3d``, ``9y``). Timestamps on the wire are RFC 3339 in
UTC with second precision (``2024-01-02T03:04:05Z``), or microsecond precision for ``MicroTime`` fields
(``2024-01-02T03:04:05.123456Z``: events' ``eventTime``, leases' ``renewTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime

UNKNOWN = "<unknown>"
INVALID = "<invalid>"


def age(seconds: float) -> str:
    """Upstream ``HumanDuration``; a little clock skew (down to -1 s) reads as ``0s``."""
    secs = int(seconds)  # truncates toward zero, like Go's int(d.Seconds())
    if secs < -1:
        return INVALID
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def age_since(timestamp: str | None, now: float) -> str:
    """Upstream ``translateTimestampSince``: the age of an RFC 3339 timestamp at ``now`` (epoch seconds);
    ``<unknown>`` when absent or unparsable."""
    when = parse_rfc3339(timestamp)
    if when is None:
        return UNKNOWN
    return age(now - when)


def parse_rfc3339(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (``Z`` or an offset, optional fraction); None if bad."""
    if not text or not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


_last_rfc3339: tuple[int, str] = (-1, "")
"""The last second :func:`format_rfc3339` formatted (a server stamps many objects within one second)."""


def format_rfc3339(epoch: float) -> str:
    """A metav1.Time: UTC, whole seconds, ``Z`` suffix."""
    global _last_rfc3339
    second = int(epoch)
    last = _last_rfc3339  # one read of the pair: safe against another thread replacing it
    if last[0] == second:
        return last[1]
    text = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _last_rfc3339 = (second, text)
    return text


def format_rfc3339_micro(epoch: float) -> str:
    """A metav1.MicroTime: UTC, six fractional digits, ``Z`` suffix."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
