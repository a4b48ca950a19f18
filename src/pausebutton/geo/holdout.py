"""Validate the solver on real pairwise pings (e.g. the WonderProxy dataset) (pure).

Some servers are held out as "chips"; the others are landmarks, calibrated
from the pings among themselves only. For each held-out server the verdict on
its true position must be "consistent" (any "inconsistent" is a false reject;
"suspicious" is counted apart), and the estimate's error is measured. Under the
statistical model the delay model is fitted on the landmarks' pings among themselves
(``geo.crossval`` runs the full cross-validation with relays).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pausebutton.geo.calibration import calibrate
from pausebutton.geo.delay import DelayModel
from pausebutton.geo.physics import distance_km
from pausebutton.geo.verdict import Claim, Landmark, Model, Policy, VerdictKind, verify_claim


@dataclass(frozen=True)
class HoldoutResult:
    target: str
    verdict: str
    landmarks: int
    error_km: float | None
    estimate_radius_km: float | None
    truth_in_estimate: bool | None


def evaluate_holdout(
    sites: dict[str, Landmark],
    pings: Iterable[tuple[str, str, float]],
    targets: Sequence[str],
    policy: Policy,
    *,
    with_estimate: bool = True,
) -> dict[str, object]:
    held = set(targets)
    pings = list(pings)
    landmark_sites = {k: v for k, v in sites.items() if k not in held}
    positions = {k: (v.lat, v.lon) for k, v in landmark_sites.items()}
    cal_pairs = [(a, b, r) for a, b, r in pings if a not in held and b not in held]
    cals = calibrate(positions, cal_pairs) if policy.model is Model.CALIBRATED else {}
    delay = DelayModel.fit(positions, cal_pairs) if policy.model is Model.STATISTICAL else None
    results: list[HoldoutResult] = []
    for target in targets:
        site = sites[target]
        meas = [
            (b if a == target else a, r)
            for a, b, r in pings
            if (a == target) != (b == target) and (b if a == target else a) in landmark_sites
        ]
        if not meas:
            continue
        v = verify_claim(
            landmark_sites,
            meas,
            Claim(site.lat, site.lon),
            policy,
            cals,
            with_estimate=with_estimate,
            delay=delay,
            mislocated=() if delay is None else delay.dropped,
        )
        err = rad = None
        inside = None
        if v.estimate is not None:
            err = distance_km(site.lat, site.lon, v.estimate.lat, v.estimate.lon)
            rad = v.estimate.radius_km
            inside = err <= rad
        results.append(HoldoutResult(target, v.verdict.value, len(v.landmarks), err, rad, inside))
    judged = [r for r in results if r.verdict != VerdictKind.INSUFFICIENT.value]
    rejects = [r for r in judged if r.verdict == VerdictKind.INCONSISTENT.value]
    suspicious = [r for r in judged if r.verdict == VerdictKind.SUSPICIOUS.value]
    errors = [r.error_km for r in results if r.error_km is not None]
    return {
        "model": policy.model.value,
        "tolerance_ms": policy.tolerance_ms,
        "targets": len(results),
        "judged": len(judged),
        "false_rejects": len(rejects),
        "false_reject_rate": (len(rejects) / len(judged)) if judged else None,
        "false_rejected_targets": [r.target for r in rejects],
        "suspicious": len(suspicious),
        "median_error_km": statistics.median(errors) if errors else None,
        "truth_in_estimate_rate": (
            sum(1 for r in results if r.truth_in_estimate) / len(errors) if errors else None
        ),
        "calibrated_landmarks": len(cals),
    }
