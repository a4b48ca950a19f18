"""``pausebutton bench geo``: a short run gives the documented figures, measured."""

from __future__ import annotations

import json

from pausebutton.bench import geo as bench_geo


def test_bench_geo_small_run(tmp_path):
    plot = tmp_path / "curve.png"
    result = bench_geo.run(trials=6, seed=3, real_claims=2, plot=plot)
    assert list(result) == ["real_data", "generator"]  # real data first
    real = result["real_data"]
    assert real["servers"] == 121 and real["mislocated_dropped"] == ["220", "204"]
    assert real["honest_cases"] == 121 and real["relay_cases"] == 242
    assert real["false_reject_rate_hard_bound"] == 0.0
    assert 0.0 <= real["false_reject_rate"] <= 1.0
    assert set(real["relay_caught_by_km"]) >= {"700-1500", "5000-"}
    rates = [c["false_reject_rate"] for c in real["curve"]]
    assert rates == sorted(rates, reverse=True)  # stricter thresholds reject fewer
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert real["combination"] == "common_excess"
    assert set(real["kth_p_value_by_k"]) == {"2", "3", "4", "6"}
    coverage = real["by_landmark_coverage"]
    assert sum(v["honest_cases"] for v in coverage.values()) == 121
    assert sum(v["relay_cases"] for v in coverage.values()) == 242
    missed = sum(sum(v.values()) for v in real["missed_by_reason"].values())
    caught = sum(band["cases"] * band["caught"] for band in real["relay_caught_by_km"].values())
    assert missed + round(caught) == 242
    # "suspicious" flags at least what "inconsistent" rejects
    flagged = real["flagged_at_least_suspicious"]
    assert flagged["false_reject_rate"] >= real["false_reject_rate"]
    assert flagged["relay_caught_700km_plus"] >= real["relay_caught_700km_plus"]
    gen = result["generator"]
    assert gen["trials_per_band"] == 6
    # Physics: the hard bound never rejects an honest chip, and never sees a relay.
    assert gen["false_rejects"]["hard"] == 0
    assert set(gen["relay_detection_km"]["hard"].values()) == {None}
    rates = gen["relay_caught_rate_nearest_within_100km"]["calibrated"]
    # Relays thousands of km away are always caught with a landmark within 100 km.
    assert rates["3000"] == 1.0 and rates["5000"] == 1.0
    assert 0.0 <= gen["false_reject_rate"]["calibrated"] <= 1.0
    assert len(gen["tolerance_sweep_calibrated"]) == 4
    assert gen["sites"] == {"epoch_data_centers": 17, "world_cities": 135}


def test_bench_geo_cli(cli):
    r = cli("bench", "geo", "--json", "--trials", "2", "--real-claims", "1", timeout=180)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc["generator"]["targets"]) == {
        "hard_bound_no_false_rejects",
        "calibrated_false_reject_rate_below_1pct",
        "relay_300km_caught_99pct_with_landmark_within_100km",
    }
    assert doc["real_data"]["relay_cases"] == 121
