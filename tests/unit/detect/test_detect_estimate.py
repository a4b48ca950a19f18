from __future__ import annotations

import math

import pytest

from pausebutton.detect import estimate as est
from pausebutton.detect.io import bundled_hardware
from pausebutton.errors import DataError

H100 = "NVIDIA H100 SXM5 80GB"


def test_table_has_epoch_names_and_rates() -> None:
    t = bundled_hardware()
    assert len(t) > 150
    h = t.get(H100)
    assert h.tdp_w == 700.0
    assert math.isclose(h.peak("bf16"), 9.894e14, rel_tol=0.01)
    assert h.efficiency() == h.peak() / 700.0


def test_unknown_hardware_names_close_matches() -> None:
    with pytest.raises(DataError) as ei:
        bundled_hardware().get("NVIDIA H100")
    assert "close matches" in ei.value.message
    assert "NVIDIA H100 PCIe" in str(ei.value.details["close_matches"])
    assert ei.value.details["field"] == "hardware"


def test_consumer_fp16_does_not_drop_peak() -> None:
    # Pascal consumer cards run FP16 at 1/64 of FP32: bf16 uses the faster rate.
    h = bundled_hardware().get("NVIDIA GeForce GTX 1080 Ti")
    assert h.peak("bf16") == h.peak("fp32")


def test_chips_method_is_chips_x_time_x_peak_x_prior() -> None:
    h = bundled_hardware().get(H100)
    e = est.from_chips(h, 1000, 24)
    u = est.CALIBRATION["chips"].utilisation
    assert math.isclose(e.flop, 1000 * 24 * 3600 * h.peak() * u)
    assert e.method == "chips"
    for lv, (lo, hi) in e.intervals.items():
        assert lo < e.flop < hi, lv
    assert e.intervals[0.8][0] >= e.intervals[0.95][0]
    assert e.intervals[0.8][1] <= e.intervals[0.95][1]
    assert (e.low, e.high) == e.intervals[0.9]


def test_energy_method_uses_pue_and_overhead() -> None:
    h = bundled_hardware().get(H100)
    e1 = est.from_energy(h, 1000.0, pue=1.1)
    e2 = est.from_energy(h, 1000.0, pue=2.2)
    assert math.isclose(e1.flop, 2 * e2.flop)
    chip_j = 1000 * 3.6e6 / (1.1 * est.SERVER_OVERHEAD)
    assert math.isclose(e1.flop, chip_j * h.efficiency() * est.CALIBRATION["energy"].utilisation)
    with pytest.raises(DataError, match="PUE"):
        est.from_energy(h, 1.0, pue=0.5)


def test_estimate_prefers_chips_and_flags_implausible_power() -> None:
    h = bundled_hardware().get(H100)
    p, others = est.estimate(h, hours=10, power_w=1e7, chips=5000)
    assert p.method == "chips" and others[0].method == "energy"
    assert not p.flags
    p2, _ = est.estimate(h, hours=10, power_w=1e10, chips=50)
    assert p2.flags and "implausible power per chip" in p2.flags[0]


def test_bad_inputs_are_named() -> None:
    h = bundled_hardware().get(H100)
    with pytest.raises(DataError, match="negative"):
        est.estimate(h, hours=-1, power_w=1e6)
    with pytest.raises(DataError, match="power"):
        est.estimate(h, hours=1)
    with pytest.raises(DataError, match="level"):
        est.from_chips(h, 1, 1, level=0.5)
    with pytest.raises(DataError, match="precision"):
        est.from_chips(h, 1, 1, precision="fp128")
