"""The simulated world: Epoch AI's existing GPU clusters scaled to a stock of chips.

Each existing cluster with a known country and an H100-equivalent count becomes a
facility; the stock (``world.stock_chips``, one chip = one H100-equivalent) is spread over
the facilities in proportion to their H100-equivalents (largest remainders), so chip
``i`` of the world sits at a fixed facility and country. The assumption is stated in
:data:`pausebutton.regime.scenario.STOCK_ASSUMPTION`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pausebutton import data
from pausebutton.authority.epoch import CLUSTERS, COUNTRIES
from pausebutton.errors import DataError
from pausebutton.regime.scenario import Scenario

EPOCH_CREDIT = (
    "Epoch AI, 'Data on GPU Clusters'. Published online at epoch.ai. Retrieved from"
    " 'https://epoch.ai/data/gpu-clusters' (CC BY 4.0)."
)


@dataclass(frozen=True)
class Facility:
    name: str
    country: str
    h100e: float


def read_facilities() -> list[Facility]:
    """Existing clusters with a known country and H100-equivalents (bundled Epoch AI data)."""
    path = data.epoch_dir() / CLUSTERS
    out: list[Facility] = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("Status") != "Existing":
                continue
            country = COUNTRIES.get(row.get("Country", ""))
            try:
                h100e = float(row.get("H100 equivalents") or "")
            except ValueError:
                continue
            if country is None or not h100e > 0:
                continue
            out.append(Facility(row["Name"], country, h100e))
    if not out:
        raise DataError(f"{path}: no existing clusters with a country and H100-equivalents")
    return out


@dataclass(frozen=True)
class World:
    """The fleet's layout: chip ``i`` is at facility ``searchsorted(starts, i, 'right') - 1``."""

    countries: tuple[str, ...]
    member: npt.NDArray[np.bool_]
    """Per country: a member state of the regime."""
    facility_country: npt.NDArray[np.int32]
    facility_starts: npt.NDArray[np.int64]
    """First chip index of each facility (ascending; facility f holds starts[f]..starts[f+1])."""
    stock: int
    source_h100e: float
    """H100-equivalents of the Epoch table before scaling."""

    @property
    def facilities(self) -> int:
        return len(self.facility_country)

    def country_index(self, code: str) -> int:
        try:
            return self.countries.index(code)
        except ValueError:
            raise DataError(
                f"country {code!r} has no facility in the world data;"
                f" known: {list(self.countries)}",
                field="country",
            ) from None

    def chips_country(self, start: int, stop: int) -> npt.NDArray[np.int32]:
        """The country index of chips ``start`` .. ``stop - 1``."""
        ids = np.arange(start, stop, dtype=np.int64)
        fac = np.searchsorted(self.facility_starts, ids, side="right") - 1
        return self.facility_country[fac]

    def chips_per_country(self) -> npt.NDArray[np.int64]:
        sizes = np.diff(np.append(self.facility_starts, self.stock))
        return np.bincount(
            self.facility_country, weights=sizes, minlength=len(self.countries)
        ).astype(np.int64)

    def facilities_per_country(self) -> npt.NDArray[np.int64]:
        return np.bincount(self.facility_country, minlength=len(self.countries)).astype(np.int64)


def build(scenario: Scenario, facilities: list[Facility] | None = None) -> World:
    """The world of ``scenario``: Epoch facilities scaled to ``world.stock_chips``."""
    facs = read_facilities() if facilities is None else facilities
    countries = tuple(sorted({f.country for f in facs}))
    weights = np.array([f.h100e for f in facs], dtype=np.float64)
    stock = scenario.world.stock_chips
    exact = weights / weights.sum() * stock
    sizes = np.floor(exact).astype(np.int64)
    rest = stock - int(sizes.sum())
    if rest:
        sizes[np.argsort(-(exact - sizes), kind="stable")[:rest]] += 1
    keep = sizes > 0
    sizes = sizes[keep]
    fac_country = np.array([countries.index(f.country) for f in facs], dtype=np.int32)[keep]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    members = scenario.world.members
    if members == "all":
        member = np.ones(len(countries), dtype=bool)
    else:
        unknown = sorted(set(members) - set(countries))
        if unknown:
            raise DataError(
                f"world.members names {unknown}, which have no facility in the world data;"
                f" known: {list(countries)}",
                field="world.members",
            )
        member = np.array([c in members for c in countries], dtype=bool)
    return World(countries, member, fac_country, starts, stock, float(weights.sum()))
