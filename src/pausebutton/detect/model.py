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
data), separately per group of runs (Mondrian conformal): runs with a reported utilisation
(it pins the estimate), and the others split by cluster size. Small runs are where the
reported compute is least tied to chips x time (fine-tunes counted with their base model,
part-time use of a cluster, round figures), so large clusters get much narrower intervals.
The split (``chips >= cluster``) is chosen inside ``fit`` from ``CLUSTER_SPLITS``, on the
training runs' out-of-fold residuals only (the narrowest median 80 % interval with at least
``MIN_SPLIT_GROUP`` runs on each side), so the outer evaluation stays out of sample.
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
MIN_TAIL = 2
"""A group's interval at level L needs MIN_TAIL / (1 - L) residuals (at least MIN_TAIL beyond
its quantile): a smaller group's tail rests on one or two runs and uses all residuals."""
CLUSTER_SPLITS: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
"""Candidate cluster sizes (chips) splitting the runs without a reported utilisation."""
MIN_SPLIT_GROUP = 20
"""Each side of a cluster split needs this many out-of-fold residuals."""


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
        """Reported utilisation or not (the first split of the conformal groups)."""
        return "mfu" if self.mfu is not None else "no_mfu"

    def group_at(self, cluster: int | None) -> str:
        """The conformal group: ``mfu``, or ``no_mfu`` split at ``cluster`` chips
        (``no_mfu_large`` / ``no_mfu_small``; ``no_mfu`` when ``cluster`` is None)."""
        if self.mfu is not None or cluster is None:
            return self.group
        return "no_mfu_large" if self.chips >= cluster else "no_mfu_small"

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


Grouping = tuple[bool, int | None]
"""How runs are grouped for their intervals: (by reported MFU or not, cluster split in chips
of the runs without one, or None)."""


def group_name(run: Run, grouping: Grouping) -> str:
    """``all``; or ``mfu`` / ``no_mfu``; or ``mfu`` / ``no_mfu_large`` / ``no_mfu_small``."""
    by_mfu, cluster = grouping
    return run.group_at(cluster) if by_mfu else "all"


@dataclass(frozen=True)
class Model:
    coef: tuple[float, ...]
    columns: tuple[int, ...]
    """The FEATURES used (indices)."""
    quantiles: dict[float, dict[str, tuple[float, float]]]
    """Per level, per conformal group: (low, high) residual quantiles (log10)."""
    n: int
    groupings: dict[float, Grouping]
    """Per level, the grouping chosen on the training runs' out-of-fold residuals."""

    def group_of(self, run: Run, level: float = 0.8) -> str:
        grouping = self.groupings.get(level, (False, None))
        name = group_name(run, grouping)
        return name if name in self.quantiles.get(level, {}) else "all"

    def centre(self, run: Run) -> float:
        x = run.vector()
        return float(sum(c * x[i] for c, i in zip(self.coef, self.columns, strict=True)))

    def interval(self, run: Run, level: float) -> tuple[float, float, float]:
        """(centre, low, high) of log10(reported / base_flop)."""
        if level not in self.quantiles:
            raise DataError(f"no calibrated interval at level {level}", field="level")
        lo, hi = self.quantiles[level][self.group_of(run, level)]
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
    oof = np.zeros(len(y))
    for k in range(folds):
        test = idx % folds == k
        b = _l1_fit(x[~test], y[~test], penalty)
        oof[test] = y[test] - x[test] @ b
    groupings: dict[float, Grouping] = {}
    quantiles: dict[float, dict[str, tuple[float, float]]] = {}
    for level in levels:
        grouping = _choose_grouping(runs, oof, level) if by_group else (False, None)
        groupings[level] = grouping
        quantiles[level] = _group_quantiles(runs, oof, grouping, level)
    coef = _l1_fit(x, y, penalty)
    return Model(tuple(float(c) for c in coef), cols, quantiles, len(y), groupings)


def _group_quantiles(
    runs: Sequence[Run], residuals: np.ndarray, grouping: Grouping, level: float
) -> dict[str, tuple[float, float]]:
    groups: dict[str, list[float]] = {"all": [float(r) for r in residuals]}
    for run, r in zip(runs, residuals, strict=True):
        name = group_name(run, grouping)
        if name != "all":
            groups.setdefault(name, []).append(float(r))
    least = max(MIN_GROUP, math.ceil(MIN_TAIL / (1.0 - level) - 1e-9))
    return {g: _conformal(v, level) for g, v in groups.items() if g == "all" or len(v) >= least}


def _choose_grouping(runs: Sequence[Run], residuals: np.ndarray, level: float) -> Grouping:
    """The grouping giving the narrowest median interval at ``level`` over ``runs`` (from
    their out-of-fold ``residuals`` only): pooled, by reported MFU, or by reported MFU
    with the others split at one of ``CLUSTER_SPLITS`` chips (each side with at least
    ``MIN_SPLIT_GROUP`` runs). Ties keep the simpler grouping."""
    candidates: list[Grouping] = [(False, None), (True, None)]
    for cluster in CLUSTER_SPLITS:
        sizes = [sum(1 for r in runs if r.group_at(cluster) == g) for g in _SPLIT]
        if min(sizes) >= MIN_SPLIT_GROUP:
            candidates.append((True, cluster))
    best = candidates[0]
    best_width = _median_width(runs, residuals, best, level)
    for grouping in candidates[1:]:
        width = _median_width(runs, residuals, grouping, level)
        if width < best_width - 1e-9:
            best, best_width = grouping, width
    return best


_SPLIT = ("no_mfu_large", "no_mfu_small")


def _median_width(
    runs: Sequence[Run], residuals: np.ndarray, grouping: Grouping, level: float
) -> float:
    q = _group_quantiles(runs, residuals, grouping, level)
    widths = []
    for run in runs:
        name = group_name(run, grouping)
        lo, hi = q.get(name, q["all"])
        widths.append(hi - lo)
    return float(np.median(widths))


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
    groupings: tuple[dict[float, Grouping], ...] = ()
    """The grouping each outer fold's fit chose, per level."""

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "median_abs_log10_error": round(self.median_abs_log10_error, 4),
            "coverage": {f"{k:g}": round(v, 4) for k, v in self.coverage.items()},
            "median_width_x": {f"{k:g}": round(v, 2) for k, v in self.median_width_x.items()},
            "by_group": self.by_group,
            "grouping_per_fold": [
                {f"{lv:g}": _describe(g) for lv, g in fold.items()} for fold in self.groupings
            ],
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
    shuffle: int | None = None,
) -> Evaluation:
    """Refit the whole procedure on each outer training part, judge the held-out part.
    Outer folds are the rows' order modulo ``folds``, or a random permutation with seed
    ``shuffle`` (to see how much the figures move with the fold assignment)."""
    y = np.asarray(ratios, dtype=float)
    idx = np.arange(len(y))
    fold_of = idx % folds
    if shuffle is not None:
        fold_of = np.random.default_rng(shuffle).permutation(len(y)) % folds
    centre = np.zeros(len(y))
    if 0.8 not in levels:
        raise DataError("the evaluation levels must include 0.8")
    bounds = {lv: (np.zeros(len(y)), np.zeros(len(y))) for lv in levels}
    chosen: list[dict[float, Grouping]] = []
    for k in range(folds):
        test = fold_of == k
        train = [int(i) for i in idx if not test[i]]
        model = fit(
            [runs[i] for i in train],
            [ratios[i] for i in train],
            columns=columns,
            by_group=by_group,
            penalty=penalty,
            levels=levels,
        )
        chosen.append(model.groupings)
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
    full = fit(runs, ratios, columns=columns, by_group=by_group, penalty=penalty, levels=levels)
    named = [(g, [r.group == g for r in runs]) for g in ("mfu", "no_mfu")]
    cluster = full.groupings[0.8][1]
    if cluster is not None:
        named += [(g, [r.group_at(cluster) == g for r in runs]) for g in _SPLIT]
    for g, members in named:
        sel = np.array(members)
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
    return Evaluation(
        name, len(y), float(np.median(err)), coverage, width, groups, points, tuple(chosen)
    )


def _describe(grouping: Grouping) -> str:
    by_mfu, cluster = grouping
    if not by_mfu:
        return "pooled"
    return "by MFU reported" + (f", others split at {cluster} chips" if cluster else "")


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
        "interval_group": model.group_of(run, level),
    }
    if run.year is not None:
        inputs["year"] = run.year
    if run.mfu is not None:
        inputs["mfu"] = run.mfu
    cluster = model.groupings.get(level, (False, None))[1]
    if cluster is not None:
        inputs["cluster_split_chips"] = cluster
    return Estimate(centre, low, high, level, "model", intervals, inputs)
