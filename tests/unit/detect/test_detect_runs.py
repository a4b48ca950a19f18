from __future__ import annotations

from dataclasses import replace

from detect_world import H100, energy, t

from pausebutton.detect.io import bundled_hardware
from pausebutton.detect.runs import detect_runs


def test_plateau_found_with_start_end_energy_and_interval() -> None:
    hw = bundled_hardware().get(H100)
    runs, flagged = detect_runs(energy("f1", plateau=(20, 45, 10e6)), hw, declared_w=20e6)
    assert not flagged
    (run,) = runs
    assert abs((run.start - t(20)).total_seconds()) <= 6 * 3600
    assert abs((run.end - t(45)).total_seconds()) <= 6 * 3600
    # 10 MW for 25 days above baseline = 6 GWh
    assert abs(run.energy_kwh - 10e3 * 25 * 24) / (10e3 * 25 * 24) < 0.05
    e = run.estimate
    assert e is not None and e.low < e.flop < e.high and e.method == "energy"


def test_flat_noisy_series_has_no_run() -> None:
    hw = bundled_hardware().get(H100)
    for seed in range(5):
        runs, _ = detect_runs(energy("f1", seed=seed), hw, declared_w=20e6)
        assert runs == []


def test_short_blip_is_not_a_run() -> None:
    hw = bundled_hardware().get(H100)
    runs, _ = detect_runs(energy("f1", plateau=(20, 20.5, 10e6)), hw, declared_w=20e6)
    assert runs == []


def test_impossible_readings_are_flagged_not_used() -> None:
    hw = bundled_hardware().get(H100)
    rs = energy("f1")
    rs[100] = replace(rs[100], power_w=5e9)  # 250x the declared 20 MW
    runs, flagged = detect_runs(rs, hw, declared_w=20e6)
    assert runs == []
    assert flagged == [rs[100]]
