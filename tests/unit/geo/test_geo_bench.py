"""``pausebutton bench geo``: a short run gives the documented figures, measured."""

from __future__ import annotations

import json

from pausebutton.bench import geo as bench_geo


def test_bench_geo_small_run():
    result = bench_geo.run(trials=6, seed=3)
    assert result["trials_per_band"] == 6
    # Physics: the hard bound never rejects an honest chip, and never sees a relay.
    assert result["false_rejects"]["hard"] == 0
    assert set(result["relay_detection_km"]["hard"].values()) == {None}
    rates = result["relay_caught_rate_nearest_within_100km"]["calibrated"]
    # Relays thousands of km away are always caught with a landmark within 100 km.
    assert rates["3000"] == 1.0 and rates["5000"] == 1.0
    assert 0.0 <= result["false_reject_rate"]["calibrated"] <= 1.0
    assert len(result["tolerance_sweep_calibrated"]) == 4
    assert result["sites"] == {"epoch_data_centers": 17, "world_cities": 135}


def test_bench_geo_cli(cli):
    r = cli("bench", "geo", "--json", "--trials", "2", timeout=180)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc["targets"]) == {
        "hard_bound_no_false_rejects",
        "calibrated_false_reject_rate_below_1pct",
        "relay_300km_caught_99pct_with_landmark_within_100km",
    }
