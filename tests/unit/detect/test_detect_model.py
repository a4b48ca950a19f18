"""The compute model that uses everything known, and its cross-validated intervals."""

from __future__ import annotations

import math

import pytest

from pausebutton.detect import model as cm
from pausebutton.detect.io import bundled_compute_model, bundled_hardware, bundled_notable_models
from pausebutton.errors import DataError

H100 = "NVIDIA H100 SXM5 80GB"


@pytest.fixture(scope="module")
def data() -> tuple[list[cm.Run], list[float]]:
    return cm.runs_from_records(bundled_notable_models(), bundled_hardware())


def test_bundled_rows_are_the_calibration_rows(notable_models_csv) -> None:  # type: ignore[no-untyped-def]
    from pausebutton.detect import estimate as est

    full = est.parse_models_csv(notable_models_csv.read_text("utf-8"), bundled_hardware())
    assert [r.name for r in full] == [r.name for r in bundled_notable_models()]
    assert len(full) == 137 and sum(r.mfu is not None for r in full) == 26


def test_out_of_sample_figures_side_by_side(data) -> None:  # type: ignore[no-untyped-def]
    runs, ratios = data
    base = cm.evaluate("one_prior", runs, ratios, columns=(0,), by_group=False)
    model = cm.evaluate("model", runs, ratios)
    # figures published in docs/detect.md and benchmarks/README.md
    assert model.median_abs_log10_error == pytest.approx(0.0887, abs=1e-4)
    assert base.median_abs_log10_error == pytest.approx(0.1219, abs=1e-4)
    assert model.median_abs_log10_error < base.median_abs_log10_error
    for ev in (base, model):
        assert abs(ev.coverage[0.8] - 0.8) < 0.05 and abs(ev.coverage[0.9] - 0.9) < 0.05
    # a reported utilisation pins the estimate: narrow intervals that still cover
    mfu = model.by_group["mfu"]
    assert mfu["median_width_x_0.8"] < 2.0 and mfu["coverage_0.8"] >= 0.75
    # large clusters without one are much narrower than small ones, both still covering
    large, small = model.by_group["no_mfu_large"], model.by_group["no_mfu_small"]
    assert large["median_width_x_0.8"] < 5.0 < small["median_width_x_0.8"]
    assert min(large["coverage_0.8"], small["coverage_0.8"]) >= 0.75
    # the figures published: 80 % intervals cover >= 80 % at <= 5x median width
    assert model.coverage[0.8] >= 0.8 and model.median_width_x[0.8] <= 5.0
    assert model.median_width_x[0.8] < base.median_width_x[0.8]
    # every outer fold chose its grouping on its own training runs
    assert len(model.groupings) == 5 and all(g[0.8][0] for g in model.groupings)
    assert len(model.points) == len(runs)


def test_fold_assignment_moves_the_figures_little(data) -> None:  # type: ignore[no-untyped-def]
    runs, ratios = data
    for seed in (1, 2):
        ev = cm.evaluate("model", runs, ratios, shuffle=seed)
        assert ev.coverage[0.8] >= 0.78 and ev.median_width_x[0.8] <= 5.0


def test_grouping_falls_back_when_groups_are_too_small(data) -> None:  # type: ignore[no-untyped-def]
    runs, ratios = data
    model = cm.fit(runs, ratios)
    # a group's tail at 90 % must rest on MIN_TAIL residuals beyond its quantile
    least = cm.MIN_TAIL / (1 - 0.9)
    for name in model.quantiles[0.9]:
        if name != "all":
            assert sum(cm.group_name(r, model.groupings[0.9]) == name for r in runs) >= least
    pooled = cm.fit(runs, ratios, by_group=False)
    assert pooled.groupings == {0.8: (False, None), 0.9: (False, None)}
    assert set(pooled.quantiles[0.8]) == {"all"}


def test_conformal_half_width_is_the_rank_statistic() -> None:
    assert cm._conformal([0.1 * i for i in range(1, 10)], 0.8) == (-0.8, 0.8)
    assert cm._conformal([-3.0, 1.0, 2.0], 0.5) == (-2.0, 2.0)


def test_estimate_run_and_named_bad_input() -> None:
    hw = bundled_hardware().get(H100)
    model = bundled_compute_model()
    run = cm.Run(hw, 1000, 100, 2024, "bf16", 0.4)
    e = cm.estimate_run(model, run, 0.8)
    base = run.base_flop()
    assert e.method == "model" and e.low < e.flop < e.high
    # with a reported MFU of 0.4 the estimate sits near 0.4 of the peak
    assert 0.25 < e.flop / base < 0.6
    assert e.high / e.low < 3
    unknown = cm.estimate_run(model, cm.Run(hw, 1000, 100), 0.8)
    assert unknown.high / unknown.low > e.high / e.low
    # without a reported MFU, 1,000 chips is a large cluster (split chosen by the fit)
    assert unknown.inputs["interval_group"] == "no_mfu_large"
    split = unknown.inputs["cluster_split_chips"]
    assert isinstance(split, int) and split <= 1000
    small = cm.estimate_run(model, cm.Run(hw, 1, 100), 0.8)
    assert small.inputs["interval_group"] == "no_mfu_small"
    assert small.high / small.low > unknown.high / unknown.low
    with pytest.raises(DataError, match="level"):
        cm.estimate_run(model, run, 0.95)
    for bad in (
        dict(chips=0.0),
        dict(hours=-1.0),
        dict(mfu=1.5),
        dict(year=1900),
        dict(chips=math.nan),
    ):
        kwargs = {"hardware": hw, "chips": 10.0, "hours": 1.0, **bad}
        with pytest.raises(DataError):
            cm.Run(**kwargs)  # type: ignore[arg-type]


def test_fit_needs_enough_runs(data) -> None:  # type: ignore[no-untyped-def]
    runs, ratios = data
    with pytest.raises(DataError, match="too few"):
        cm.fit(runs[:5], ratios[:5])
