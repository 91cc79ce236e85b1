"""Resource lists (``{"pods": Quantity(3), "requests.cpu": Quantity("500m")}``) and upstream's quota
helpers over them (``quota.Add``, ``SubtractWithNonNegativeResult``, ``Mask``, ``LessThanOrEqual``...).
Functions return new maps; their inputs are never changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sampan.api.quantity import Quantity, parse_or_none

ResourceList = dict[str, Quantity]

ZERO = Quantity(0)


def parse(raw: Any) -> ResourceList:
    """A wire ``ResourceList`` (names to quantity strings), unparsable values skipped."""
    out: ResourceList = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            q = parse_or_none(value)
            if q is not None:
                out[str(name)] = q
    return out


def to_wire(values: Mapping[str, Quantity]) -> dict[str, str]:
    return {name: str(q) for name, q in sorted(values.items())}


def add(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> ResourceList:
    """``a + b``; a zero in ``a`` takes the format of what is added to it (``0 + 512Mi = 512Mi``)."""
    out = dict(a)
    for name, q in b.items():
        mine = out.get(name)
        out[name] = q if mine is None or mine.is_zero() else mine + q
    return out


def subtract(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> ResourceList:
    out = dict(a)
    for name, q in b.items():
        out[name] = out[name] - q if name in out else -q
    return out


def subtract_non_negative(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> ResourceList:
    """``a - b`` with every value floored at zero (names only in ``b`` become zero)."""
    return {name: (q if q >= ZERO else Quantity(0, q.format)) for name, q in subtract(a, b).items()}


def mask(values: Mapping[str, Quantity], names: Iterable[str]) -> ResourceList:
    keep = set(names)
    return {name: q for name, q in values.items() if name in keep}


def remove_zeros(values: Mapping[str, Quantity]) -> ResourceList:
    return {name: q for name, q in values.items() if not q.is_zero()}


def negative(values: Mapping[str, Quantity]) -> list[str]:
    return sorted(name for name, q in values.items() if q < ZERO)


def exceeded(values: Mapping[str, Quantity], limits: Mapping[str, Quantity]) -> list[str]:
    """Names whose value is above its limit (names without a limit never exceed), sorted."""
    return sorted(name for name, q in values.items() if name in limits and q > limits[name])


def pretty(values: Mapping[str, Quantity]) -> str:
    """Upstream's ``prettyPrint``: ``name=value`` sorted by name, joined by commas."""
    return ",".join(f"{name}={values[name]}" for name in sorted(values))


def equal(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] for k in a)
