"""Verdicts on a claimed facility, and location estimates (pure).

Two tests, with different standing (docs/geo.md):

1. **Too fast (physics).** A chip is never farther from a landmark than
   ``c * rtt / 2``. If the claimed facility lies farther than that from some
   landmark, the chip is provably not there: *inconsistent*, and the chip must
   be at least ``(distance to the claim's edge) - c * rtt / 2`` km from it.
   This uses the hard bound only, so an honest chip can never fail it (its
   measured RTT can only exceed the true propagation time).

2. **Too slow (delay model).** A relay makes a chip *slower*, never faster, so
   catching relays needs a model of how slowly an honest chip at the claim may
   answer: the fibre model (``overhead + max_inflation * 2d / (2/3 c)``) or
   the calibrated model (the landmark's slowline). A response slower than that
   plus ``tolerance_ms`` is *inconsistent*, with how many ms too slow. This is
   a model, so it can reject an honest chip on a congested path; the tolerance
   sets that trade-off. Under the ``hard`` model this test is off: the verdict
   then never rejects an honest chip but cannot see relays either.

3. **Statistical (the default of ``geo verify``).** Under ``Model.STATISTICAL`` the
   "too slow" test is a probability: each landmark's RTT gets a p-value and a
   deviation from the delay model fitted on real pings (``geo.delay``); the landmarks'
   common excess (their median deviation in path-noise units; or, on request, the k-th
   smallest p-value) is turned into the error probability measured on honest servers,
   and the verdict is
   "inconsistent" at ``reject_probability``, "suspicious" (an alert for inspection,
   not a conviction) at ``suspect_probability``, else "consistent". Test 1 is kept
   unchanged: it stays the only rule that never rejects an honest chip.

Fewer distinct landmarks than ``min_landmarks`` give "insufficient evidence",
whatever the tests say, and so do landmarks whose light-speed disks cannot meet (a
landmark position is wrong: no verdict). Of repeated measurements per landmark the
minimum RTT counts (queueing only ever adds delay).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pausebutton.errors import DataError, UsageError
from pausebutton.geo.calibration import Calibration
from pausebutton.geo.delay import DelayModel
from pausebutton.geo.physics import (
    FIBRE_KM_PER_MS,
    check_coordinates,
    check_rtt,
    distance_km,
    fibre_max_distance_km,
    hard_max_distance_km,
)
from pausebutton.geo.region import Disk, Estimate, estimate


class Model(enum.Enum):
    HARD = "hard"
    FIBRE = "fibre"
    CALIBRATED = "calibrated"
    STATISTICAL = "statistical"


class Combination(enum.Enum):
    """How the statistical model combines the landmarks into one error probability."""

    COMMON_EXCESS = "common_excess"
    """The median of the landmarks' deviations from their typical delay, in path-noise
    units (``DelayModel.common_excess``): a relay delays every landmark near the claim."""
    KTH_P_VALUE = "kth_p_value"
    """The k-th smallest landmark p-value (``robust_k``)."""


class VerdictKind(enum.Enum):
    CONSISTENT = "consistent"
    SUSPICIOUS = "suspicious"
    INCONSISTENT = "inconsistent"
    INSUFFICIENT = "insufficient_evidence"


@dataclass(frozen=True)
class Landmark:
    id: str
    lat: float
    lon: float

    def __post_init__(self) -> None:
        check_coordinates(self.lat, self.lon, what=f"landmark {self.id!r}")


@dataclass(frozen=True)
class Claim:
    """A declared facility: a point and the radius of the site around it."""

    lat: float
    lon: float
    radius_km: float = 0.0

    def __post_init__(self) -> None:
        check_coordinates(self.lat, self.lon, what="claim")
        if not math.isfinite(self.radius_km) or not 0.0 <= self.radius_km <= 20_000.0:
            raise DataError(f"claim radius {self.radius_km} km is out of range", field="radius")


@dataclass(frozen=True)
class Policy:
    model: Model = Model.CALIBRATED
    min_landmarks: int = 3
    tolerance_ms: float = 1.0
    """Slack added to the slowest RTT an honest chip may show before "too slow"."""
    max_inflation: float = 2.5
    """Fibre model: how much longer than the geodesic an honest route may be."""
    overhead_ms: float = 0.5
    """Fixed delay (stacks, signing, last mile) an honest round trip may add."""
    calibration_margin: float = 0.3
    """Calibrated model: inflation added to a landmark's slowline. The slowline shows its
    routes to a handful of peers; a chip's route can be somewhat worse than the worst."""
    reject_probability: float = 1e-2
    """Statistical model: "inconsistent" when the error probability (the chance an honest
    chip at the claim looks at least this slow) is at most this."""
    suspect_probability: float = 5e-2
    """Statistical model: "suspicious" (an alert for inspection) at most this."""
    robust_k: int = 4
    """Statistical model, ``kth_p_value``: the k-th slowest landmark decides (k - 1 slow
    paths never convict a chip by themselves)."""
    combination: Combination = Combination.COMMON_EXCESS
    """Statistical model: how the landmarks combine (docs/geo.md)."""

    def __post_init__(self) -> None:
        if self.min_landmarks < 1:
            raise UsageError("min_landmarks must be at least 1")
        if self.robust_k < 1:
            raise UsageError("robust_k must be at least 1")
        for name in ("reject_probability", "suspect_probability"):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0.0 <= value < 1.0:
                raise UsageError(f"{name} must be in [0, 1)")
        if self.reject_probability > self.suspect_probability:
            raise UsageError("reject_probability must not exceed suspect_probability")
        for name in ("tolerance_ms", "overhead_ms", "calibration_margin"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise UsageError(f"{name} must be a non-negative number")
        if not math.isfinite(self.max_inflation) or self.max_inflation < 1.0:
            raise UsageError("max_inflation must be at least 1")


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class LandmarkEvidence:
    landmark_id: str
    lat: float
    lon: float
    samples: int
    rtt_ms: float
    """The minimum of the landmark's measurements."""
    distance_to_claim_km: float
    hard_max_distance_km: float
    max_distance_km: float
    """The chip's farthest distance from the landmark under the policy's model."""
    allowed_rtt_ms: float | None
    """The slowest an honest chip at the claim may answer (None under the hard model)."""
    too_fast_km: float
    """How far the claim's edge lies beyond the hard bound (0 if within)."""
    too_slow_ms: float
    """How many ms slower than allowed_rtt_ms (0 if not)."""
    least_distance_km: float
    """The least distance the chip must be from the claim's edge by this landmark."""
    p_value: float | None = None
    """Statistical model: P(an honest chip at the claim answers this landmark at least
    this slowly); None under the other models."""

    @property
    def status(self) -> str:
        if self.too_fast_km > 0:
            return "too_fast"
        if self.too_slow_ms > 0:
            return "too_slow"
        return "ok"

    def to_json(self) -> dict[str, object]:
        return {
            "landmark_id": self.landmark_id,
            "lat": self.lat,
            "lon": self.lon,
            "samples": self.samples,
            "rtt_ms": round(self.rtt_ms, 6),
            "distance_to_claim_km": round(self.distance_to_claim_km, 3),
            "hard_max_distance_km": round(self.hard_max_distance_km, 3),
            "max_distance_km": round(self.max_distance_km, 3),
            "allowed_rtt_ms": None
            if self.allowed_rtt_ms is None
            else round(self.allowed_rtt_ms, 6),
            "too_fast_km": round(self.too_fast_km, 3),
            "too_slow_ms": round(self.too_slow_ms, 6),
            "least_distance_km": round(self.least_distance_km, 3),
            "status": self.status,
            "p_value": None if self.p_value is None else float(f"{self.p_value:.4g}"),
        }


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictKind
    claim: Claim
    policy: Policy
    landmarks: tuple[LandmarkEvidence, ...]
    least_distance_km: float
    """The least distance the chip must be from the claim's edge (max over landmarks)."""
    least_distance_basis: str
    """"physics" (hard bound), "model" (delay model) or "none"."""
    reasons: tuple[str, ...]
    estimate: Estimate | None = None
    estimate_model: str | None = None
    error_probability: float | None = None
    """How likely an honest chip at the claim is to show evidence at least this strong:
    0 for a light-speed violation (physics), the combined p-value under the
    statistical model, None under the fibre and calibrated models (no probability)."""
    deciding_landmarks: tuple[str, ...] = ()
    """Statistical model: the k slowest landmarks (by p-value) that decide the verdict."""

    @property
    def consistent(self) -> bool:
        return self.verdict is VerdictKind.CONSISTENT

    def to_json(self) -> dict[str, object]:
        est: dict[str, object] | None = None
        if self.estimate is not None:
            est = {
                "lat": round(self.estimate.lat, 5),
                "lon": round(self.estimate.lon, 5),
                "radius_km": round(self.estimate.radius_km, 3),
                "model": self.estimate_model,
            }
        return {
            "verdict": self.verdict.value,
            "claim": {
                "lat": self.claim.lat,
                "lon": self.claim.lon,
                "radius_km": self.claim.radius_km,
            },
            "policy": {
                "model": self.policy.model.value,
                "min_landmarks": self.policy.min_landmarks,
                "tolerance_ms": self.policy.tolerance_ms,
                "max_inflation": self.policy.max_inflation,
                "overhead_ms": self.policy.overhead_ms,
                "calibration_margin": self.policy.calibration_margin,
                "reject_probability": self.policy.reject_probability,
                "suspect_probability": self.policy.suspect_probability,
                "robust_k": self.policy.robust_k,
                "combination": self.policy.combination.value,
            },
            "max_distance_km": {e.landmark_id: round(e.max_distance_km, 3) for e in self.landmarks},
            "landmarks": [e.to_json() for e in self.landmarks],
            "least_distance_km": round(self.least_distance_km, 3),
            "least_distance_basis": self.least_distance_basis,
            "estimate": est,
            "reasons": list(self.reasons),
            "error_probability": None
            if self.error_probability is None
            else float(f"{self.error_probability:.4g}"),
            "deciding_landmarks": list(self.deciding_landmarks),
        }


@dataclass
class _Samples:
    count: int = 0
    best: float = math.inf
    ids: list[str] = field(default_factory=list)


def min_rtts(
    landmarks: Mapping[str, Landmark], measurements: Iterable[tuple[str, float]]
) -> dict[str, tuple[float, int]]:
    """Minimum RTT and sample count per landmark; unknown landmarks and bad RTTs raise."""
    out: dict[str, _Samples] = {}
    for landmark_id, rtt in measurements:
        if landmark_id not in landmarks:
            raise DataError(f"measurement names unknown landmark {landmark_id!r}")
        check_rtt(rtt, what=f"measurement from {landmark_id!r}")
        s = out.setdefault(landmark_id, _Samples())
        s.count += 1
        s.best = min(s.best, rtt)
    return {k: (v.best, v.count) for k, v in sorted(out.items())}


def model_max_distance_km(rtt_ms: float, model: Model, cal: Calibration | None) -> float:
    """The chip's farthest distance from a landmark under ``model`` (never above hard)."""
    hard = hard_max_distance_km(rtt_ms)
    if model in (Model.HARD, Model.STATISTICAL):
        return hard
    if model is Model.CALIBRATED and cal is not None:
        return min(hard, cal.bestline.distance_at(rtt_ms))
    return min(hard, fibre_max_distance_km(rtt_ms))


def allowed_rtt_ms(
    dist_km: float, policy: Policy, cal: Calibration | None
) -> tuple[float | None, float | None]:
    """(slowest honest RTT at ``dist_km`` incl. tolerance, inverse slope km per ms)."""
    if policy.model in (Model.HARD, Model.STATISTICAL):
        return None, None
    slope = 2.0 * policy.max_inflation / FIBRE_KM_PER_MS
    if policy.model is Model.CALIBRATED and cal is not None:
        # The landmark's slowline can only widen the envelope (routes it was seen to
        # take), never narrow it below the policy's inflation: a few calibration
        # points cannot show the tail.
        margin = 2.0 * policy.calibration_margin / FIBRE_KM_PER_MS
        slope = max(slope, cal.slowline.slope + margin)
    return slope * dist_km + policy.overhead_ms + policy.tolerance_ms, 1.0 / slope


def _evidence(
    lm: Landmark,
    rtt: float,
    samples: int,
    claim: Claim,
    policy: Policy,
    cal: Calibration | None,
    known_distance: float | None = None,
    delay: DelayModel | None = None,
    site_offset: float = 0.0,
    known: bool = False,
) -> tuple[LandmarkEvidence, str]:
    d = (
        distance_km(lm.lat, lm.lon, claim.lat, claim.lon)
        if known_distance is None
        else known_distance
    )
    near, far = max(0.0, d - claim.radius_km), d + claim.radius_km
    hard = hard_max_distance_km(rtt)
    # A relative 1e-9 (a millimetre per 1,000 km) absorbs floating-point rounding, so a
    # chip answering at exactly light speed is not "too fast" by rounding.
    too_fast = near - hard if near - hard > 1e-9 * max(near, 1.0) else 0.0
    least, basis = too_fast, "physics" if too_fast > 0 else "none"
    p_value: float | None = None
    if delay is not None and policy.model is Model.STATISTICAL:
        # the farthest point of the site is the most lenient place for an honest chip
        p_value = delay.p_value(lm.id, far, rtt, site_offset, known=known)
        allowed: float | None = delay.slowest_rtt_ms(
            lm.id, far, policy.suspect_probability, site_offset, known=known
        )
        km_per_ms: float | None = FIBRE_KM_PER_MS / (2.0 * policy.max_inflation)
    else:
        allowed, km_per_ms = allowed_rtt_ms(far, policy, cal)
    too_slow = 0.0
    if allowed is not None and km_per_ms is not None and rtt > allowed:
        too_slow = rtt - allowed
        model_least = too_slow * km_per_ms
        if model_least > least:
            least, basis = model_least, "model"
    ev = LandmarkEvidence(
        landmark_id=lm.id,
        lat=lm.lat,
        lon=lm.lon,
        samples=samples,
        rtt_ms=rtt,
        distance_to_claim_km=d,
        hard_max_distance_km=hard,
        max_distance_km=model_max_distance_km(rtt, policy.model, cal),
        allowed_rtt_ms=allowed,
        too_fast_km=too_fast,
        too_slow_ms=too_slow,
        least_distance_km=least,
        p_value=p_value,
    )
    return ev, basis


def _disks(evidence: Sequence[LandmarkEvidence], *, hard: bool) -> list[Disk]:
    return [
        Disk(e.lat, e.lon, e.hard_max_distance_km if hard else e.max_distance_km) for e in evidence
    ]


def locate_evidence(
    evidence: Sequence[LandmarkEvidence], model: Model
) -> tuple[Estimate | None, str | None, list[str]]:
    """Estimate from the model's disks, falling back to the hard bound if they miss."""
    notes: list[str] = []
    if not evidence:
        return None, None, ["no measurements"]
    est = estimate(_disks(evidence, hard=False))
    if est is not None:
        return est, model.value, notes
    if model is not Model.HARD:
        notes.append(f"the {model.value} disks do not intersect; estimate uses the hard bound")
        est = estimate(_disks(evidence, hard=True))
        if est is not None:
            return est, Model.HARD.value, notes
    notes.append("even the hard-bound disks do not intersect: a landmark position is wrong")
    return None, None, notes


def verify_claim(
    landmarks: Mapping[str, Landmark],
    measurements: Iterable[tuple[str, float]],
    claim: Claim,
    policy: Policy = DEFAULT_POLICY,
    calibrations: Mapping[str, Calibration] | None = None,
    *,
    with_estimate: bool = True,
    distances: Mapping[str, float] | None = None,
    delay: DelayModel | None = None,
    mislocated: Iterable[str] = (),
    facility_offset_ms: float | None = None,
) -> Verdict:
    """Judge whether the measurements fit a chip at ``claim`` (module docstring).

    ``distances`` may give precomputed geodesic distances (km) from landmarks to the
    claim's centre, for callers that judge many measurement sets against one claim.
    ``delay`` is the statistical model (required by ``Model.STATISTICAL``).
    Measurements of ``mislocated`` landmarks (their calibration pings beat light) are
    left out, with a reason. ``facility_offset_ms``: the facility's own access delay
    as measured on site (``DelayModel.facility_offset``); without it the statistical
    model assumes the region's typical one and must allow for any honest host's."""
    if policy.model is Model.STATISTICAL and delay is None:
        raise UsageError("the statistical model needs a fitted delay model")
    rtts = min_rtts(landmarks, measurements)
    reasons: list[str] = _drop(rtts, mislocated)
    cals = calibrations or {}
    evidence: list[LandmarkEvidence] = []
    least, basis = 0.0, "none"
    uncalibrated: list[str] = []
    known = facility_offset_ms is not None
    if facility_offset_ms is not None:
        site = facility_offset_ms
        reasons.append(f"facility access delay {facility_offset_ms:+.2f} ms (measured on site)")
    else:
        site = 0.0 if delay is None else delay.site_offset(rtts)
    for lid, (rtt, samples) in rtts.items():
        cal = cals.get(lid)
        if policy.model is Model.CALIBRATED and cal is None:
            uncalibrated.append(lid)
        if policy.model is Model.STATISTICAL and delay is not None and not delay.knows(lid):
            uncalibrated.append(lid)
        ev, ev_basis = _evidence(
            landmarks[lid],
            rtt,
            samples,
            claim,
            policy,
            cal,
            None if distances is None else distances.get(lid),
            delay,
            site,
            known,
        )
        evidence.append(ev)
        if ev.least_distance_km > least:
            least, basis = ev.least_distance_km, ev_basis
        reasons.extend(_landmark_reasons(ev, policy))
    if uncalibrated:
        fallback = "band-wide delays" if policy.model is Model.STATISTICAL else "fibre model"
        reasons.append(
            "no calibration for landmark(s) " + ", ".join(uncalibrated) + f"; {fallback} used"
        )
    error_p: float | None = None
    deciding: tuple[str, ...] = ()
    clash = _contradiction(evidence)
    too_fast = clash is None and any(e.too_fast_km > 0 for e in evidence)
    if too_fast:
        error_p = 0.0
    elif policy.model is Model.STATISTICAL and evidence and delay is not None:
        error_p, deciding, note = _statistical(
            evidence, policy, delay, known=known, claim=claim, site=site
        )
        reasons.append(note)
    kind, lead = _decide(len(rtts), clash, too_fast, error_p, evidence, policy)
    if kind is VerdictKind.INSUFFICIENT:
        error_p, deciding = (None, ()) if clash is not None else (error_p, deciding)
    if lead is not None:
        reasons.insert(0, lead)
    if kind is VerdictKind.CONSISTENT:
        reasons.insert(
            0,
            f"all {len(evidence)} landmark(s) fit a chip at the claim "
            f"({policy.model.value} model, "
            + (
                f"error probability {error_p:.3g})"
                if error_p is not None
                else f"tolerance {policy.tolerance_ms} ms)"
            ),
        )
    est, est_model = None, None
    if with_estimate:
        est, est_model, notes = locate_evidence(evidence, policy.model)
        reasons.extend(notes)
    return Verdict(
        kind,
        claim,
        policy,
        tuple(evidence),
        least,
        basis,
        tuple(reasons),
        est,
        est_model,
        error_p,
        deciding,
    )


def _drop(rtts: dict[str, tuple[float, int]], mislocated: Iterable[str]) -> list[str]:
    bad = sorted(set(mislocated) & set(rtts))
    for lid in bad:
        del rtts[lid]
    if not bad:
        return []
    return [
        "left out landmark(s) "
        + ", ".join(bad)
        + ": their pings to other landmarks beat light, so their positions are wrong"
    ]


def _landmark_reasons(ev: LandmarkEvidence, policy: Policy) -> list[str]:
    out = []
    lid, rtt = ev.landmark_id, ev.rtt_ms
    if ev.too_fast_km > 0:
        out.append(
            f"landmark {lid}: RTT {rtt:.3f} ms puts the chip within "
            f"{ev.hard_max_distance_km:.1f} km (speed of light), but the claim is "
            f"{ev.distance_to_claim_km:.1f} km away: at least {ev.too_fast_km:.1f} km off"
        )
    if ev.too_slow_ms > 0 and ev.p_value is None:
        out.append(
            f"landmark {lid}: RTT {rtt:.3f} ms is {ev.too_slow_ms:.3f} ms slower than an "
            f"honest chip {ev.distance_to_claim_km:.1f} km away may answer "
            f"({ev.allowed_rtt_ms:.3f} ms, {policy.model.value} model): "
            f"relayed from at least ~{ev.least_distance_km:.0f} km beyond the claim"
        )
    return out


def _decide(
    measured: int,
    clash: str | None,
    too_fast: bool,
    error_p: float | None,
    evidence: Sequence[LandmarkEvidence],
    policy: Policy,
) -> tuple[VerdictKind, str | None]:
    """The verdict and, for insufficient evidence, the sentence that leads the reasons."""
    if measured < policy.min_landmarks:
        return VerdictKind.INSUFFICIENT, (
            f"insufficient evidence: {measured} landmark(s) measured, "
            f"the policy requires {policy.min_landmarks}"
        )
    if clash is not None:
        return VerdictKind.INSUFFICIENT, f"insufficient evidence: {clash}"
    if too_fast:
        return VerdictKind.INCONSISTENT, None
    if policy.model is Model.STATISTICAL:
        p = 1.0 if error_p is None else error_p
        if p <= policy.reject_probability:
            return VerdictKind.INCONSISTENT, None
        if p <= policy.suspect_probability:
            return VerdictKind.SUSPICIOUS, None
        return VerdictKind.CONSISTENT, None
    if any(e.too_slow_ms > 0 for e in evidence):
        return VerdictKind.INCONSISTENT, None
    return VerdictKind.CONSISTENT, None


def _contradiction(evidence: Sequence[LandmarkEvidence]) -> str | None:
    """A sentence if two landmarks' light-speed disks cannot meet (no chip anywhere fits
    both: a landmark's position or clock is wrong), else None."""
    for i, a in enumerate(evidence):
        for b in evidence[i + 1 :]:
            reach = a.hard_max_distance_km + b.hard_max_distance_km
            # the sphere is within 0.6 % of WGS84: only clear cases count
            if _sphere_km(a.lat, a.lon, b.lat, b.lon) > reach * 1.006 + 1.0:
                return (
                    f"landmarks {a.landmark_id} and {b.landmark_id} are "
                    f"{_sphere_km(a.lat, a.lon, b.lat, b.lon):.0f} km apart, but their RTTs "
                    f"put the chip within {reach:.0f} km of both together (faster than "
                    "light): a landmark position is wrong, no verdict"
                )
    return None


def _sphere_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def _statistical(
    evidence: Sequence[LandmarkEvidence],
    policy: Policy,
    delay: DelayModel,
    *,
    known: bool,
    claim: Claim,
    site: float,
) -> tuple[float, tuple[str, ...], str]:
    """(error probability, deciding landmarks, the sentence that states them)."""
    ranked = sorted(
        (e for e in evidence if e.p_value is not None), key=lambda e: (e.p_value, e.landmark_id)
    )
    if policy.combination is Combination.COMMON_EXCESS:
        return _common(ranked, policy, delay, known=known, claim=claim, site=site)
    error_p, k = delay.error_probability(
        [e.p_value for e in ranked if e.p_value is not None], policy.robust_k, known=known
    )
    deciding = ranked[:k]
    note = (
        f"the {k} slowest of {len(ranked)} landmark(s): " + _describe(deciding, policy) + ". "
        f"Of honest chips (real servers), a share {error_p:.2g} shows its {k}-th slowest "
        f"landmark this slow (statistical model; inconsistent at <= {policy.reject_probability:g},"
        f" suspicious at <= {policy.suspect_probability:g})"
    )
    return error_p, tuple(e.landmark_id for e in deciding), note


def _describe(deciding: Sequence[LandmarkEvidence], policy: Policy) -> str:
    return "; ".join(
        f"{e.landmark_id} ({e.rtt_ms:.2f} ms at {e.distance_to_claim_km:.0f} km, "
        f"honest chips answer slower than {e.allowed_rtt_ms:.2f} ms with probability "
        f"{policy.suspect_probability:g}; this slow: p = {e.p_value:.2g})"
        for e in deciding
    )


def _common(
    ranked: Sequence[LandmarkEvidence],
    policy: Policy,
    delay: DelayModel,
    *,
    known: bool,
    claim: Claim,
    site: float,
) -> tuple[float, tuple[str, ...], str]:
    """The common-excess combination: the median deviation decides, so the slower half
    of the landmarks (and one more) are the evidence it rests on."""
    rows = [(e.landmark_id, e.distance_to_claim_km + claim.radius_km, e.rtt_ms) for e in ranked]
    stat = delay.common_excess(rows, site)
    error_p = delay.common_error_probability(stat, known=known)
    devs = {lid: delay.deviation(lid, d, rtt, site) for lid, d, rtt in rows}
    deciding = sorted(ranked, key=lambda e: (-devs[e.landmark_id], e.landmark_id))
    deciding = deciding[: len(ranked) // 2 + 1]
    values = sorted(devs.values())
    n = len(values)
    median_ms = values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])
    note = (
        f"common excess of {len(ranked)} landmark(s): the median landmark is "
        f"{median_ms:+.1f} ms ({stat:+.2f} path-noise units) slower than typical for an "
        f"honest chip at the claim; the slowest {len(deciding)}: "
        + _describe(deciding, policy)
        + ". "
        f"Of honest chips (real servers), a share {error_p:.2g} shows a common excess at "
        f"least this large (statistical model; inconsistent at <= "
        f"{policy.reject_probability:g}, suspicious at <= {policy.suspect_probability:g})"
    )
    return error_p, tuple(e.landmark_id for e in deciding), note


def locate(
    landmarks: Mapping[str, Landmark],
    measurements: Iterable[tuple[str, float]],
    model: Model = Model.CALIBRATED,
    calibrations: Mapping[str, Calibration] | None = None,
) -> tuple[Estimate | None, dict[str, float], list[str]]:
    """Estimate only: (estimate, per-landmark max_distance_km, notes)."""
    rtts = min_rtts(landmarks, measurements)
    cals = calibrations or {}
    evidence = []
    for lid, (rtt, samples) in rtts.items():
        lm = landmarks[lid]
        hard = hard_max_distance_km(rtt)
        maxd = model_max_distance_km(rtt, model, cals.get(lid))
        evidence.append(
            LandmarkEvidence(lid, lm.lat, lm.lon, samples, rtt, 0.0, hard, maxd, None, 0, 0, 0)
        )
    est, est_model, notes = locate_evidence(evidence, model)
    if est_model is not None and est_model != model.value:
        notes.append(f"estimate model: {est_model}")
    return est, {e.landmark_id: e.max_distance_km for e in evidence}, notes
