"""The statistical delay model fitted on real pings, and the verdicts it gives."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from pausebutton.errors import DataError, UsageError
from pausebutton.geo import crossval as cv
from pausebutton.geo.delay import NULL_TAIL_FLOOR, Band, DelayModel, best_pairs, find_mislocated
from pausebutton.geo.physics import destination, distance_km, hard_min_rtt_ms
from pausebutton.geo.verdict import (
    Claim,
    Combination,
    Landmark,
    Model,
    Policy,
    VerdictKind,
    verify_claim,
)
from pausebutton.geo.wonderproxy import bundled, bundled_delay_model

STAT = Policy(model=Model.STATISTICAL)


@pytest.fixture(scope="module")
def model() -> DelayModel:
    return bundled_delay_model()


@pytest.fixture(scope="module")
def real():
    servers, pings = bundled()
    positions = {k: (v.lat, v.lon) for k, v in servers.items()}
    best = best_pairs(positions, ((p.source, p.destination, p.min_ms) for p in pings))
    return servers, positions, best


def test_shipped_data_and_model(real, model):
    servers, _positions, best = real
    assert len(servers) == 123 and len(best) > 7000
    # LaCeiba's and Belfast's published coordinates are wrong: their pings beat light
    assert set(model.dropped) == {"220", "204"}
    assert model.pairs > 7000 and len(model.offsets) == 121
    # residual bands: the tail is wider far away, and survival falls monotonically
    for band in model.bands:
        values = [band.survival(x) for x in (-50, 0, 20, 60, 200, 1000)]
        assert values == sorted(values, reverse=True) and values[-1] > 0
        assert band.quantile(0.999) > band.quantile(0.5)


def test_band_survival_is_empirical_then_exponential():
    band = Band.of(0.0, range(100))
    assert band.threshold == 90
    assert band.survival(-1) == 1.0
    assert band.survival(50) == pytest.approx(51 / 101)
    assert band.survival(90 + band.tail_mean) == pytest.approx(0.1 * 0.36787944, rel=1e-6)
    assert band.quantile(1 - 0.1 * 0.36787944) == pytest.approx(90 + band.tail_mean)


def test_honest_statistic_tail_is_no_lighter_than_one_p_value():
    """The error probability's exponential tail has at least the mean of -log10 of a
    uniform p-value (1 / ln 10 decades), however tight the measured statistics are."""
    assert pytest.approx(0.4342945) == NULL_TAIL_FLOOR
    tight = Band.of(0.0, [0.01 * i for i in range(100)], floor=NULL_TAIL_FLOOR)
    assert tight.tail_mean == NULL_TAIL_FLOOR
    assert Band.of(0.0, [0.01 * i for i in range(100)]).tail_mean == 1.0  # delays: 1 ms
    null = tuple(sorted(0.01 * i for i in range(100)))
    model = DelayModel((), (), null_by_k=(null,) * 6)
    p, k = model.error_probability([1e-3] * 6, 4)
    assert k == 4 and p == pytest.approx(0.1 * math.exp(-(3.0 - 0.9) / NULL_TAIL_FLOOR))
    # with fewer landmarks than k, all of them decide
    assert model.error_probability([1e-3] * 3, 4)[1] == 3


def test_find_mislocated_drops_the_host_in_most_violations():
    dist = {("a", "b"): 1000.0, ("a", "c"): 1000.0, ("b", "c"): 1000.0}
    fast = hard_min_rtt_ms(1000.0) * 0.5
    best = {("a", "b"): fast, ("a", "c"): fast, ("b", "c"): 20.0}
    assert find_mislocated(best, dist) == ["a"]
    assert find_mislocated({("b", "c"): 20.0}, dist) == []


def test_best_pairs_rejects_bad_input():
    pos = {"a": (0.0, 0.0), "b": (1.0, 1.0)}
    assert best_pairs(pos, [("a", "b", 9.0), ("b", "a", 7.0), ("a", "a", 1.0)]) == {("a", "b"): 7.0}
    with pytest.raises(DataError):
        best_pairs(pos, [("a", "zz", 3.0)])
    with pytest.raises(DataError):
        best_pairs(pos, [("a", "b", -1.0)])
    with pytest.raises(DataError, match="pairs"):
        DelayModel.fit(pos, [("a", "b", 5.0)])


def _case(real, target: str, claim: str, n: int = 6):
    _servers, positions, best = real
    near = sorted(
        (i for i in positions if i not in (target, claim, "220", "204")),
        key=lambda i: distance_km(*positions[i], *positions[claim]),
    )[:n]
    lms = {i: Landmark(i, *positions[i]) for i in near}
    rows = [(i, best[(min(i, target), max(i, target))]) for i in near]
    return lms, rows, Claim(*positions[claim])


def test_honest_server_is_consistent_and_far_relay_inconsistent(real, model):
    servers, _positions, _ = real
    munich = next(k for k, v in servers.items() if v.title == "Munich")
    tokyo = next(k for k, v in servers.items() if v.title == "Tokyo")
    v = verify_claim(*_case(real, munich, munich), STAT, delay=model)
    assert v.verdict is VerdictKind.CONSISTENT and v.error_probability is not None
    assert v.error_probability > STAT.suspect_probability
    # Tokyo claiming Munich: the landmarks near Munich see Tokyo's RTTs
    v = verify_claim(*_case(real, tokyo, munich), STAT, delay=model)
    assert v.verdict is VerdictKind.INCONSISTENT, v.reasons
    assert v.error_probability is not None and v.error_probability <= STAT.reject_probability
    assert len(v.deciding_landmarks) == 6 // 2 + 1  # the median of 6 rests on the 4 slowest
    text = " ".join(v.reasons)
    for lid in v.deciding_landmarks:
        assert lid in text
    assert "p = " in text and "honest chips" in text
    doc = v.to_json()
    assert doc["error_probability"] == pytest.approx(v.error_probability, rel=1e-3)
    assert all(e["p_value"] is not None for e in doc["landmarks"])


def test_one_slow_path_never_convicts(real, model):
    servers, _positions, _ = real
    munich = next(k for k, v in servers.items() if v.title == "Munich")
    lms, rows, claim = _case(real, munich, munich)
    rows = [(rows[0][0], rows[0][1] + 500.0), *rows[1:]]  # one path 500 ms slower
    v = verify_claim(lms, rows, claim, STAT, delay=model)
    assert v.verdict is VerdictKind.CONSISTENT
    kth = Policy(model=Model.STATISTICAL, combination=Combination.KTH_P_VALUE)
    assert verify_claim(lms, rows, claim, kth, delay=model).verdict is VerdictKind.CONSISTENT
    # with the slowest landmark deciding (k = 1) the same single path is decisive
    v = verify_claim(lms, rows, claim, replace(kth, robust_k=1), delay=model)
    assert v.verdict is not VerdictKind.CONSISTENT


def test_thresholds_make_suspicious_between_reject_and_suspect(real, model):
    servers, _, _ = real
    munich = next(k for k, v in servers.items() if v.title == "Munich")
    v0 = verify_claim(*_case(real, munich, munich), STAT, delay=model)
    assert v0.error_probability is not None
    p = v0.error_probability
    loose = Policy(model=Model.STATISTICAL, reject_probability=p / 2, suspect_probability=p)
    assert verify_claim(*_case(real, munich, munich), loose, delay=model).verdict is (
        VerdictKind.SUSPICIOUS
    )
    with pytest.raises(UsageError):
        Policy(model=Model.STATISTICAL, reject_probability=0.2, suspect_probability=0.1)
    with pytest.raises(UsageError):
        Policy(robust_k=0)
    with pytest.raises(UsageError, match="delay model"):
        verify_claim(*_case(real, munich, munich), STAT)


def test_light_speed_stays_the_only_zero_false_reject_rule(model):
    """Whatever the thresholds, an honest chip never fails the hard bound; a chip
    faster than light to the claim is inconsistent with error probability 0."""
    rng = random.Random(5)
    site = (50.0, 8.0)
    lms = {}
    for i in range(5):
        lat, lon = destination(*site, rng.uniform(0, 360), rng.uniform(50, 800))
        lms[f"l{i}"] = Landmark(f"l{i}", lat, lon)
    d = {k: distance_km(v.lat, v.lon, *site) for k, v in lms.items()}
    hard = Policy(model=Model.STATISTICAL, reject_probability=0.0, suspect_probability=0.0)
    for _ in range(50):
        rows = [(k, hard_min_rtt_ms(x) * rng.uniform(1.0, 3.0) + 0.01) for k, x in d.items()]
        v = verify_claim(lms, rows, Claim(*site), hard, delay=model, with_estimate=False)
        assert v.verdict is VerdictKind.CONSISTENT
    # one landmark answered faster than light could from the claim: physics, p = 0
    first, *rest = d.items()
    rows = [(first[0], hard_min_rtt_ms(first[1]) * 0.5)]
    rows += [(k, hard_min_rtt_ms(x) * 1.5 + 5) for k, x in rest]
    v = verify_claim(lms, rows, Claim(*site), STAT, delay=model, with_estimate=False)
    assert v.verdict is VerdictKind.INCONSISTENT and v.error_probability == 0.0
    assert v.least_distance_basis == "physics"


def test_contradicting_landmarks_give_insufficient_evidence(model):
    lms = {"a": Landmark("a", 0.0, 0.0), "b": Landmark("b", 0.0, 40.0), "c": Landmark("c", 1, 1)}
    # a and b are ~4,450 km apart, but 5 ms each puts the chip within 750 km of both
    rows = [("a", 5.0), ("b", 5.0), ("c", 5.0)]
    for policy in (STAT, Policy(model=Model.FIBRE)):
        v = verify_claim(lms, rows, Claim(0.0, 20.0), policy, delay=model)
        assert v.verdict is VerdictKind.INSUFFICIENT
        assert "landmark position is wrong" in v.reasons[0]
        assert v.error_probability is None


def test_mislocated_calibration_landmark_is_left_out(model):
    pos = {"a": (50.0, 8.0), "b": (48.0, 11.0), "c": (52.0, 13.0), "x": (40.0, -3.0)}
    pings = [
        ("a", "b", 6.0),
        ("a", "c", 8.0),
        ("b", "c", 9.0),
        ("x", "a", 1.0),  # x claims Madrid but answers Munich in 1 ms
        ("x", "b", 1.2),
    ]
    extended, dropped = model.with_landmarks(pos, pings)
    assert dropped == ("x",)
    assert extended.knows("a") and not extended.knows("x")
    lms = {k: Landmark(k, *v) for k, v in pos.items()}
    rows = [("a", 6.0), ("b", 7.0), ("c", 8.0), ("x", 1.0)]
    v = verify_claim(lms, rows, Claim(49.5, 10.0), STAT, delay=extended, mislocated=dropped)
    assert [e.landmark_id for e in v.landmarks] == ["a", "b", "c"]
    assert any("left out landmark(s) x" in r for r in v.reasons)
    v = verify_claim(
        lms, rows[:2] + rows[3:], Claim(49.5, 10.0), STAT, delay=extended, mislocated=dropped
    )
    assert v.verdict is VerdictKind.INSUFFICIENT


def test_cross_validation_small(real):
    _, positions, best = real
    study = cv.cross_validate(positions, best, max_claims=3, folds=5)
    assert study.servers == 121 and study.dropped == ("220", "204")
    assert len(study.honest) == 121 and len(study.relays) == 121 * 3
    assert cv.false_reject_rate(study, 0.0) == 0.0  # no honest server beats light
    rates = cv.catch_rates(study, 1e-2, (0.0, 1000.0, 5000.0))
    assert sum(n for _, _, n, _ in rates) == len(study.relays)
    # more lenient thresholds never catch fewer relays
    assert cv.catch_rates(study, 0.05, (0.0,))[0][3] >= cv.catch_rates(study, 1e-3, (0.0,))[0][3]
    assert all(0 <= c.error_probability_known <= 1 for c in study.cases)
    assert all(c.error_probability_known == 0 for c in study.cases if c.physics)
    assert cv.false_reject_rate(study, 0.0, known=True) == 0.0
    for c in study.cases:
        assert len(c.landmark_km) == len(c.relay_gain_km) == c.landmarks == 6
        assert list(c.landmark_km) == sorted(c.landmark_km)
        assert c.coverage_km == c.landmark_km[2]
        # a relay lengthens a landmark's path by at most the relay distance (triangle)
        assert all(g <= c.relay_km + 1e-6 for g in c.relay_gain_km)
    assert all(g == 0.0 for c in study.honest for g in c.relay_gain_km)
    reasons = cv.miss_reasons(study, 1e-2, 4)
    missed = sum(not cv.rejected(c, 1e-2) for c in study.relays)
    assert sum(reasons.values()) == missed
    assert sum(cv.miss_reasons(study, 0.999, 4).values()) <= missed


def test_miss_reasons_classify_each_missed_relay():
    def case(relay_km: float, landmark_km: tuple[float, ...], gains: tuple[float, ...]) -> cv.Case:
        return cv.Case("t", "c", relay_km, 6, False, 0.5, "consistent", 0.5, landmark_km, gains)

    study = cv.Study(
        (
            case(5000.0, (1200.0,) * 6, (4000.0,) * 6),  # no landmark near the claim
            case(5000.0, (100.0,) * 6, (4000.0, 4000.0, 4000.0, 100.0, 0.0, 0.0)),
            case(5000.0, (100.0,) * 6, (4000.0,) * 6),
            replace(case(5000.0, (100.0,) * 6, (4000.0,) * 6), physics=True),  # caught
        ),
        5,
        1,
        (),
    )
    assert cv.miss_reasons(study, 0.01, 4) == {
        "far_landmarks": 1,
        "relay_near_landmarks": 1,
        "within_honest_delay": 1,
    }
    # with k = 3 the second case has enough landmarks the relay lengthened
    assert cv.miss_reasons(study, 0.01, 3)["within_honest_delay"] == 2


def test_facility_offset_measured_on_site(real, model):
    servers, positions, best = real
    munich = next(k for k, v in servers.items() if v.title == "Munich")
    lms, rows, claim = _case(real, munich, munich)
    others = sorted(
        (i for i in positions if i not in lms and i not in (munich, "220", "204")),
        key=lambda i: distance_km(*positions[i], *positions[munich]),
    )
    pings = [
        (i, distance_km(*positions[i], *positions[munich]), best[(min(i, munich), max(i, munich))])
        for i in others
    ]
    site = model.facility_offset(pings)
    assert site is not None and abs(site) < 50
    assert model.facility_offset([("nowhere", 100.0, 5.0)]) is None
    v = verify_claim(lms, rows, claim, STAT, delay=model, facility_offset_ms=site)
    assert v.verdict is VerdictKind.CONSISTENT
    assert any("measured on site" in r for r in v.reasons)
    assert v.error_probability is not None and 0 < v.error_probability <= 1
    # the honest distribution with measured offsets is its own
    assert model.null_known_by_k and model.null_known_by_k != model.null_by_k


def test_common_excess_decides_by_the_median_landmark(real, model):
    servers, _positions, _ = real
    munich = next(k for k, v in servers.items() if v.title == "Munich")
    tokyo = next(k for k, v in servers.items() if v.title == "Tokyo")
    lms, rows, claim = _case(real, tokyo, munich)
    v = verify_claim(lms, rows, claim, STAT, delay=model)
    assert STAT.combination is Combination.COMMON_EXCESS
    assert v.to_json()["policy"]["combination"] == "common_excess"
    site = model.site_offset(lms)
    assert any(r.startswith("common excess of 6 landmark(s)") for r in v.reasons)
    # the deciding landmarks are the slowest 4 of 6 by deviation
    devs = {
        e.landmark_id: model.deviation(e.landmark_id, e.distance_to_claim_km, e.rtt_ms, site)
        for e in v.landmarks
    }
    slowest = sorted(devs, key=lambda i: (-devs[i], i))[:4]
    assert list(v.deciding_landmarks) == slowest
    # one landmark made 500 ms slower moves the median little; half of them, a lot
    honest = verify_claim(*_case(real, munich, munich), STAT, delay=model)
    lms, rows, claim = _case(real, munich, munich)
    one = [(rows[0][0], rows[0][1] + 500.0), *rows[1:]]
    half = [(i, r + 500.0) for i, r in rows[:3]] + rows[3:]
    assert honest.error_probability is not None
    p_one = verify_claim(lms, one, claim, STAT, delay=model).error_probability
    p_half = verify_claim(lms, half, claim, STAT, delay=model).error_probability
    assert p_one is not None and p_half is not None
    assert p_one > STAT.suspect_probability and p_half < p_one <= 1.0


def test_deviation_never_expects_faster_than_light(model):
    fast = replace(model, offsets={**model.offsets, "x": -1000.0})
    assert fast.deviation("x", 100.0, 5.0) == pytest.approx(5.0 - hard_min_rtt_ms(100.0))
    assert model.deviation("unknown", 100.0, 5.0) == pytest.approx(
        5.0 - hard_min_rtt_ms(100.0) - model.medians[0]
    )
    with pytest.raises(DataError):
        model.common_excess([], 0.0)
    with pytest.raises(DataError):
        DelayModel((), ()).common_error_probability(1.0)
    # the honest distributions are measured, sorted, one value per fitted host
    assert list(model.null_common) == sorted(model.null_common)
    assert len(model.null_common) == len(model.null_by_k[0])
    assert model.common_error_probability(-100.0) == 1.0
    assert 0.0 < model.common_error_probability(1000.0) < 1e-6
