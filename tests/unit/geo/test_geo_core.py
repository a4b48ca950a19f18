"""Geo core: physics bounds, calibration, region, verdicts (pure functions)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausebutton.errors import DataError, UsageError
from pausebutton.geo import (
    C_KM_PER_MS,
    Claim,
    Landmark,
    Model,
    Policy,
    VerdictKind,
    calibrate,
    distance_km,
    hard_max_distance_km,
    locate,
    verify_claim,
)
from pausebutton.geo.calibration import FIBRE_SLOPE_MS_PER_KM, CalibrationPoint, fit
from pausebutton.geo.physics import (
    destination,
    fibre_max_distance_km,
    fibre_rtt_ms,
    hard_min_rtt_ms,
)
from pausebutton.geo.region import Disk, estimate

# Real coordinates (approximate city centres).
AMS = (52.3676, 4.9041)
BRU = (50.8503, 4.3517)
DUS = (51.2277, 6.7735)
PAR = (48.8566, 2.3522)
FRA = (50.1109, 8.6821)
LON = (51.5074, -0.1278)
EIN = (51.4416, 5.4697)  # the facility in most tests


def lms(**points: tuple[float, float]) -> dict[str, Landmark]:
    return {k: Landmark(k, *v) for k, v in points.items()}


EU = lms(ams=AMS, bru=BRU, dus=DUS, par=PAR, fra=FRA, lon=LON)


def honest(site: tuple[float, float], inflation: float = 1.4, overhead: float = 0.3):
    return [
        (k, fibre_rtt_ms(distance_km(lm.lat, lm.lon, *site)) * inflation + overhead)
        for k, lm in EU.items()
    ]


def test_known_distance_and_bounds():
    # Amsterdam-Paris is ~430 km on the ellipsoid.
    assert 425 < distance_km(*AMS, *PAR) < 435
    assert hard_max_distance_km(1.0) == pytest.approx(C_KM_PER_MS / 2)
    assert hard_max_distance_km(1.0) == pytest.approx(149.896229)
    assert fibre_max_distance_km(1.0) == pytest.approx(99.93, abs=0.01)
    assert hard_min_rtt_ms(149.896229) == pytest.approx(1.0)


def test_destination_round_trip():
    lat, lon = destination(*AMS, 123.0, 250.0)
    assert distance_km(*AMS, lat, lon) == pytest.approx(250.0, rel=1e-9)


def test_honest_chip_is_consistent_with_every_model():
    from pausebutton.geo.wonderproxy import bundled_delay_model

    for model in Model:
        v = verify_claim(
            EU, honest(EIN), Claim(*EIN), Policy(model=model), delay=bundled_delay_model()
        )
        assert v.verdict is VerdictKind.CONSISTENT, v.reasons
        assert v.least_distance_km == 0
        assert v.estimate is not None
        assert distance_km(*EIN, v.estimate.lat, v.estimate.lon) <= v.estimate.radius_km


def test_relay_is_too_slow_under_fibre_model():
    # The chip really sits 600 km east of its claimed facility and answers via a relay
    # there: every landmark sees the extra round trip.
    far = destination(*EIN, 90.0, 600.0)
    extra = fibre_rtt_ms(distance_km(*EIN, *far)) * 1.2
    meas = [(k, r + extra) for k, r in honest(EIN)]
    v = verify_claim(EU, meas, Claim(*EIN), Policy(model=Model.FIBRE))
    assert v.verdict is VerdictKind.INCONSISTENT
    assert v.least_distance_basis == "model"
    slow = [e for e in v.landmarks if e.status == "too_slow"]
    assert {e.landmark_id for e in slow} >= {"ams", "bru", "dus"}
    assert all(e.too_slow_ms > 0 for e in slow)
    assert 0 < v.least_distance_km < 600
    assert any("slower than an honest chip" in r for r in v.reasons)


def test_relay_is_invisible_to_the_hard_model():
    far = destination(*EIN, 90.0, 600.0)
    extra = fibre_rtt_ms(distance_km(*EIN, *far))
    meas = [(k, r + extra) for k, r in honest(EIN)]
    v = verify_claim(EU, meas, Claim(*EIN), Policy(model=Model.HARD))
    assert v.verdict is VerdictKind.CONSISTENT


def test_too_fast_for_the_claim_is_physics():
    # Measurements of a chip in Eindhoven, claimed to be in Madrid (1,400 km away).
    v = verify_claim(EU, honest(EIN), Claim(40.4168, -3.7038), Policy(model=Model.HARD))
    assert v.verdict is VerdictKind.INCONSISTENT
    assert v.least_distance_basis == "physics"
    fast = [e for e in v.landmarks if e.status == "too_fast"]
    assert fast
    # The chip is in Eindhoven, ~1,400 km from Madrid: the physical lower bound is below it.
    assert 500 < v.least_distance_km < distance_km(*EIN, 40.4168, -3.7038)


def test_claim_radius_counts():
    near = destination(*EIN, 0.0, 30.0)
    tight = verify_claim(EU, honest(EIN, 1.0, 0.0), Claim(*near), Policy(model=Model.HARD))
    assert tight.verdict is VerdictKind.CONSISTENT  # 30 km is within the hard slack
    far = destination(*EIN, 0.0, 300.0)
    v = verify_claim(EU, honest(EIN, 1.0, 0.0), Claim(*far), Policy(model=Model.HARD))
    assert v.verdict is VerdictKind.INCONSISTENT
    v2 = verify_claim(EU, honest(EIN, 1.0, 0.0), Claim(*far, 290.0), Policy(model=Model.HARD))
    assert v2.verdict is VerdictKind.CONSISTENT


def test_insufficient_evidence_below_policy_minimum():
    meas = [m for m in honest(EIN) if m[0] in ("ams", "bru")]
    v = verify_claim(EU, meas, Claim(*EIN), Policy(min_landmarks=3))
    assert v.verdict is VerdictKind.INSUFFICIENT
    assert "insufficient evidence" in v.reasons[0]
    # Even a physically impossible claim is not judged on too few landmarks.
    v = verify_claim(EU, meas, Claim(40.4, -3.7), Policy(min_landmarks=3))
    assert v.verdict is VerdictKind.INSUFFICIENT


def test_repeated_measurements_minimum_counts():
    base = honest(EIN)
    noisy = [*base, *[(k, r + 50.0) for k, r in base]]
    v = verify_claim(EU, noisy, Claim(*EIN), Policy(model=Model.FIBRE))
    assert v.verdict is VerdictKind.CONSISTENT
    assert all(e.samples == 2 for e in v.landmarks)


@pytest.mark.parametrize("rtt", [-1.0, 0.0, math.nan, math.inf, 1e9])
def test_bad_rtt_is_rejected(rtt):
    with pytest.raises(DataError):
        verify_claim(EU, [("ams", rtt)], Claim(*EIN))


def test_unknown_landmark_and_bad_coordinates():
    with pytest.raises(DataError, match="unknown landmark"):
        verify_claim(EU, [("nowhere", 3.0)], Claim(*EIN))
    with pytest.raises(DataError):
        Landmark("x", 91.0, 0.0)
    with pytest.raises(DataError):
        Claim(0.0, 181.0)
    with pytest.raises(DataError):
        Claim(0.0, 0.0, -1.0)
    with pytest.raises(UsageError):
        Policy(min_landmarks=0)
    with pytest.raises(UsageError):
        Policy(max_inflation=0.5)


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(-60, 70),
    lon=st.floats(-179, 179),
    inflation=st.floats(1.0, 6.0),
    extra=st.floats(0.0, 80.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_hard_bound_never_rejects_an_honest_chip(lat, lon, inflation, extra, seed):
    """Whatever the routing inflation and queueing, a chip truly at the claim is never
    'inconsistent' under the hard model: its RTT is at least the light-speed time."""
    rng = random.Random(seed)
    landmarks = {}
    meas = []
    for i in range(4):
        p = destination(lat, lon, rng.uniform(0, 360), rng.uniform(1, 5000))
        landmarks[f"l{i}"] = Landmark(f"l{i}", *p)
        d = distance_km(*p, lat, lon)
        meas.append((f"l{i}", max(hard_min_rtt_ms(d) * inflation + extra * rng.random(), 1e-6)))
    v = verify_claim(
        landmarks, meas, Claim(lat, lon), Policy(model=Model.HARD), with_estimate=False
    )
    assert v.verdict is VerdictKind.CONSISTENT


def test_bestline_and_slowline_fit():
    # Points on rtt = 0.015 d + 0.4 plus positive noise.
    rng = random.Random(3)
    pts = [CalibrationPoint(d, 0.015 * d + 0.4 + rng.uniform(0, 2)) for d in range(100, 3000, 150)]
    cal = fit("x", pts)
    assert cal.bestline.slope >= FIBRE_SLOPE_MS_PER_KM
    assert all(cal.bestline.rtt_at(p.distance_km) <= p.rtt_ms + 1e-9 for p in pts)
    far = [p for p in pts if p.distance_km >= 500]
    assert far and all(cal.slowline.rtt_at(p.distance_km) >= p.rtt_ms - 1e-9 for p in far)
    assert cal.slowline.slope >= cal.bestline.slope
    # The bestline distance bound is tighter than fibre and still covers the points.
    for p in pts:
        assert p.distance_km <= cal.bestline.distance_at(p.rtt_ms) + 1e-6
        assert cal.bestline.distance_at(p.rtt_ms) <= fibre_max_distance_km(p.rtt_ms) + 1e-6


def test_calibrate_from_pairs_and_calibrated_verdict():
    positions = {k: (v.lat, v.lon) for k, v in EU.items()}
    pairs = []
    for a in EU:
        for b in EU:
            if a < b:
                d = distance_km(*positions[a], *positions[b])
                pairs.append((a, b, fibre_rtt_ms(d) * 1.5 + 0.4))
                pairs.append((b, a, fibre_rtt_ms(d) * 1.5 + 3.0))  # min counts
    cals = calibrate(positions, pairs)
    assert set(cals) == set(EU)
    assert all(c.points == 5 for c in cals.values())
    v = verify_claim(EU, honest(EIN, 1.5, 0.4), Claim(*EIN), Policy(), cals)
    assert v.verdict is VerdictKind.CONSISTENT, v.reasons
    far = [(k, r + 6.0) for k, r in honest(EIN, 1.5, 0.4)]
    v = verify_claim(EU, far, Claim(*EIN), Policy(), cals)
    assert v.verdict is VerdictKind.INCONSISTENT
    with pytest.raises(DataError):
        calibrate(positions, [("ams", "zzz", 3.0)])


def test_region_estimate_and_locate():
    est = estimate([Disk(*AMS, 200.0), Disk(*BRU, 200.0), Disk(*DUS, 150.0)])
    assert est is not None
    for p in (AMS, BRU, DUS):
        assert distance_km(*p, est.lat, est.lon) < 200
    assert estimate([Disk(*AMS, 10.0), Disk(*PAR, 10.0)]) is None
    est, maxd, _ = locate(EU, honest(EIN), Model.FIBRE)
    assert est is not None and set(maxd) == set(EU)
    assert distance_km(*EIN, est.lat, est.lon) <= est.radius_km


def test_region_across_the_antimeridian():
    fiji, samoa = (-18.1, 178.4), (-13.8, -171.8)
    est = estimate([Disk(*fiji, 800.0), Disk(*samoa, 800.0)])
    assert est is not None
    assert distance_km(*fiji, est.lat, est.lon) < 800
    assert distance_km(*samoa, est.lat, est.lon) < 800
