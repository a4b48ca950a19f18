"""Training-compute estimates with calibrated intervals. Pure.

Two estimators, both ``FLOP = peak FLOP/s x seconds x chips x u`` in disguise:

* ``chips``:  chips x hours x 3600 x peak(hardware) x u
* ``energy``: facility energy / (PUE x server overhead) x (peak / TDP) x u,
  i.e. the energy that reached the accelerators times their FLOP per joule.

``u`` is the utilisation prior (model FLOP utilisation). Its central value and
the interval around every estimate are *calibrated* on Epoch AI's notable AI
models data: for each model with reported training compute, hardware (one
type, named in Epoch's ML hardware table), chip count and training time (and,
for the energy method, training power draw) we compute the log10 residual
``log10(reported / estimate)``. The point estimate uses the median implied
utilisation; the interval at level L spans the empirical (1-L)/2 and (1+L)/2
residual quantiles. Coverage is measured out of sample by 5-fold
cross-validation (:func:`cross_validate`), and the figures are in docs/detect.md
and recomputed by the tests.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pausebutton.detect.hardware import Hardware, HardwareTable
from pausebutton.detect.units import J_PER_KWH, check_finite_nonneg
from pausebutton.errors import DataError

LEVELS: tuple[float, ...] = (0.8, 0.9, 0.95)
DEFAULT_LEVEL = 0.9

DEFAULT_PUE = 1.1
"""Power usage effectiveness assumed when the caller gives none (modern AI data centres)."""

SERVER_OVERHEAD = 1.8
"""Server power / accelerator TDP (CPUs, memory, network, fans). With PUE 1.1 this gives
the ~2.0 facility-to-TDP ratio in Epoch's training power draw figures (median 2.0)."""


@dataclass(frozen=True)
class Calibration:
    """Central utilisation and residual quantiles (log10) by interval level."""

    method: str
    utilisation: float
    quantiles: dict[float, tuple[float, float]]
    n: int


# Computed by ``calibrate(<Epoch notable_ai_models.csv>, <bundled ml_hardware.csv>)``;
# tests/unit/detect/test_detect_calibration.py recomputes them from the data.
CALIBRATION: dict[str, Calibration] = {
    "chips": Calibration(
        "chips",
        0.304,
        {0.8: (-0.3914, 0.4598), 0.9: (-0.6167, 1.2317), 0.95: (-0.8253, 2.4438)},
        137,
    ),
    "energy": Calibration(
        "energy",
        0.307,
        {0.8: (-0.375, 0.4586), 0.9: (-0.5788, 1.1156), 0.95: (-0.8494, 2.4559)},
        136,
    ),
}


@dataclass(frozen=True)
class Estimate:
    """A FLOP estimate with its interval at ``level``, and every level's interval."""

    flop: float
    low: float
    high: float
    level: float
    method: str
    intervals: dict[float, tuple[float, float]]
    inputs: dict[str, float | str]
    flags: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "flop": self.flop,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "method": self.method,
            "intervals": {f"{lv:g}": [lo, hi] for lv, (lo, hi) in sorted(self.intervals.items())},
            "inputs": dict(self.inputs),
            "flags": list(self.flags),
            "label": "estimated",
        }


def _finish(
    point_u1: float,
    method: str,
    level: float,
    inputs: dict[str, float | str],
    flags: tuple[str, ...],
    calibration: dict[str, Calibration] | None,
) -> Estimate:
    cal = (calibration or CALIBRATION)[method]
    if level not in cal.quantiles:
        raise DataError(f"no calibrated interval at level {level}", field="level")
    flop = point_u1 * cal.utilisation
    intervals = {lv: (flop * 10.0**lo, flop * 10.0**hi) for lv, (lo, hi) in cal.quantiles.items()}
    lo, hi = intervals[level]
    inputs = {**inputs, "utilisation_prior": cal.utilisation}
    return Estimate(flop, lo, hi, level, method, intervals, inputs, flags)


def from_chips(
    hw: Hardware,
    chips: float,
    hours: float,
    *,
    precision: str = "bf16",
    level: float = DEFAULT_LEVEL,
    calibration: dict[str, Calibration] | None = None,
) -> Estimate:
    """Compute of ``chips`` accelerators busy for ``hours``."""
    check_finite_nonneg(chips, "chips")
    check_finite_nonneg(hours, "hours")
    point = chips * hours * 3600.0 * hw.peak(precision)
    inputs: dict[str, float | str] = {
        "hardware": hw.name,
        "chips": chips,
        "hours": hours,
        "precision": precision,
        "peak_flop_per_s": hw.peak(precision),
    }
    return _finish(point, "chips", level, inputs, (), calibration)


def from_energy(
    hw: Hardware,
    energy_kwh: float,
    *,
    pue: float = DEFAULT_PUE,
    precision: str = "bf16",
    level: float = DEFAULT_LEVEL,
    calibration: dict[str, Calibration] | None = None,
) -> Estimate:
    """Compute bought by ``energy_kwh`` of facility energy spent on ``hw``."""
    check_finite_nonneg(energy_kwh, "energy_kwh")
    if not (math.isfinite(pue) and 1.0 <= pue <= 5.0):
        raise DataError(f"PUE must be in [1, 5], got {pue!r}", field="pue")
    chip_j = energy_kwh * J_PER_KWH / (pue * SERVER_OVERHEAD)
    point = chip_j * hw.efficiency(precision)
    inputs: dict[str, float | str] = {
        "hardware": hw.name,
        "energy_kwh": energy_kwh,
        "pue": pue,
        "server_overhead": SERVER_OVERHEAD,
        "precision": precision,
        "flop_per_joule": hw.efficiency(precision),
    }
    return _finish(point, "energy", level, inputs, (), calibration)


def estimate(
    hw: Hardware,
    *,
    hours: float,
    power_w: float | None = None,
    chips: float | None = None,
    pue: float = DEFAULT_PUE,
    precision: str = "bf16",
    level: float = DEFAULT_LEVEL,
) -> tuple[Estimate, list[Estimate]]:
    """The best estimate from what is given, and the others as cross-checks.

    With a chip count the ``chips`` method is primary (fewer assumptions);
    with power too, the energy estimate is returned alongside and an
    implausible power per chip (outside 0.1x..10x of TDP x overhead x PUE)
    is flagged in the primary estimate, never silently used.
    """
    check_finite_nonneg(hours, "hours")
    if power_w is None and chips is None:
        raise DataError("give --power-w or --chips (or both)", field="power_w")
    results: list[Estimate] = []
    flags: list[str] = []
    if chips is not None and power_w is not None and chips > 0 and hw.tdp_w is not None:
        expected = hw.tdp_w * SERVER_OVERHEAD * pue
        per_chip = power_w / chips
        if per_chip > 10 * expected or per_chip < 0.1 * expected:
            flags.append(
                f"implausible power per chip: {per_chip:.4g} W against about {expected:.4g} W"
                f" expected for {hw.name} (TDP x server overhead x PUE)"
            )
    if chips is not None:
        results.append(from_chips(hw, chips, hours, precision=precision, level=level))
    if power_w is not None:
        check_finite_nonneg(power_w, "power_w")
        results.append(
            from_energy(hw, power_w * hours / 1e3, pue=pue, precision=precision, level=level)
        )
    primary = results[0]
    if flags:
        primary = Estimate(
            primary.flop,
            primary.low,
            primary.high,
            primary.level,
            primary.method,
            primary.intervals,
            primary.inputs,
            tuple(flags),
        )
    return primary, results[1:]


# -- calibration on Epoch's notable AI models -------------------------------------------


@dataclass(frozen=True)
class ModelRecord:
    """One usable row of Epoch's notable AI models data."""

    name: str
    reported_flop: float
    hardware: str
    chips: float
    hours: float
    power_w: float | None
    year: int | None = None
    """Publication year."""
    precision: str = ""
    """Epoch's numerical format, lower case (bf16, fp16, fp32, fp8), "" if not given."""
    mfu: float | None = None
    """Reported model FLOP utilisation, if given."""


def parse_models_csv(text: str, table: HardwareTable) -> list[ModelRecord]:
    """Rows with reported compute, one known hardware type, chip count and training time."""
    out: list[ModelRecord] = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            flop = float(row.get("Training compute (FLOP)") or "nan")
            chips = float(row.get("Hardware quantity") or "nan")
            hours = float(row.get("Training time (hours)") or "nan")
            pw_text = row.get("Training power draw (W)") or ""
            power = float(pw_text) if pw_text.strip() else None
        except ValueError:
            continue
        names = [h.strip() for h in (row.get("Training hardware") or "").split(",") if h.strip()]
        if len(names) != 1 or names[0] not in table:
            continue
        if not all(math.isfinite(v) and v > 0 for v in (flop, chips, hours)):
            continue
        if power is not None and not (math.isfinite(power) and power > 0):
            power = None
        date = (row.get("Publication date") or "").strip()[:4]
        mfu_text = (row.get("Hardware utilization (MFU)") or "").strip()
        try:
            mfu = float(mfu_text) if mfu_text else None
        except ValueError:
            mfu = None
        if mfu is not None and not (math.isfinite(mfu) and 0 < mfu <= 1):
            mfu = None
        out.append(
            ModelRecord(
                row.get("Model") or "",
                flop,
                names[0],
                chips,
                hours,
                power,
                int(date) if date.isdigit() else None,
                (row.get("Numerical format") or "").strip().lower(),
                mfu,
            )
        )
    out.sort(key=lambda r: r.name)
    return out


def _log_ratio_u1(rec: ModelRecord, table: HardwareTable, method: str) -> float | None:
    hw = table.get(rec.hardware)
    try:
        if method == "chips":
            point = from_chips(hw, rec.chips, rec.hours, calibration=_UNIT).flop
        else:
            if rec.power_w is None or hw.tdp_w is None:
                return None
            point = from_energy(hw, rec.power_w * rec.hours / 1e3, calibration=_UNIT).flop
    except DataError:
        return None
    if point <= 0:
        return None
    return math.log10(rec.reported_flop / point)


_ZERO = {lv: (0.0, 0.0) for lv in LEVELS}
_UNIT = {
    "chips": Calibration("chips", 1.0, _ZERO, 0),
    "energy": Calibration("energy", 1.0, _ZERO, 0),
}


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default) of sorted values."""
    n = len(sorted_values)
    pos = q * (n - 1)
    i = math.floor(pos)
    j = min(i + 1, n - 1)
    return sorted_values[i] + (sorted_values[j] - sorted_values[i]) * (pos - i)


def fit(log_ratios: Sequence[float], method: str) -> Calibration:
    """Calibration from log10(reported / estimate at u=1) values."""
    if len(log_ratios) < 5:
        raise DataError(f"too few calibration rows for {method}: {len(log_ratios)}")
    s = sorted(log_ratios)
    med = _quantile(s, 0.5)
    quantiles = {
        lv: (
            round(_quantile(s, (1 - lv) / 2) - med, 4),
            round(_quantile(s, (1 + lv) / 2) - med, 4),
        )
        for lv in LEVELS
    }
    return Calibration(method, round(10.0**med, 4), quantiles, len(s))


def log_ratios(records: Sequence[ModelRecord], table: HardwareTable, method: str) -> list[float]:
    out: list[float] = []
    for rec in records:
        r = _log_ratio_u1(rec, table, method)
        if r is not None:
            out.append(r)
    return out


def calibrate(records: Sequence[ModelRecord], table: HardwareTable) -> dict[str, Calibration]:
    """Fit both methods on all usable records."""
    return {m: fit(log_ratios(records, table, m), m) for m in ("chips", "energy")}


@dataclass(frozen=True)
class Coverage:
    method: str
    n: int
    nominal: float
    actual: float


def coverage(ratios: Sequence[float], cal: Calibration) -> dict[float, float]:
    """Share of ``ratios`` (log10 reported / estimate at u=1) inside each interval."""
    c = math.log10(cal.utilisation)
    out: dict[float, float] = {}
    for lv, (lo, hi) in cal.quantiles.items():
        inside = sum(1 for r in ratios if c + lo - 1e-9 <= r <= c + hi + 1e-9)
        out[lv] = inside / len(ratios) if ratios else float("nan")
    return out


def cross_validate(ratios: Sequence[float], method: str, folds: int = 5) -> dict[float, float]:
    """Out-of-sample coverage: fit on k-1 folds, count hits on the held-out fold."""
    hits = dict.fromkeys(LEVELS, 0)
    n = 0
    for k in range(folds):
        train = [r for i, r in enumerate(ratios) if i % folds != k]
        test = [r for i, r in enumerate(ratios) if i % folds == k]
        cal = fit(train, method)
        cov = coverage(test, cal)
        for lv in LEVELS:
            hits[lv] += round(cov[lv] * len(test))
        n += len(test)
    return {lv: hits[lv] / n for lv in LEVELS}
