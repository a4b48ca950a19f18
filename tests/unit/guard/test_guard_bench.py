"""The guard benchmark runs (quick mode) and reports measured, consistent figures."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from pausebutton.bench.guard import run

pytestmark = pytest.mark.torch


def test_quick_guard_benchmark_reports_figures():
    out = run(quick=True, rounds=4)
    assert out["device"] == "cpu" and out["nvml"] is None
    assert set(out["step_ms"]) == {"plain", "local", "chip", "lease", "control"}
    assert all(v > 0 for v in out["step_ms"].values())
    assert set(out["overhead_pct"]) == {"local", "chip", "lease", "control"}
    assert 1 <= out["lease_round_trips"] <= out["steps_per_variant"]
    assert out["metered_vs_full"] == 1.0
    assert abs(out["metered_vs_6nd"] - 1) < 0.10
    assert all(v > 0 for v in out["guard_us_per_step_empty_body"].values())
    assert out["steps_per_variant"] == 4


@pytest.mark.parametrize("kw", [{"device": "tpu"}, {"rounds": 0}, {"block": -1}, {"threads": 0}])
def test_bad_benchmark_options_are_usage_errors(kw):
    from pausebutton.errors import UsageError

    with pytest.raises(UsageError):
        run(quick=True, **kw)
