from __future__ import annotations

import math

import pytest

from pausebutton.detect.units import Dimension, parse_quantity, quantity
from pausebutton.errors import DataError, UnitError


@pytest.mark.parametrize(
    ("text", "dim", "value"),
    [
        ("12 MW", Dimension.POWER, 12e6),
        ("1.5GW", Dimension.POWER, 1.5e9),
        ("700 W", Dimension.POWER, 700.0),
        ("3 kW", Dimension.POWER, 3000.0),
        ("2 MWh", Dimension.ENERGY, 2000.0),
        ("5e3 kWh", Dimension.ENERGY, 5000.0),
        ("3.6 MJ", Dimension.ENERGY, 1.0),
        ("1 GWh", Dimension.ENERGY, 1e6),
    ],
)
def test_units_normalise(text: str, dim: Dimension, value: float) -> None:
    q = parse_quantity(text)
    assert q.dimension is dim
    assert math.isclose(q.value, value)


def test_power_is_not_energy() -> None:
    with pytest.raises(UnitError, match="expected a unit of energy"):
        parse_quantity("12 MW", Dimension.ENERGY)
    with pytest.raises(UnitError):
        parse_quantity("12 kWh", Dimension.POWER)
    with pytest.raises(UnitError):
        quantity(1, "MW", Dimension.ENERGY)
    q = parse_quantity("1 kWh")
    with pytest.raises(UnitError):
        _ = q.watts


def test_bare_number_and_unknown_unit_refused() -> None:
    with pytest.raises(UnitError, match="no unit"):
        parse_quantity("12")
    with pytest.raises(UnitError, match="unknown unit"):
        parse_quantity("12 mw")  # milliwatt or megawatt? never guessed
    with pytest.raises(UnitError, match="unknown unit"):
        parse_quantity("12 horsepower")
    with pytest.raises(DataError):
        parse_quantity("lots")


def test_negative_and_nonfinite_refused() -> None:
    with pytest.raises(DataError, match="negative"):
        parse_quantity("-5 MWh")
    with pytest.raises(DataError, match="finite"):
        quantity(float("inf"), "MW")
