"""Resource quantities: parsing, canonical form, comparison."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.api.quantity import PATTERN_MSG, Quantity, parse_or_none


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("100m", "100m"), ("1Gi", "1Gi"), ("1e3", "1e3"), ("1E3", "1e3"), ("1000", "1k"), ("1500", "1500"),
     ("0.5", "500m"), ("0.5Gi", "512Mi"), ("1.5Gi", "1536Mi"), ("1000Mi", "1000Mi"), ("1024", "1024"),
     ("0.1m", "100u"), ("0.0000000001", "1n"), ("-1k", "-1k"), ("0", "0"), ("12Ki", "12Ki"), ("1.5e3", "1500"),
     ("2e-3", "2e-3"), ("100Mi", "100Mi"), ("5", "5"), (5, "5"), (0.25, "250m")],
)
def test_canonical(text: str, canonical: str) -> None:
    assert str(Quantity.parse(text)) == canonical


@pytest.mark.parametrize("text", ["abc", "1.2.3", "", "Gi", "1ki", "--1", ".", "1e", "1 Gi", True, None, [1]])
def test_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        Quantity.parse(text)
    assert parse_or_none(text) is None


def test_values_and_comparison() -> None:
    assert Quantity.parse("1Gi") == Quantity.parse("1073741824")
    assert Quantity.parse("100m") < Quantity.parse("1")
    assert Quantity.parse("100m").milli_value() == 100
    assert Quantity.parse("1.2").value() == 2  # rounds up like upstream Value()
    assert Quantity.parse("250m") + Quantity.parse("750m") == Quantity.parse("1")
    assert Quantity.parse("1") - Quantity.parse("2") < 0
    assert "quantities" in PATTERN_MSG


@given(st.integers(min_value=-(10**15), max_value=10**15),
       st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "n", "u", "e3", "e-2"]))
def test_canonical_roundtrip(number: int, suffix: str) -> None:
    q = Quantity.parse(f"{number}{suffix}")
    again = Quantity.parse(str(q))
    assert again == q
    assert str(again) == str(q)


@given(st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False, allow_infinity=False))
def test_decimal_values_are_exact(d: object) -> None:
    q = Quantity.parse(str(d))
    assert q.value_exact == Fraction(str(d))


def test_memoized_parse_is_shared_and_unchanged_by_arithmetic() -> None:
    first = Quantity.parse(" 1536Mi ")
    total = first + first - Quantity.parse("1Gi")
    again = Quantity.parse("1536Mi")
    assert again is Quantity.parse("1536Mi")  # the memo's hit
    assert str(again) == "1536Mi"
    assert again.format == "BinarySI"
    assert again.value_exact == 1536 * 2**20
    assert str(total) == "2Gi"


def test_invalid_text_raises_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="quantities must match"):
            Quantity.parse("12x")
        assert parse_or_none("12x") is None
