"""The chip benchmark runs and reports measured, positive figures."""

from __future__ import annotations

from pausebutton.bench.chip import run


def test_bench_chip_quick() -> None:
    result = run(quick=True)
    for key in (
        "install_license_per_s",
        "install_time_token_per_s",
        "meter_decisions_per_s",
        "meter_persisted_per_s",
        "respond_median_us",
        "respond_p99_us",
        "raw_ed25519_sign_median_us",
    ):
        assert result[key] > 0, key
    assert result["respond_p99_us"] >= result["respond_median_us"]
    assert result["respond_median_us"] >= result["raw_ed25519_sign_median_us"] * 0.5
