"""Training-compute estimates from everything known, with cross-validated intervals. Pure.

The ``chips`` estimator (``estimate.py``) multiplies chips x seconds x peak by one
utilisation prior for every run. Real runs differ: reported utilisation, precision,
hardware generation and age, cluster size and year all move it. This model predicts
the log10 ratio ``reported / (chips x seconds x peak)`` from them:

    features: intercept, log10 chips, log10 hours, year, years since the hardware's
    release, TPU, fp32 training, precision unknown, log10 reported MFU and whether it
    was reported

fitted by L1 (median) regression with a small L1 penalty on the slopes (a linear
program solved with scipy's HiGHS; robust to the table's outliers). Intervals are
split-conformal on the absolute out-of-fold residuals (K-fold cross-validation inside the training
data), separately for runs with and without a reported utilisation (Mondrian
conformal): a reported MFU pins the estimate, so its intervals are much narrower.
``evaluate`` measures everything out of sample: an outer K-fold loop refits the whole
procedure (inner folds included) on each training part and judges the held-out part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pausebutton.detect.estimate import Estimate, ModelRecord
from pausebutton.detect.hardware import Hardware, HardwareTable
from pausebutton.errors import DataError

FEATURES = (
    "intercept",
    "log10_chips",
    "log10_hours",
    "year",
    "hardware_age",
    "tpu",
    "fp32",
    "precision_unknown",
    "log10_mfu",
    "mfu_reported",
)
LEVELS: tuple[float, ...] = (0.8, 0.9)
PENALTY = 0.05
"""L1 penalty on the slopes, in units of the summed absolute log10 residual."""
FOLDS = 5
BASE_YEAR = 2020
MIN_GROUP = 8
"""A conformal group with fewer out-of-fold residuals uses all residuals."""


@dataclass(frozen=True)
class Run:
    """What is known about one training run."""

    hardware: Hardware
    chips: float
    hours: float
    year: int | None = None
    precision: str = ""
    """bf16, fp16, fp32, fp8 or "" (unknown)."""
    mfu: float | None = None

    def __post_init__(self) -> None:
        for name in ("chips", "hours"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise DataError(f"{name} must be a positive number, got {value!r}", field=name)
        if self.mfu is not None and not (math.isfinite(self.mfu) and 0 < self.mfu <= 1):
            raise DataError(f"MFU must be in (0, 1], got {self.mfu!r}", field="mfu")
        if self.year is not None and not 1990 <= self.year <= 2100:
            raise DataError(f"year {self.year} is out of range", field="year")

    @property
    def group(self) -> str:
        return "mfu" if self.mfu is not None else "no_mfu"

    def base_flop(self) -> float:
        """chips x seconds x peak (bf16 table peak: the estimator's fixed basis)."""
        return self.chips * self.hours * 3600.0 * self.hardware.peak("bf16")

    def vector(self) -> list[float]:
        release = self.hardware.release_year
        year = self.year if self.year is not None else (release or BASE_YEAR) + 1
        age = max(0.0, year - (release if release is not None else year - 1))
        precision = self.precision.lower()
        return [
            1.0,
            math.log10(self.chips),
            math.log10(self.hours),
            (year - BASE_YEAR) / 5.0,
            age / 5.0,
            1.0 if self.hardware.kind.upper() == "TPU" else 0.0,
            1.0 if precision == "fp32" else 0.0,
            1.0 if precision == "" else 0.0,
            math.log10(self.mfu) if self.mfu is not None else 0.0,
            1.0 if self.mfu is not None else 0.0,
        ]


@dataclass(frozen=True)
class Model:
    coef: tuple[float, ...]
    columns: tuple[int, ...]
    """The FEATURES used (indices)."""
    quantiles: dict[str, dict[float, tuple[float, float]]]
    """Per conformal group, per level: (low, high) residual quantiles (log10)."""
    n: int

    def centre(self, run: Run) -> float:
        x = run.vector()
        return float(sum(c * x[i] for c, i in zip(self.coef, self.columns, strict=True)))

    def interval(self, run: Run, level: float) -> tuple[float, float, float]:
        """(centre, low, high) of log10(reported / base_flop)."""
        group = self.quantiles.get(run.group) or self.quantiles["all"]
        if level not in group:
            raise DataError(f"no calibrated interval at level {level}", field="level")
        lo, hi = group[level]
        c = self.centre(run)
        return c, c + lo, c + hi


def _l1_fit(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    from scipy.optimize import linprog  # ~0.5 s to import: only when a model is fitted

    n, p = x.shape
    # min sum|y - X b| + penalty * sum_{j>0} |b_j|, as an LP in (b+, b-, e+, e-) >= 0
    slope = np.r_[0.0, np.full(p - 1, penalty)]
    c = np.concatenate([slope, slope, np.ones(n), np.ones(n)])
    a = np.hstack([x, -x, np.eye(n), -np.eye(n)])
    res = linprog(c, A_eq=a, b_eq=y, bounds=[(0, None)] * (2 * p + 2 * n), method="highs")
    if res.status != 0:
        raise DataError(f"the compute model's fit failed: {res.message}")
    b: np.ndarray = res.x[:p] - res.x[p : 2 * p]
    return b


def _design(runs: Sequence[Run], columns: Sequence[int]) -> np.ndarray:
    return np.array([[r.vector()[i] for i in columns] for r in runs], dtype=float)


def fit(
    runs: Sequence[Run],
    ratios: Sequence[float],
    *,
    columns: Sequence[int] | None = None,
    folds: int = FOLDS,
    penalty: float = PENALTY,
    by_group: bool = True,
    levels: Sequence[float] = LEVELS,
) -> Model:
    """Fit on ``runs`` and their log10(reported / base_flop) ``ratios``; ``by_group``
    False pools every residual into one interval (no Mondrian groups)."""
    cols = tuple(range(len(FEATURES))) if columns is None else tuple(columns)
    if len(runs) != len(ratios) or len(runs) < 2 * folds:
        raise DataError(f"too few runs to fit the compute model: {len(runs)}")
    x, y = _design(runs, cols), np.asarray(ratios, dtype=float)
    idx = np.arange(len(y))
    residuals: dict[str, list[float]] = {"all": []}
    for k in range(folds):
        test = idx % folds == k
        b = _l1_fit(x[~test], y[~test], penalty)
        for i in idx[test]:
            r = float(y[i] - x[i] @ b)
            residuals["all"].append(r)
            if by_group:
                residuals.setdefault(runs[i].group, []).append(r)
    quantiles = {
        g: {lv: _conformal(v, lv) for lv in levels}
        for g, v in residuals.items()
        if len(v) >= MIN_GROUP
    }
    coef = _l1_fit(x, y, penalty)
    return Model(tuple(float(c) for c in coef), cols, quantiles, len(y))


def _conformal(residuals: Sequence[float], level: float) -> tuple[float, float]:
    """Split-conformal half-width: the ceil((n+1)L)-th smallest |residual| (the
    interval is the centre +- it; coverage >= L for exchangeable runs)."""
    s = sorted(abs(r) for r in residuals)
    n = len(s)
    q = s[min(n, math.ceil((n + 1) * level)) - 1]
    return round(-q, 4), round(q, 4)


@dataclass(frozen=True)
class Evaluation:
    """Out-of-sample figures of one model (outer K-fold)."""

    name: str
    n: int
    median_abs_log10_error: float
    coverage: dict[float, float]
    median_width_x: dict[float, float]
    """Median of high/low over the held-out runs, per level."""
    by_group: dict[str, dict[str, float]]
    points: tuple[tuple[float, float, float, float], ...]
    """(actual, centre, low 80 %, high 80 %) log10 ratios of each held-out run."""

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "median_abs_log10_error": round(self.median_abs_log10_error, 4),
            "coverage": {f"{k:g}": round(v, 4) for k, v in self.coverage.items()},
            "median_width_x": {f"{k:g}": round(v, 2) for k, v in self.median_width_x.items()},
            "by_group": self.by_group,
        }


def evaluate(
    name: str,
    runs: Sequence[Run],
    ratios: Sequence[float],
    *,
    columns: Sequence[int] | None = None,
    folds: int = FOLDS,
    by_group: bool = True,
    penalty: float = PENALTY,
    levels: Sequence[float] = LEVELS,
) -> Evaluation:
    """Refit the whole procedure on each outer training part, judge the held-out part."""
    y = np.asarray(ratios, dtype=float)
    idx = np.arange(len(y))
    centre = np.zeros(len(y))
    if 0.8 not in levels:
        raise DataError("the evaluation levels must include 0.8")
    bounds = {lv: (np.zeros(len(y)), np.zeros(len(y))) for lv in levels}
    for k in range(folds):
        test = idx % folds == k
        train = [int(i) for i in idx if not test[i]]
        model = fit(
            [runs[i] for i in train],
            [ratios[i] for i in train],
            columns=columns,
            by_group=by_group,
            penalty=penalty,
            levels=levels,
        )
        for i in idx[test]:
            for lv in levels:
                c, lo, hi = model.interval(runs[i], lv)
                centre[i] = c
                bounds[lv][0][i], bounds[lv][1][i] = lo, hi
    err = np.abs(y - centre)
    coverage = {
        lv: float(np.mean((y >= lo - 1e-12) & (y <= hi + 1e-12))) for lv, (lo, hi) in bounds.items()
    }
    width = {lv: float(10 ** np.median(hi - lo)) for lv, (lo, hi) in bounds.items()}
    groups: dict[str, dict[str, float]] = {}
    for g in ("mfu", "no_mfu"):
        sel = np.array([r.group == g for r in runs])
        if sel.any():
            lo80, hi80 = bounds[0.8]
            groups[g] = {
                "n": int(sel.sum()),
                "median_abs_log10_error": round(float(np.median(err[sel])), 4),
                "coverage_0.8": round(
                    float(np.mean((y[sel] >= lo80[sel]) & (y[sel] <= hi80[sel]))), 4
                ),
                "median_width_x_0.8": round(float(10 ** np.median(hi80[sel] - lo80[sel])), 2),
            }
    lo80, hi80 = bounds[0.8]
    points = tuple((float(y[i]), float(centre[i]), float(lo80[i]), float(hi80[i])) for i in idx)
    return Evaluation(name, len(y), float(np.median(err)), coverage, width, groups, points)


def runs_from_records(
    records: Sequence[ModelRecord], table: HardwareTable
) -> tuple[list[Run], list[float]]:
    """The runs and their log10(reported / base_flop) from Epoch's notable models rows."""
    runs: list[Run] = []
    ratios: list[float] = []
    for rec in records:
        hw = table.get(rec.hardware)
        run = Run(hw, rec.chips, rec.hours, rec.year, rec.precision, rec.mfu)
        base = run.base_flop()
        if base > 0:
            runs.append(run)
            ratios.append(math.log10(rec.reported_flop / base))
    return runs, ratios


def estimate_run(model: Model, run: Run, level: float = 0.9) -> Estimate:
    """The model's FLOP estimate of ``run`` with its conformal interval at ``level``."""
    base = run.base_flop()
    intervals: dict[float, tuple[float, float]] = {}
    for lv in LEVELS:
        _, lo, hi = model.interval(run, lv)
        intervals[lv] = (base * 10.0**lo, base * 10.0**hi)
    if level not in intervals:
        raise DataError(
            f"no calibrated interval at level {level} (levels: "
            + ", ".join(f"{lv:g}" for lv in LEVELS)
            + ")",
            field="level",
        )
    centre = base * 10.0 ** model.centre(run)
    low, high = intervals[level]
    inputs: dict[str, float | str] = {
        "hardware": run.hardware.name,
        "chips": run.chips,
        "hours": run.hours,
        "precision": run.precision or "unknown",
        "peak_flop_per_s": run.hardware.peak("bf16"),
        "implied_utilisation": round(centre / base, 4),
        "interval_group": run.group,
    }
    if run.year is not None:
        inputs["year"] = run.year
    if run.mfu is not None:
        inputs["mfu"] = run.mfu
    return Estimate(centre, low, high, level, "model", intervals, inputs)
