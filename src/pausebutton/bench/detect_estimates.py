"""``pausebutton bench detect``, compute estimates: out-of-sample accuracy, coverage and
width of the training-compute estimates on Epoch AI's notable models (the 137 rows
shipped with the package), the one-prior estimator beside the model that uses
everything known (``detect.model``), each refitted in every outer fold (5-fold)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from pausebutton.detect import model as cm
from pausebutton.detect.io import bundled_hardware, bundled_notable_models

BASELINE = (0,)
"""The one-prior estimator: the intercept only (chips x time x peak x median utilisation)."""
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
    result: dict[str, Any] = {
        "data": "Epoch AI notable AI models (CC BY 4.0), rows with compute, hardware,"
        " chips and time",
        "runs": len(runs),
        "runs_with_reported_mfu": sum(1 for r in runs if r.mfu is not None),
        "folds": cm.FOLDS,
        "features": list(cm.FEATURES),
        "estimators": {k: v.to_dict() for k, v in evals.items()},
        "targets": {
            "median_abs_log10_error_at_most_0.1": best.median_abs_log10_error <= 0.1,
            "coverage_80_at_least_80pct": best.coverage[0.8] >= 0.8,
            "median_width_80_at_most_5x": best.median_width_x[0.8] <= 5.0,
        },
        "seconds": round(time.perf_counter() - started, 2),
    }
    if plot is not None:
        _plot(evals["one_prior"], best, plot)
        result["plot"] = str(plot)
    return result


def _plot(base: cm.Evaluation, best: cm.Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    ax = axes[0]
    for ev, colour in ((base, "tab:grey"), (best, "tab:blue")):
        xs = [p[1] for p in ev.points]
        ys = [p[0] for p in ev.points]
        ax.scatter(xs, ys, s=10, color=colour, alpha=0.7, label=ev.name)
    lo = min(min(p[0], p[1]) for ev in (base, best) for p in ev.points)
    hi = max(max(p[0], p[1]) for ev in (base, best) for p in ev.points)
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1)
    ax.set_xlabel("predicted log10(reported / chips x time x peak), held out")
    ax.set_ylabel("reported, log10 of the same ratio")
    ax.set_title("Point estimates, 5-fold out of sample")
    ax.legend()
    ax = axes[1]
    levels = [i / 20 for i in range(1, 20)]
    for ev, colour in ((base, "tab:grey"), (best, "tab:blue")):
        # coverage of the centre +- the |residual| quantile at each level, on held-out runs
        errs = sorted(abs(p[0] - p[1]) for p in ev.points)
        widths = [errs[min(len(errs) - 1, math.ceil(lv * len(errs)) - 1)] for lv in levels]
        covered = [sum(1 for e in errs if e <= w) / len(errs) for w in widths]
        ax.plot(levels, covered, marker=".", color=colour, label=ev.name)
    ax.plot([0, 1], [0, 1], color="black", linewidth=1)
    ax.scatter([0.8], [best.coverage[0.8]], color="red", zorder=5, label="model 80 % interval (CV)")
    ax.set_xlabel("nominal level")
    ax.set_ylabel("held-out coverage")
    ax.set_title(f"Calibration (80 %: {best.median_width_x[0.8]:.1f}x median width)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
