"""Cron schedules as CronJobs write them: the five-field standard syntax and the ``@`` descriptors.

:func:`parse` follows the parser upstream's CronJob controller uses (robfig/cron v3 ``ParseStandard``):
fields minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC) and day of week (0-6 or
SUN-SAT); each a comma list of ``*``, ``?``, ``N``, ``N-M`` with an optional ``/step``; descriptors
``@yearly @annually @monthly @weekly @daily @midnight @hourly`` and ``@every <duration>``. Errors are
:class:`ValueError` with robfig's wording (the API server shows it in a 422 cause), so a client sees
the same message as from upstream. Pure; nothing here knows about time zones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DAYS),
)
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_DURATION = re.compile(r"(?:[0-9]*\.?[0-9]+(?:ns|us|µs|ms|s|m|h))+")


@dataclass(frozen=True, slots=True)
class Schedule:
    """The allowed values of each field (``every`` seconds instead, for ``@every``)."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days_of_month: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    days_of_week: frozenset[int] = frozenset()
    every: str = ""


def parse(spec: str) -> Schedule:
    """The schedule ``spec`` describes; ValueError (robfig's message) when it is not valid."""
    text = spec.strip()
    if not text:
        raise ValueError("empty spec string")
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        head, _, rest = text.partition(" ")
        text = rest.strip()
        if not text:
            raise ValueError(f"provided bad location {head.partition('=')[2]}: unknown time zone")
    if text.startswith("@"):
        if text.startswith("@every "):
            duration = text[len("@every "):].strip()
            if not _DURATION.fullmatch(duration):
                raise ValueError(f'failed to parse duration {text}: time: invalid duration "{duration}"')
            return Schedule(every=duration)
        if text not in _DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    sets = [_field(f, lo, hi, names) for f, (lo, hi, names) in zip(fields, _BOUNDS, strict=True)]
    return Schedule(minutes=sets[0], hours=sets[1], days_of_month=sets[2], months=sets[3], days_of_week=sets[4])


def _field(field: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for expr in field.split(","):
        out |= _range(expr, lo, hi, names)
    return frozenset(out)


def _range(expr: str, lo: int, hi: int, names: dict[str, int]) -> set[int]:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise ValueError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if single and low_and_high[0] not in ("*", "?"):
            end = hi  # "N/step" means N-max/step
    else:
        raise ValueError(f"too many slashes: {expr}")
    if start < lo:
        raise ValueError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ValueError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step <= 0:
        raise ValueError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step))


def _int_or_name(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    return _int(text)


def _int(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if value < 0:
        raise ValueError(f"negative number ({value}) not allowed: {text}")
    return value
