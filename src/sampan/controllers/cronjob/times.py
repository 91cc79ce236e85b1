"""When a cron schedule fires: robfig/cron's ``Schedule.Next`` and upstream's ``mostRecentScheduleTime``.

Times are aware :class:`datetime.datetime` objects; a schedule is evaluated in the CronJob's time zone
(``zoneinfo``) and results are returned in that zone. Invariant: :func:`next_after` is strictly after its
argument and on a whole minute (``@every``: whole second).

Limitations: a field written as an explicit full range (``1-31``) counts as ``*`` for robfig's rule
"day-of-month and day-of-week are ANDed when either is ``*``, ORed otherwise"; wall times skipped or
repeated by a DST change are resolved by ``zoneinfo``'s ``fold=0``, not robfig's exact rules.
"""

from __future__ import annotations

import datetime as dt
import re

from sampan.api.cronschedule import Schedule

_FULL_DOM = frozenset(range(1, 32))
_FULL_DOW = frozenset(range(7))
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_YEARS_AHEAD = 5
MAX_MISSED = 100
"""More missed start times than this earn upstream's ``TooManyMissedTimes`` warning."""


def every_seconds(duration: str) -> float:
    """Seconds of a Go duration such as ``1h30m`` (already validated by the parser)."""
    return sum(float(n) * _UNIT[u] for n, u in re.findall(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)", duration))


def _day_matches(s: Schedule, t: dt.datetime) -> bool:
    dom = t.day in s.days_of_month
    dow = (t.isoweekday() % 7) in s.days_of_week
    if s.days_of_month == _FULL_DOM or s.days_of_week == _FULL_DOW:
        return dom and dow
    return dom or dow


def next_after(s: Schedule, t: dt.datetime) -> dt.datetime | None:
    """The first time after ``t`` (aware, in the schedule's zone) the schedule fires; None if never within
    five years (e.g. ``0 0 30 2 *``)."""
    tz = t.tzinfo
    if s.every:
        step = max(1.0, float(int(every_seconds(s.every))))
        return (t.replace(microsecond=0) + dt.timedelta(seconds=step)).astimezone(tz)
    cur = t.replace(second=0, microsecond=0, tzinfo=None) + dt.timedelta(minutes=1)
    limit = cur.year + _YEARS_AHEAD
    while cur.year <= limit:
        if cur.month not in s.months:
            cur = dt.datetime(cur.year + (cur.month == 12), cur.month % 12 + 1, 1)
            continue
        if not _day_matches(s, cur):
            cur = dt.datetime(cur.year, cur.month, cur.day) + dt.timedelta(days=1)
            continue
        if cur.hour not in s.hours:
            cur = cur.replace(minute=0) + dt.timedelta(hours=1)
            continue
        if cur.minute not in s.minutes:
            cur += dt.timedelta(minutes=1)
            continue
        found = cur.replace(tzinfo=tz)
        if found <= t:  # a DST fold mapped it back
            cur += dt.timedelta(minutes=1)
            continue
        return found
    return None


def most_recent(s: Schedule, earliest: dt.datetime, now: dt.datetime) -> tuple[dt.datetime | None, int]:
    """The latest fire time in ``(earliest, now]`` and how many fire times that interval holds (counting
    stops just past :data:`MAX_MISSED`; the latest is still exact)."""
    latest: dt.datetime | None = None
    count = 0
    t = next_after(s, earliest)
    while t is not None and t <= now:
        latest, count = t, count + 1
        if count > MAX_MISSED:
            return _latest_before(s, now, earliest=t), count
        t = next_after(s, t)
    return latest, count


def _latest_before(s: Schedule, now: dt.datetime, *, earliest: dt.datetime) -> dt.datetime:
    """The last fire time ``<= now`` when one is known to exist at or after ``earliest``."""
    for window in (dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=32), dt.timedelta(days=367)):
        start = max(earliest, now - window)
        latest = None
        t = next_after(s, start - dt.timedelta(microseconds=1))
        while t is not None and t <= now:
            latest = t
            t = next_after(s, t)
        if latest is not None:
            return latest
    latest = earliest
    t = next_after(s, earliest)
    while t is not None and t <= now:
        latest = t
        t = next_after(s, t)
    return latest
