"""Numbers for people: FLOP with units in and out, durations, instants, watts, bytes, km and
rounded floats; bad input refused with the accepted forms named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausebutton.errors import DataError, UsageError
from pausebutton.protocol.flop import MAX_COUNTER, format_flop, parse_flop
from pausebutton.protocol.times import parse_instant
from pausebutton.protocol.units import (
    MAX_DURATION,
    format_bytes,
    format_duration,
    format_instant,
    format_km,
    format_megawatts,
    format_watts,
    parse_duration,
    round_float,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3e25", 3 * 10**25),
        ("30 YFLOP", 3 * 10**25),
        ("30YFLOP", 3 * 10**25),
        ("3e25 FLOP", 3 * 10**25),
        ("1.5 ZFLOP", 15 * 10**20),
        ("500 kFLOP", 500_000),
        ("2 QFLOP", 2 * 10**30),
        ("1_000 FLOP", 1000),
        ("12345", 12345),
    ],
)
def test_flop_with_units_reads_exactly(text: str, value: int) -> None:
    assert parse_flop(text) == value


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("30 yFLOP", "ambiguous"),  # yocto, not yotta
        ("3e25 FLOPS", "a rate"),
        ("1e25 FLOP/s", "a rate"),
        ("5 MW", "not FLOP"),
        ("1.5 FLOP", "whole"),
        ("1 mFLOP", "prefix"),
    ],
)
def test_bad_flop_units_are_refused_with_the_accepted_forms(text: str, says: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_flop(text, "--budget", error=UsageError)
    message = str(info.value)
    assert says in message and "--budget" in message
    if says != "whole":
        assert "YFLOP" in message  # the accepted forms are listed


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3 * 10**25, "3.0e25 FLOP"),
        (125 * 10**16, "1.25e18 FLOP"),
        (2101 * 10**18, "2.1e21 FLOP"),
        (999_999, "999999 FLOP"),
        (0, "0 FLOP"),
        (MAX_COUNTER, "3.4e38 FLOP"),
    ],
)
def test_flop_prints_for_people(value: int, text: str) -> None:
    assert format_flop(value) == text
    assert format_flop(str(value)) == text  # the API's decimal string


@given(st.integers(min_value=10**6, max_value=10**60))
def test_printed_flop_reads_back_within_its_rounding(value: int) -> None:
    back = parse_flop(format_flop(value))
    assert abs(back - value) <= value // 200  # three significant digits


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90d", 90 * 86400),
        ("12h", 43200),
        ("30m", 1800),
        ("45s", 45),
        ("3600", 3600),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2w", 14 * 86400),
        ("1y", 365 * 86400),
    ],
)
def test_durations_read(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1M", "minutes are m"),
        ("1.5h", "not a duration"),
        ("0s", "positive"),
        ("101y", "longer than"),
        ("5x", "units are s, m, h, d, w, y"),
        ("1h1h", "twice"),
        ("-5m", "not a duration"),
    ],
)
def test_bad_durations_are_refused(text: str, says: str) -> None:
    with pytest.raises(DataError, match=says):
        parse_duration(text, "--valid-for")


@given(st.integers(min_value=1, max_value=MAX_DURATION))
def test_durations_print_exactly_and_read_back(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert format_duration(90 * 86400) == "90d" and format_duration(5400) == "1h 30m"


def test_instants_print_in_iso_8601_utc_and_read_back() -> None:
    assert format_instant(1767225600) == "2026-01-01T00:00:00Z"
    assert parse_instant(format_instant(1799011597)) == 1799011597
    assert format_instant(None) == "—"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.3270758399999999, "0.327"),
        (1234.5678, "1230"),
        (12.0, "12"),
        (3.1e9, "3.1e9"),
        (0.000012345, "1.23e-5"),
        (-2.5, "-2.5"),
    ],
)
def test_floats_round_for_people(value: float, text: str) -> None:
    assert round_float(value) == text


def test_units_print_with_prefixes() -> None:
    assert format_megawatts(0.3270758399999999) == "327 kW"
    assert format_megawatts(150) == "150 MW"
    assert format_watts(450) == "450 W"
    assert format_bytes(812) == "812 B" and format_bytes(1536) == "1.5 KiB"
    assert format_bytes(64 << 20) == "64 MiB"
    assert format_km(327.12345) == "327 km" and format_km(None) == "—"
