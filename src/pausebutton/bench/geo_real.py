"""``pausebutton bench geo``, real data first: cross-validated verdicts of the
statistical delay model on the WonderProxy pings shipped with the package (credit
WonderNetwork), as ``geo.crossval`` describes: honest servers claiming their own
position, and relays claiming every other server's position, with the landmarks a
verifier would pick near the claim (the 6 nearest training servers), the model fitted
on the training folds only.

Figures: the honest false-reject rate and the share of relays caught per relay
distance band, at each ``reject_probability`` of the sweep (the trade-off curve), the
smallest relay distance caught at 90 % at the default, and the physics-only (hard
bound) rates beside them; the same by how near the claim's landmarks are (the
third-nearest landmark's distance), why the relays not caught were missed
(``crossval.miss_reasons``), the share of relays flagged at least "suspicious", and
beside the default combination (the common excess), in the same run, the k-th smallest
landmark p-value deciding (k = 2 was the default before; the model otherwise the same).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path
from typing import Any

from pausebutton.errors import UsageError
from pausebutton.geo import crossval as cv
from pausebutton.geo.delay import best_pairs
from pausebutton.geo.verdict import DEFAULT_POLICY, Combination, Model, Policy
from pausebutton.geo.wonderproxy import bundled

RELAY_EDGES_KM = (0.0, 100.0, 300.0, 700.0, 1500.0, 3000.0, 5000.0)
FINE_EDGES_KM = (0.0, 100.0, 200.0, 300.0, 500.0, 700.0, 1000.0, 1500.0, 2000.0, 3000.0, 5000.0)
SWEEP = (0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4)
COVERAGE_KM = ((0.0, 300.0), (300.0, 1000.0), (1000.0, float("inf")))
"""Buckets of the claim's third-nearest landmark distance."""
NEAR_COVERAGE_KM = 1000.0
"""The plot's second panel: claims whose third-nearest landmark is this near."""
K_SWEEP = (2, 3, 4, 6)
"""The ``kth_p_value`` combinations run beside the default (k = 2 was the default
before)."""


def _label(lo: float, hi: float) -> str:
    return f"{lo:.0f}-{'' if hi == float('inf') else f'{hi:.0f}'}"


def _caught_far(study: cv.Study, alpha: float, *, known: bool = False) -> float:
    far = [c for c in study.relays if c.relay_km >= 700.0]
    return sum(cv.rejected(c, alpha, known=known) for c in far) / max(1, len(far))


def _summary(study: cv.Study, alpha: float) -> dict[str, Any]:
    return {
        "honest_cases": len(study.honest),
        "false_reject_rate": round(cv.false_reject_rate(study, alpha), 4),
        "relay_cases": len(study.relays),
        "relay_caught_by_km": {
            _label(lo, hi): round(rate, 4)
            for lo, hi, _, rate in cv.catch_rates(study, alpha, RELAY_EDGES_KM)
        },
        "relay_caught_700km_plus": round(_caught_far(study, alpha), 4),
        "smallest_relay_km_caught_90pct": cv.smallest_caught_km(study, alpha, FINE_EDGES_KM),
    }


def run_real(
    *,
    folds: int = 5,
    seed: int = 1,
    max_claims: int | None = None,
    plot: Path | None = None,
    landmarks: int = 6,
) -> dict[str, Any]:
    started = time.perf_counter()
    servers, pings = bundled()
    positions = {k: (v.lat, v.lon) for k, v in servers.items()}
    best = best_pairs(positions, ((p.source, p.destination, p.min_ms) for p in pings))
    policy = Policy(model=Model.STATISTICAL)

    def study_of(pol: Policy) -> cv.Study:
        return cv.cross_validate(
            positions,
            best,
            folds=folds,
            seed=seed,
            policy=pol,
            max_claims=max_claims,
            landmarks=landmarks,
        )

    study = study_of(policy)
    beside = {
        k: study_of(dataclasses.replace(policy, combination=Combination.KTH_P_VALUE, robust_k=k))
        for k in K_SWEEP
    }
    default = DEFAULT_POLICY.reject_probability

    def bands(alpha: float, known: bool = False) -> dict[str, dict[str, float | int]]:
        return {
            f"{lo:.0f}-{'' if hi == float('inf') else f'{hi:.0f}'}": {
                "cases": n,
                "caught": round(rate, 4),
            }
            for lo, hi, n, rate in cv.catch_rates(study, alpha, RELAY_EDGES_KM, known=known)
        }

    physics_only = sum(c.physics for c in study.relays) / max(1, len(study.relays))
    curve = [
        {
            "reject_probability": a,
            "false_reject_rate": round(cv.false_reject_rate(study, a), 4),
            "relay_caught_by_km": {k: v["caught"] for k, v in bands(a).items()},
            "smallest_relay_km_caught_90pct": cv.smallest_caught_km(study, a, FINE_EDGES_KM),
            "facility_delay_measured": {
                "false_reject_rate": round(cv.false_reject_rate(study, a, known=True), 4),
                "relay_caught_by_km": {k: v["caught"] for k, v in bands(a, True).items()},
            },
        }
        for a in SWEEP
    ]
    result: dict[str, Any] = {
        "data": "WonderProxy pings (WonderNetwork), even server ids, 2020-07-19",
        "combination": policy.combination.value,
        "servers": study.servers,
        "mislocated_dropped": list(study.dropped),
        "folds": folds,
        "honest_cases": len(study.honest),
        "relay_cases": len(study.relays),
        "landmarks_per_case": landmarks,
        "reject_probability": default,
        "false_reject_rate": round(cv.false_reject_rate(study, default), 4),
        "false_reject_rate_hard_bound": sum(c.physics for c in study.honest)
        / max(1, len(study.honest)),
        "relay_caught_by_km": bands(default),
        "relay_caught_hard_bound_only": round(physics_only, 4),
        "smallest_relay_km_caught_90pct": cv.smallest_caught_km(study, default, FINE_EDGES_KM),
        "facility_delay_measured": {
            "false_reject_rate": round(cv.false_reject_rate(study, default, known=True), 4),
            "relay_caught_by_km": bands(default, True),
            "smallest_relay_km_caught_90pct": cv.smallest_caught_km(
                study, default, FINE_EDGES_KM, known=True
            ),
        },
        "curve": curve,
        "by_landmark_coverage": {
            f"third_landmark_{_label(lo, hi)}_km": _summary(
                dataclasses.replace(
                    study, cases=tuple(c for c in study.cases if lo <= c.coverage_km < hi)
                ),
                default,
            )
            for lo, hi in COVERAGE_KM
        },
        "missed_by_reason": {
            _label(lo, hi): cv.miss_reasons(
                dataclasses.replace(
                    study, cases=tuple(c for c in study.relays if lo <= c.relay_km < hi)
                ),
                default,
                landmarks // 2 + 1,
            )
            for lo, hi in itertools.pairwise((*RELAY_EDGES_KM, float("inf")))
        },
        "suspect_probability": DEFAULT_POLICY.suspect_probability,
        "flagged_at_least_suspicious": _summary(study, DEFAULT_POLICY.suspect_probability),
        "kth_p_value_by_k": {str(k): _summary(beside[k], default) for k in K_SWEEP},
    }
    caught_far = _caught_far(study, default)
    result["relay_caught_700km_plus"] = round(caught_far, 4)
    result["targets"] = {
        "false_reject_rate_at_most_1pct": result["false_reject_rate"] <= 0.01,
        "relays_700km_plus_caught_95pct": caught_far >= 0.95,
    }
    if plot is not None:
        _plot(study, plot, landmarks=landmarks)
        result["plot"] = str(plot)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _plot(study: cv.Study, path: Path, *, landmarks: int) -> None:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'pausebutton[plot]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = [10 ** (-x / 4) for x in range(2, 25)]
    near = dataclasses.replace(
        study, cases=tuple(c for c in study.cases if c.coverage_km <= NEAR_COVERAGE_KM)
    )
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    edges = ((300.0, 700.0), (700.0, 1500.0), (1500.0, 3000.0), (5000.0, float("inf")))
    panels = (
        (study, f"all claims ({len(study.honest)} honest servers)"),
        (near, f"third landmark within {NEAR_COVERAGE_KM:,.0f} km ({len(near.honest)} honest)"),
    )
    for ax, (part, title) in zip(axes, panels, strict=True):
        for known, style in ((False, "-"), (True, "--")):
            fr = [100 * cv.false_reject_rate(part, a, known=known) for a in alphas]
            for (lo, hi), colour in zip(edges, colours, strict=True):
                band = [c for c in part.relays if lo <= c.relay_km < hi]
                rates = [
                    100 * sum(cv.rejected(c, a, known=known) for c in band) / max(1, len(band))
                    for a in alphas
                ]
                label = f"relays {_label(lo, hi)} km"
                label += ", facility delay measured" if known else ""
                ax.plot(fr, rates, style, marker=".", color=colour, label=label)
        ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("honest servers rejected (%), held out")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("relays caught (%)")
    axes[1].legend(loc="lower right", fontsize=7)
    fig.suptitle(
        "Statistical delay model on real pings (WonderProxy), 5-fold CV, "
        f"common excess of {landmarks} landmarks"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
