"""Kubernetes resource quantities (``100m``, ``1Gi``, ``1.5``, ``1e3``), exact and comparable.

A :class:`Quantity` holds an exact rational value and the format it was written in: ``BinarySI``
(``Ki Mi Gi Ti Pi Ei``), ``DecimalSI`` (``n u m "" k M G T P E``) or ``DecimalExponent``
(``e3``/``E3``). As upstream:

* precision stops at nano units: finer values round *up* (away from zero) to the next ``1n``;
* ``str()`` is the canonical form: the largest suffix that keeps an integer mantissa in the
  written format (``1000`` -> ``1k``, ``1536Mi`` stays, ``0.5`` -> ``500m``); a binary quantity below
  1024 or with a fraction is printed in DecimalSI (``0.5Gi`` -> ``536870912``, ``512Ki`` stays);
* ``value()`` and ``milli_value()`` round up, as ``Quantity.Value``/``MilliValue`` do.

Equality and ordering compare values only (``1Gi == 1073741824``).
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import Any

BINARY_SI = "BinarySI"
DECIMAL_SI = "DecimalSI"
DECIMAL_EXPONENT = "DecimalExponent"

PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
PATTERN_MSG = f"quantities must match the regular expression '{PATTERN}'"
_RE = re.compile(PATTERN)
_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {v: k for k, v in _DECIMAL.items()}
_BINARY_BY_EXP = {v: k for k, v in _BINARY.items()}
_NANO = Fraction(1, 10**9)


def _round_up_nano(value: Fraction) -> Fraction:
    """Away from zero to a multiple of 1e-9."""
    scaled = value / _NANO
    if scaled.denominator == 1:
        return value
    units = math.ceil(scaled) if scaled > 0 else math.floor(scaled)
    return units * _NANO


@functools.total_ordering
class Quantity:
    """An exact quantity. Immutable; hashable by value."""

    __slots__ = ("format", "value_exact")

    def __init__(self, value: Fraction | int, fmt: str = DECIMAL_SI) -> None:
        self.value_exact = _round_up_nano(Fraction(value))
        self.format = fmt

    @classmethod
    def parse(cls, text: Any) -> Quantity:
        """Upstream ``ParseQuantity``; ValueError with upstream's message on anything else. Numbers
        (JSON ints and floats) are accepted as their decimal text."""
        if isinstance(text, bool):
            raise ValueError(PATTERN_MSG)
        if isinstance(text, int | float):
            text = repr(text) if isinstance(text, float) else str(text)
            if "e" in text or "inf" in text or "nan" in text:
                raise ValueError(PATTERN_MSG)
        if not isinstance(text, str):
            raise ValueError(PATTERN_MSG)
        return _parse_text(text)

    # ---- numbers -------------------------------------------------------------------------------

    def value(self) -> int:
        """Whole units, rounded up (``Quantity.Value``)."""
        return math.ceil(self.value_exact)

    def milli_value(self) -> int:
        """Thousandths, rounded up (``Quantity.MilliValue``): cpu ``100m`` -> 100."""
        return math.ceil(self.value_exact * 1000)

    def __float__(self) -> float:
        return float(self.value_exact)

    def is_zero(self) -> bool:
        return self.value_exact == 0

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value_exact + other.value_exact, self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.value_exact - other.value_exact, self.format)

    def __neg__(self) -> Quantity:
        return Quantity(-self.value_exact, self.format)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self.value_exact == other.value_exact
        if isinstance(other, int | Fraction):
            return self.value_exact == other
        return NotImplemented

    def __lt__(self, other: Quantity | int) -> bool:
        theirs = other.value_exact if isinstance(other, Quantity) else Fraction(other)
        return self.value_exact < theirs

    def __hash__(self) -> int:
        return hash(self.value_exact)

    # ---- canonical text ------------------------------------------------------------------------

    def __str__(self) -> str:
        v = self.value_exact
        if v == 0:
            return "0"
        fmt = self.format
        if fmt == BINARY_SI and (abs(v) < 1024 or v.denominator != 1):
            fmt = DECIMAL_SI
        if fmt == BINARY_SI:
            return _binary_text(int(v))
        return _decimal_text(v, fmt)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def to_json(self) -> str:
        return str(self)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Quantity:
    """:meth:`Quantity.parse` of a string. Memoized: a cluster spells its quantities with a few hundred
    distinct texts (``100m``, ``128Mi``), parsed through ``Fraction`` on every pod admission, score and
    status (~18 µs each); a hit is a dict lookup. Sharing one instance between callers is safe because a
    Quantity is never mutated (arithmetic returns new ones). Texts that are not quantities raise and are
    not remembered."""
    text = text.strip()
    m = _RE.match(text)
    if not m or not _NUMBER_RE.fullmatch(m.group(1)):
        raise ValueError(PATTERN_MSG)
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _BINARY:
        return Quantity(number * 2 ** _BINARY[suffix], BINARY_SI)
    if suffix in _DECIMAL:
        return Quantity(number * Fraction(10) ** _DECIMAL[suffix], DECIMAL_SI)
    exp = re.fullmatch(r"[eE]([-+]?\d+)", suffix)
    if exp and abs(int(exp.group(1))) <= 1000:
        return Quantity(number * Fraction(10) ** int(exp.group(1)), DECIMAL_EXPONENT)
    raise ValueError(PATTERN_MSG)


def _binary_text(n: int) -> str:
    exp = 0
    while exp < 60 and n % 1024 == 0:
        n //= 1024
        exp += 10
    return f"{n}{_BINARY_BY_EXP.get(exp, '')}"


def _decimal_text(v: Fraction, fmt: str) -> str:
    # mantissa * 10^exp with exp a multiple of 3, mantissa an integer, exp as large as possible.
    exp = -9
    mantissa = v * 10**9
    assert mantissa.denominator == 1
    m = int(mantissa)
    while m % 1000 == 0 and exp < 18:
        m //= 1000
        exp += 3
    if fmt == DECIMAL_EXPONENT:
        return f"{m}" if exp == 0 else f"{m}e{exp}"
    return f"{m}{_DECIMAL_BY_EXP[exp]}"


def parse_or_none(text: Any) -> Quantity | None:
    """The quantity, or None when ``text`` is not one."""
    try:
        return Quantity.parse(text)
    except ValueError:
        return None
