"""``pausebutton bench detect``, compute estimates: out-of-sample accuracy, coverage and
width of the training-compute estimates on Epoch AI's notable models (the 137 rows
shipped with the package), the one-prior estimator beside the model that uses
everything known (``detect.model``), each refitted in every outer fold (5-fold)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pausebutton.detect import model as cm
from pausebutton.detect.io import bundled_hardware, bundled_notable_models
from pausebutton.errors import UsageError

BASELINE = (0,)
"""The one-prior estimator: the intercept only (chips x time x peak x median utilisation)."""
SHUFFLES = (1, 2, 3, 4, 5)
"""Seeds of the outer fold assignments the model is judged on again (the figures' spread)."""
WITHOUT_MFU = tuple(i for i, f in enumerate(cm.FEATURES) if "mfu" not in f)


def run_estimates(plot: Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    runs, ratios = cm.runs_from_records(bundled_notable_models(), bundled_hardware())
    evals = {
        "one_prior": cm.evaluate("one_prior", runs, ratios, columns=BASELINE, by_group=False),
        "features_without_mfu": cm.evaluate(
            "features_without_mfu", runs, ratios, columns=WITHOUT_MFU, by_group=False
        ),
        "model_pooled_interval": cm.evaluate("model_pooled", runs, ratios, by_group=False),
        "model": cm.evaluate("model", runs, ratios),
    }
    best = evals["model"]
    reshuffled = [cm.evaluate("model", runs, ratios, shuffle=seed) for seed in SHUFFLES]
    result: dict[str, Any] = {
        "data": "Epoch AI notable AI models (CC BY 4.0), rows with compute, hardware,"
        " chips and time",
        "runs": len(runs),
        "runs_with_reported_mfu": sum(1 for r in runs if r.mfu is not None),
        "folds": cm.FOLDS,
        "features": list(cm.FEATURES),
        "estimators": {k: v.to_dict() for k, v in evals.items()},
        "model_reshuffled_folds": {
            "seeds": list(SHUFFLES),
            "coverage_0.8": [round(e.coverage[0.8], 4) for e in reshuffled],
            "median_width_x_0.8": [round(e.median_width_x[0.8], 2) for e in reshuffled],
            "median_abs_log10_error": [round(e.median_abs_log10_error, 4) for e in reshuffled],
        },
        "targets": {
            "median_abs_log10_error_at_most_0.1": best.median_abs_log10_error <= 0.1,
            "coverage_80_at_least_80pct": best.coverage[0.8] >= 0.8,
            "median_width_80_at_most_5x": best.median_width_x[0.8] <= 5.0,
        },
        "seconds": round(time.perf_counter() - started, 2),
    }
    if plot is not None:
        _plot(runs, ratios, plot)
        result["plot"] = str(plot)
    return result


PLOT_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _plot(runs: list[cm.Run], ratios: list[float], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'pausebutton[plot]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals = {
        "one prior (as before)": cm.evaluate(
            "one_prior", runs, ratios, columns=BASELINE, by_group=False, levels=PLOT_LEVELS
        ),
        "model, pooled interval": cm.evaluate(
            "model_pooled", runs, ratios, by_group=False, levels=PLOT_LEVELS
        ),
        "model (intervals by MFU reported, cluster size)": cm.evaluate(
            "model", runs, ratios, levels=PLOT_LEVELS
        ),
    }
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.5))
    for (label, ev), colour in zip(
        evals.items(), ("tab:grey", "tab:orange", "tab:blue"), strict=True
    ):
        left.plot(
            PLOT_LEVELS,
            [ev.coverage[lv] for lv in PLOT_LEVELS],
            marker="o",
            color=colour,
            label=label,
        )
        right.plot(
            PLOT_LEVELS,
            [ev.median_width_x[lv] for lv in PLOT_LEVELS],
            marker="o",
            color=colour,
            label=label,
        )
    left.plot([0.45, 1.0], [0.45, 1.0], color="black", linewidth=1)
    left.set_xlabel("nominal level")
    left.set_ylabel("coverage on held-out models (5-fold)")
    left.set_title("Interval calibration, out of sample")
    left.legend(fontsize=8, loc="upper left")
    right.axhline(5.0, color="red", linestyle="--", linewidth=1, label="target: 5x at 80 %")
    right.set_yscale("log")
    right.set_xlabel("nominal level")
    right.set_ylabel("median interval width (high / low)")
    right.set_title("Interval width, Epoch AI notable models (137)")
    right.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
