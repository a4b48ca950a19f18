"""Training-run detection from a site's energy time series. Pure.

A large training run is a sustained plateau of power above the site's
baseline. We find the change points of the power series with ``ruptures``
(``KernelCPD`` with the linear kernel: PELT on the least-squares cost, in C;
penalty ``beta * sigma^2 * log n``, the noise ``sigma`` estimated from the
median absolute first difference), label a segment *busy* when its mean
exceeds the baseline (a low percentile of the series) by more than
``max(min_delta_w, k * sigma)``, merge adjacent busy segments and keep those
lasting at least ``min_hours``. Each candidate run has start, end, the energy
above baseline and a FLOP estimate with its interval (energy method, hardware
of the site).

Readings far above the site's declared capacity (``implausible_factor`` x)
are impossible for the declared site: they are set aside and returned as
flagged, never used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pausebutton.detect.estimate import DEFAULT_PUE, Estimate, from_energy
from pausebutton.detect.hardware import Hardware
from pausebutton.detect.signals import EnergyReading

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class RunParams:
    min_hours: float = 24.0
    min_delta_w: float = 1e6
    k_sigma: float = 4.0
    beta: float = 4.0
    baseline_quantile: float = 0.2
    min_points: int = 3
    implausible_factor: float = 10.0


@dataclass(frozen=True)
class CandidateRun:
    site: str
    start: datetime
    end: datetime
    mean_power_w: float
    baseline_w: float
    energy_kwh: float
    """Energy above the baseline during the run."""
    total_energy_kwh: float
    estimate: Estimate | None
    readings: int

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    def to_dict(self) -> dict[str, object]:
        return {
            "site": self.site,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "hours": self.hours,
            "mean_power_w": self.mean_power_w,
            "baseline_w": self.baseline_w,
            "energy_kwh": self.energy_kwh,
            "total_energy_kwh": self.total_energy_kwh,
            "readings": self.readings,
            "estimate": self.estimate.to_dict() if self.estimate else None,
        }


def noise_sigma(p: np.ndarray) -> float:
    """Robust noise level: MAD of first differences / sqrt(2)."""
    import numpy as np

    if len(p) < 3:
        return 0.0
    d = np.diff(p)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2.0))


def split_plausible(
    readings: Sequence[EnergyReading], declared_w: float | None, factor: float
) -> tuple[list[EnergyReading], list[EnergyReading]]:
    """(usable, flagged): readings above ``factor`` x declared capacity are flagged."""
    if not declared_w:
        return list(readings), []
    limit = declared_w * factor
    ok = [r for r in readings if r.power_w <= limit]
    bad = [r for r in readings if r.power_w > limit]
    return ok, bad


def detect_runs(
    readings: Sequence[EnergyReading],
    hardware: Hardware | None,
    *,
    declared_w: float | None = None,
    pue: float = DEFAULT_PUE,
    params: RunParams | None = None,
) -> tuple[list[CandidateRun], list[EnergyReading]]:
    """Candidate training runs at one site, and the readings flagged as implausible."""
    import numpy as np
    import ruptures as rpt  # imported here: it takes seconds, and only this needs it

    prm = params or RunParams()
    usable, flagged = split_plausible(readings, declared_w, prm.implausible_factor)
    rs = sorted(usable, key=lambda r: r.time)
    if len(rs) < max(prm.min_points * 2, 4):
        return [], flagged
    site = rs[0].site
    p = np.array([r.power_w for r in rs], dtype=float)
    sigma = noise_sigma(p)
    scale = max(float(np.max(np.abs(p))), 1.0)
    x = (p / scale).reshape(-1, 1)
    s = sigma / scale
    pen = prm.beta * max(s * s, 1e-12) * math.log(len(p))
    algo = rpt.KernelCPD(kernel="linear", min_size=prm.min_points).fit(x)
    bkps = [int(b) for b in algo.predict(pen=pen)]
    baseline = float(np.quantile(p, prm.baseline_quantile))
    threshold = max(prm.min_delta_w, prm.k_sigma * sigma)
    segs: list[tuple[int, int]] = []
    start = 0
    for end in bkps:
        if float(np.mean(p[start:end])) - baseline > threshold:
            if segs and segs[-1][1] == start:
                segs[-1] = (segs[-1][0], end)
            else:
                segs.append((start, end))
        start = end
    runs: list[CandidateRun] = []
    for a, b in segs:
        seg = rs[a:b]
        t0 = seg[0].time - timedelta(seconds=seg[0].period_s)
        t1 = seg[-1].time
        hours = (t1 - t0).total_seconds() / 3600.0
        if hours < prm.min_hours:
            continue
        total = sum(r.energy_kwh for r in seg)
        excess = sum(max(r.power_w - baseline, 0.0) * r.period_s / 3.6e6 for r in seg)
        est = from_energy(hardware, excess, pue=pue) if hardware is not None else None
        runs.append(
            CandidateRun(
                site=site,
                start=t0,
                end=t1,
                mean_power_w=float(np.mean(p[a:b])),
                baseline_w=baseline,
                energy_kwh=excess,
                total_energy_kwh=total,
                estimate=est,
                readings=b - a,
            )
        )
    return runs, flagged
