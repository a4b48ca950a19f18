"""Explicit physical units for signals and estimates. Pure.

Every quantity that enters the engine carries its unit. Power is normalised
to watts, energy to kilowatt-hours, durations to hours. A power where an
energy is expected (or the reverse), an unknown unit or a missing unit is a
:class:`~pausebutton.errors.UnitError`; a negative or non-finite value is a
:class:`~pausebutton.errors.DataError`. Nothing is ever guessed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from pausebutton.errors import DataError, UnitError


class Dimension(StrEnum):
    POWER = "power"
    ENERGY = "energy"


POWER_UNITS: dict[str, float] = {"W": 1.0, "kW": 1e3, "MW": 1e6, "GW": 1e9}
"""Power units and their factor to watts."""

ENERGY_UNITS: dict[str, float] = {
    "Wh": 1e-3,
    "kWh": 1.0,
    "MWh": 1e3,
    "GWh": 1e6,
    "J": 1.0 / 3.6e6,
    "MJ": 1.0 / 3.6,
    "GJ": 1e3 / 3.6,
}
"""Energy units and their factor to kilowatt-hours."""

J_PER_KWH = 3.6e6

_QTY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*$")


@dataclass(frozen=True)
class Quantity:
    """A non-negative value in a normalised unit: W for power, kWh for energy."""

    value: float
    dimension: Dimension
    unit_given: str

    @property
    def watts(self) -> float:
        if self.dimension is not Dimension.POWER:
            raise UnitError(f"{self.unit_given} is an energy, not a power", unit=self.unit_given)
        return self.value

    @property
    def kwh(self) -> float:
        if self.dimension is not Dimension.ENERGY:
            raise UnitError(f"{self.unit_given} is a power, not an energy", unit=self.unit_given)
        return self.value


def _lookup(unit: str) -> tuple[Dimension, float]:
    if unit in POWER_UNITS:
        return Dimension.POWER, POWER_UNITS[unit]
    if unit in ENERGY_UNITS:
        return Dimension.ENERGY, ENERGY_UNITS[unit]
    # Accept case variants only where they are unambiguous (mw would be milliwatt).
    known = sorted([*POWER_UNITS, *ENERGY_UNITS])
    raise UnitError(f"unknown unit {unit!r}; known units: {', '.join(known)}", unit=unit)


def check_finite_nonneg(value: float, what: str) -> float:
    """Return ``value`` if it is finite and >= 0, else raise DataError naming ``what``."""
    if not math.isfinite(value):
        raise DataError(f"{what} is not a finite number: {value!r}", field=what)
    if value < 0:
        raise DataError(f"{what} is negative: {value!r}", field=what)
    return value


def quantity(
    value: float, unit: str, expect: Dimension | None = None, what: str = "value"
) -> Quantity:
    """A checked quantity: ``quantity(12, "MW")`` -> 1.2e7 W."""
    dim, factor = _lookup(unit)
    if expect is not None and dim is not expect:
        raise UnitError(
            f"{what}: expected a unit of {expect.value}, got {unit!r} (a unit of {dim.value})",
            unit=unit,
            field=what,
        )
    check_finite_nonneg(float(value), what)
    return Quantity(float(value) * factor, dim, unit)


def parse_quantity(text: str, expect: Dimension | None = None, what: str = "value") -> Quantity:
    """Parse ``"12.5 MW"`` or ``"3e6 kWh"``. A bare number has no unit and is refused."""
    m = _QTY.match(text)
    if not m:
        try:
            float(text)
        except ValueError:
            raise DataError(f"{what}: not a quantity: {text!r}", field=what) from None
        raise UnitError(f"{what}: {text!r} has no unit (say e.g. '{text} MW')", field=what)
    return quantity(float(m.group(1)), m.group(2), expect, what)


def power_to_energy_kwh(watts: float, hours: float) -> float:
    return watts * hours / 1e3


def energy_kwh_to_joules(kwh: float) -> float:
    return kwh * J_PER_KWH
