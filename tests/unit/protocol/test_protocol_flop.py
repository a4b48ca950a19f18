"""The FLOP syntax: exact whole numbers in plain or scientific notation, one set of rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausebutton.errors import DataError, UsageError
from pausebutton.protocol.flop import MAX_COUNTER, MAX_EXPONENT, MAX_TEXT, parse_flop


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("12345", 12345),
        ("1e25", 10**25),
        ("1E25", 10**25),
        ("1e+18", 10**18),
        ("3.5e24", 35 * 10**23),
        ("1_000_000", 10**6),
        ("  42 ", 42),
        ("+7", 7),
        ("250e-2", None),  # 2.5: not whole
        ("2500e-2", 25),
        (".5e1", 5),
        ("5.", 5),
        ("5.000", 5),
        ("1e100", 10**100),
    ],
)
def test_accepted_and_exact(text: str, value: int | None) -> None:
    if value is None:
        with pytest.raises(DataError, match="not a whole"):
            parse_flop(text)
    else:
        assert parse_flop(text) == value


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        "x",
        "e5",
        ".",
        "1.5",
        "1e-3",
        "-3",
        "-1e3",
        "nan",
        "inf",
        "0x10",
        "1e",
        "1e1.5",
        "1e101",
        "1e-101",
        "9" * (MAX_TEXT + 1),
        "١٢",
        "1 000",
    ],
)
def test_refused_with_the_callers_error_and_field(bad: str) -> None:
    with pytest.raises(DataError) as info:
        parse_flop(bad, "flop_budget")
    assert info.value.details["field"] == "flop_budget"
    assert info.value.message.startswith("flop_budget: ")
    with pytest.raises(UsageError):
        parse_flop(bad, "--flop", error=UsageError)


def test_hostile_sizes_are_refused_before_any_big_arithmetic() -> None:
    # 10**(10**9) would take minutes and gigabytes; the exponent bound refuses it at once
    with pytest.raises(DataError, match="exponent"):
        parse_flop("1e1000000000")
    assert MAX_EXPONENT == 100


@given(st.integers(min_value=0, max_value=10**60))
def test_plain_digits_round_trip(n: int) -> None:
    assert parse_flop(str(n)) == n
    assert parse_flop(f"{n:_}") == n


@given(st.integers(min_value=0, max_value=10**20), st.integers(min_value=0, max_value=40))
def test_scientific_notation_is_exact(mantissa: int, exponent: int) -> None:
    assert parse_flop(f"{mantissa}e{exponent}") == mantissa * 10**exponent


@given(st.decimals(min_value=0, max_value=Decimal("1e30"), places=3, allow_nan=False))
def test_agrees_with_decimal_on_whole_values(d: Decimal) -> None:
    text = f"{d:e}"
    if d == d.to_integral_value():
        assert parse_flop(text) == int(d)
    else:
        with pytest.raises(DataError):
            parse_flop(text)


def test_a_maximum_bounds_the_count() -> None:
    assert parse_flop(str(MAX_COUNTER), maximum=MAX_COUNTER) == 2**128 - 1
    with pytest.raises(UsageError, match="largest count"):
        parse_flop(str(2**128), "--flop", error=UsageError, maximum=MAX_COUNTER)
    with pytest.raises(DataError, match="largest count"):
        parse_flop("1e39", maximum=MAX_COUNTER)
    assert parse_flop("1e100") == 10**100  # no maximum: any size
