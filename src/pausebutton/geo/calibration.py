"""Per-landmark calibration from landmark-to-landmark measurements (pure).

Constraint-Based Geolocation (Gueye et al., IEEE/ACM ToN 2006) fits, for each
landmark, the *bestline*: the line ``rtt = m * d + b`` that lies on or below
every (distance, rtt) point the landmark measured to other landmarks at known
positions, as close to them as it can (least total gap), with the slope no
smaller than straight fibre (``m >= 2 / (2/3 c)``) and ``b >= 0``. Inverted it
gives a tighter distance bound than the fibre model, ``d <= (rtt - b) / m``,
because it learns the landmark's fixed overhead ``b`` and its best routes.

This module also fits the *slowline*: from the bestline's intercept, with the
steepest slope ``rtt / d`` of the points at least SLOW_MIN_KM away (nearer points
say more about the peers' fixed overheads than about routes), so it lies on or
above all of those. Its slope
is the slowest route per km the landmark was seen to have: the "too slow" test
widens its honest envelope to it, so a landmark whose routes are known to be
roundabout does not reject honest chips.

The bestline is a linear program in two variables, solved with scipy's HiGHS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pausebutton.errors import DataError
from pausebutton.geo.physics import FIBRE_KM_PER_MS, check_rtt, distance_km

FIBRE_SLOPE_MS_PER_KM = 2.0 / FIBRE_KM_PER_MS
"""RTT per km of straight fibre (both ways): ~0.01 ms/km."""
MIN_POINTS = 2
SLOW_MIN_KM = 500.0
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


def _bestline(d: np.ndarray, r: np.ndarray) -> Line:
    from scipy.optimize import linprog  # ~0.5 s to import: only when a calibration is fitted

    n = len(d)
    # Variables (m, b): maximise sum(m d + b) (least total gap) with m d + b <= r.
    c = np.array([-float(d.sum()), -float(n)])
    a = np.column_stack([d, np.ones(n)])
    res = linprog(
        c,
        A_ub=a,
        b_ub=r,
        bounds=[(FIBRE_SLOPE_MS_PER_KM, None), (0.0, None)],
        method="highs",
    )
    if res.status != 0:
        # Only when a point is faster than fibre at b = 0: use the fibre line.
        return Line(FIBRE_SLOPE_MS_PER_KM, 0.0)
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
    best = _bestline(d, r)
    far = d >= SLOW_MIN_KM
    slope = best.slope
    if far.any():
        slope = max(slope, float((r[far] / d[far]).max()))
    slow = Line(slope, best.intercept)
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
