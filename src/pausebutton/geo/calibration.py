"""Per-landmark calibration from landmark-to-landmark measurements (pure).

Constraint-Based Geolocation (Gueye et al., IEEE/ACM ToN 2006) fits, for each
landmark, the *bestline*: the line ``rtt = m * d + b`` that lies on or below
every (distance, rtt) point the landmark measured to other landmarks at known
positions, as close to them as it can (least total gap), with the slope no
smaller than straight fibre (``m >= 2 / (2/3 c)``) and ``b >= 0``. Inverted it
gives a tighter distance bound than the fibre model, ``d <= (rtt - b) / m``,
because it learns the landmark's fixed overhead ``b`` and its best routes.

This module also fits the *slowline*: the line on or above every point (least
total gap, slope and intercept at least the bestline's). It is the slowest an
honest peer at a given distance answered the landmark, and so the basis of the
"too slow" test that catches relayed chips.

Both are linear programs in two variables, solved with scipy's HiGHS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from pausebutton.errors import DataError
from pausebutton.geo.physics import FIBRE_KM_PER_MS, check_rtt, distance_km

FIBRE_SLOPE_MS_PER_KM = 2.0 / FIBRE_KM_PER_MS
"""RTT per km of straight fibre (both ways): ~0.01 ms/km."""
MIN_POINTS = 2
"""A landmark needs at least this many calibration points for its own lines."""


@dataclass(frozen=True)
class Line:
    """``rtt_ms = slope * distance_km + intercept``."""

    slope: float
    intercept: float

    def rtt_at(self, dist_km: float) -> float:
        return self.slope * dist_km + self.intercept

    def distance_at(self, rtt_ms: float) -> float:
        """Distance where the line reaches ``rtt_ms`` (never negative)."""
        return max(0.0, (rtt_ms - self.intercept) / self.slope)


@dataclass(frozen=True)
class Calibration:
    """One landmark's fitted lines and how many points they rest on."""

    landmark_id: str
    bestline: Line
    slowline: Line
    points: int


@dataclass(frozen=True)
class CalibrationPoint:
    distance_km: float
    rtt_ms: float


def _solve(
    d: np.ndarray, r: np.ndarray, *, below: bool, min_slope: float, min_intercept: float
) -> Line:
    n = len(d)
    # Variables (m, b). Objective: sum of gaps; below -> maximise sum(m d + b).
    sign = -1.0 if below else 1.0
    c = np.array([sign * float(d.sum()), sign * n])
    a = np.column_stack([d, np.ones(n)])
    if below:
        a_ub, b_ub = a, r  # m d + b <= r
    else:
        a_ub, b_ub = -a, -r  # m d + b >= r
    res = linprog(
        c,
        A_ub=a_ub,
        b_ub=b_ub,
        bounds=[(min_slope, None), (min_intercept, None)],
        method="highs",
    )
    if res.status != 0:
        # Only possible for the bestline when a point is faster than fibre at b = 0:
        # fall back to the fibre line through the origin.
        return Line(min_slope, min_intercept)
    slope, intercept = (float(v) for v in res.x)
    return Line(slope, intercept)


def fit(landmark_id: str, points: Sequence[CalibrationPoint]) -> Calibration:
    """Fit the bestline and slowline of one landmark (needs MIN_POINTS points)."""
    if len(points) < MIN_POINTS:
        raise DataError(
            f"landmark {landmark_id!r}: {len(points)} calibration points, need {MIN_POINTS}",
            field="landmark_id",
        )
    d = np.array([p.distance_km for p in points], dtype=float)
    r = np.array([p.rtt_ms for p in points], dtype=float)
    feasible = r >= FIBRE_SLOPE_MS_PER_KM * d
    if feasible.any():
        best = _solve(d, r, below=True, min_slope=FIBRE_SLOPE_MS_PER_KM, min_intercept=0.0)
    else:
        best = Line(FIBRE_SLOPE_MS_PER_KM, 0.0)
    slow = _solve(d, r, below=False, min_slope=best.slope, min_intercept=best.intercept)
    return Calibration(landmark_id, best, slow, len(points))


def calibrate(
    positions: dict[str, tuple[float, float]],
    pairs: Iterable[tuple[str, str, float]],
) -> dict[str, Calibration]:
    """Calibrate every landmark from (source, destination, rtt_ms) measurements between
    landmarks at known positions. The minimum RTT of each unordered pair counts, and a
    pair's point serves both ends. Landmarks with too few points get no calibration."""
    best: dict[tuple[str, str], float] = {}
    for src, dst, rtt in pairs:
        if src == dst:
            continue
        if src not in positions or dst not in positions:
            missing = src if src not in positions else dst
            raise DataError(f"calibration pair names unknown landmark {missing!r}")
        check_rtt(rtt, what=f"calibration {src}->{dst}")
        key = (src, dst) if src < dst else (dst, src)
        best[key] = min(rtt, best.get(key, math.inf))
    by_landmark: dict[str, list[CalibrationPoint]] = {}
    for (a, b), rtt in best.items():
        dist = distance_km(*positions[a], *positions[b])
        point = CalibrationPoint(dist, rtt)
        by_landmark.setdefault(a, []).append(point)
        by_landmark.setdefault(b, []).append(point)
    return {
        lid: fit(lid, pts) for lid, pts in sorted(by_landmark.items()) if len(pts) >= MIN_POINTS
    }
