from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan._lib.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("4s", 4), ("5m", 300), ("1h30m", 5400), ("1.5h", 5400), ("10", 10), ("2m0.5s", 120.5)],
)
def test_parse_upstream_spellings(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m5", "1h-2m", "abc"])
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**7))
def test_format_round_trips_whole_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
