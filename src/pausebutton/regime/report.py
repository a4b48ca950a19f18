"""What a run answers: figures (``summarise``), PNG plots and a self-contained HTML report.

The summary is plain JSON-ready data (``results.json`` in the run directory); the plots
are drawn with matplotlib's Agg backend and the HTML report carries them inline (base64),
so the one file can be mailed or committed.
"""

from __future__ import annotations

import base64
import io
import statistics
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pausebutton.fsutil import atomic_write
from pausebutton.regime import adversaries, model
from pausebutton.regime.scenario import STOCK_ASSUMPTION, Scenario
from pausebutton.regime.world import EPOCH_CREDIT, World

TOP_COUNTRIES = 6
BIN_LABELS = (
    "< 1 min",
    "1-6 min",
    "6 min-1 h",
    "1-6 h",
    "6-24 h",
    "1-2 d",
    "2-7 d",
    "7-14 d",
    "14-30 d",
    "> 30 d",
    "not by the horizon",
)


def _stopped_after_pause(running: np.ndarray, pause: int) -> np.ndarray:
    """Share of the compute running the day before the pause that is stopped, per day."""
    before = running[..., max(pause - 1, 0) : max(pause, 1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - running / before
    result: np.ndarray = np.nan_to_num(out, nan=0.0)
    return result


def summarise(
    scenario: Scenario,
    world: World,
    fleet: dict[int, model.ShardResult],
    hybrid_days: int,
) -> dict[str, Any]:
    """The run's figures, averaged over seeds (with their min and max)."""
    seeds = sorted(fleet)
    pause = scenario.pause.day
    days = scenario.days
    first = fleet[seeds[0]]
    chips = first.chips
    order = np.argsort(-chips)
    top = [int(i) for i in order[:TOP_COUNTRIES] if chips[i] > 0]
    world_curves = np.array([_stopped_after_pause(fleet[s].running.sum(0), pause) for s in seeds])
    country_curves = {
        world.countries[i]: np.mean(
            [_stopped_after_pause(fleet[s].running[i], pause) for s in seeds], axis=0
        )
        for i in top
    }

    def at(day: int) -> dict[str, float]:
        d = min(day, days - 1)
        col = world_curves[:, d]
        return {
            "day": d,
            "mean": float(col.mean()),
            "min": float(col.min()),
            "max": float(col.max()),
        }

    hist = np.sum([fleet[s].stop_hist for s in seeds], axis=0)
    covered = hist.sum()
    cum = np.cumsum(hist) / covered if covered else np.zeros_like(hist)
    by_country = {
        world.countries[i]: {
            "chips": int(chips[i]),
            "member": bool(world.member[i]),
            "covered_share": float(first.in_scope[i] / chips[i]) if chips[i] else 0.0,
            "stopped_at_horizon": float(
                np.mean([_stopped_after_pause(fleet[s].running[i], pause)[-1] for s in seeds])
            ),
        }
        for i in order
        if chips[i] > 0
    }
    evasions = _evasions(scenario, world, seeds)
    alerts = [adversaries.false_alerts(scenario, world, s) for s in seeds]
    alert_means = {m: float(np.mean([a[m] for a in alerts])) for m in alerts[0]} if alerts else {}
    licences = float(np.mean([fleet[s].licences for s in seeds]))
    costs = _costs(scenario, world, licences, sum(alert_means.values()))
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "digest": scenario.digest(),
        "seeds": seeds,
        "days": days,
        "pause_day": pause,
        "pause_scope": scenario.pause.scope,
        "stock_chips": scenario.world.stock_chips,
        "stock_assumption": STOCK_ASSUMPTION,
        "source_h100e": round(world.source_h100e),
        "facilities": world.facilities,
        "credit": EPOCH_CREDIT,
        "chip_days": int(sum(fleet[s].chip_days for s in seeds)),
        "hybrid_chip_days_checked": hybrid_days,
        "hybrid_chips_checked": int(sum(len(fleet[s].samples) for s in seeds)),
        "world_stopped": {
            "pause_day": at(pause),
            "after_1_day": at(pause + 1),
            "after_7_days": at(pause + 7),
            "horizon": at(days - 1),
        },
        "world_stopped_curve": [float(x) for x in world_curves.mean(0)],
        "country_stopped_curves": {k: [float(x) for x in v] for k, v in country_curves.items()},
        "covered_stop_time": {
            "bins": list(BIN_LABELS),
            "chips": [float(x) / len(seeds) for x in hist],
            "within_1_hour": float(cum[2]) if covered else 0.0,
            "within_1_day": float(cum[4]) if covered else 0.0,
            "within_7_days": float(cum[6]) if covered else 0.0,
        },
        "by_country": by_country,
        "evasions": evasions,
        "false_alerts": alert_means,
        "costs": costs,
        "licences_issued": licences,
    }


def _evasions(scenario: Scenario, world: World, seeds: list[int]) -> dict[str, Any]:
    per_seed = [adversaries.simulate(scenario, world, s) for s in seeds]
    out: dict[str, Any] = {}
    for kind in scenario.adversaries.active():
        outcomes = [p[kind] for p in per_seed]
        attempts = sum(o.attempts for o in outcomes)
        detected = sum(o.detected for o in outcomes)
        days = [d for o in outcomes for d in o.days_to_detect]
        by_method: dict[str, int] = {}
        for o in outcomes:
            for m, c in o.by_method.items():
                by_method[m] = by_method.get(m, 0) + c
        extra: dict[str, float] = {}
        for o in outcomes:
            for k, v in o.extra.items():
                extra[k] = extra.get(k, 0.0) + float(v) / len(outcomes)
        out[kind] = {
            "attempts": attempts,
            "detection_probability": detected / attempts if attempts else 0.0,
            "median_days_to_detect": statistics.median(days) if days else None,
            "p90_days_to_detect": float(np.percentile(days, 90)) if days else None,
            "first_detected_by": dict(sorted(by_method.items(), key=lambda kv: -kv[1])),
            "extra": extra,
        }
    return out


def _costs(scenario: Scenario, world: World, licences: float, alerts: float) -> dict[str, float]:
    c, reg = scenario.costs, scenario.regime
    years = scenario.days / 365.0
    member_fac = float(world.facilities_per_country()[world.member].sum())
    inspections = reg.inspection_rate_per_year * member_fac * years
    landmarks = scenario.world.served_area_km2 / reg.landmark_spacing_km**2
    parts = {
        "inspections": inspections * c.inspection,
        "landmarks": landmarks * c.landmark_year * years,
        "licences": licences * c.licence,
        "false_alerts": alerts * c.false_alert,
    }
    return {
        "inspections_count": inspections,
        "landmarks_count": landmarks,
        **{f"{k}_cost": v for k, v in parts.items()},
        "total_cost": sum(parts.values()),
    }


# -- plots ----------------------------------------------------------------------------------


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _figure().close(fig)
    return buf.getvalue()


def plots(summary: dict[str, Any]) -> dict[str, bytes]:
    """The report's PNG plots, by file name."""
    plt = _figure()
    out: dict[str, bytes] = {}
    days = np.arange(summary["days"])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(days, summary["world_stopped_curve"], color="black", linewidth=2.5, label="world")
    for country, curve in summary["country_stopped_curves"].items():
        ax.plot(days, curve, linewidth=1.2, label=country)
    ax.axvline(summary["pause_day"], color="grey", linestyle=":", label="pause")
    ax.set_xlabel("day")
    ax.set_ylabel("share of running compute stopped")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Compute stopped after the pause (by country)")
    out["stopped.png"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 3.2))
    st = summary["covered_stop_time"]
    ax.bar(range(len(st["bins"])), st["chips"], color="#4a7")
    ax.set_xticks(range(len(st["bins"])), st["bins"], rotation=40, ha="right", fontsize=7)
    if max(st["chips"]) > 0:
        ax.set_yscale("log")  # the first bin holds nearly all: the others must stay visible
    ax.set_ylabel("chips (H100e, log scale)")
    ax.set_title("Time from the pause to the stop (chips the pause covers)")
    out["stop_time.png"] = _png(fig)

    ev = summary["evasions"]
    if ev:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        names = list(ev)
        probs = [ev[n]["detection_probability"] for n in names]
        bars = ax.bar(range(len(names)), probs, color="#a54")
        for bar, name in zip(bars, names, strict=True):
            med = ev[name]["median_days_to_detect"]
            label = "-" if med is None else f"{med:g} d"
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                bar.get_height() + 0.02,
                label,
                ha="center",
                fontsize=7,
            )
        ax.set_xticks(
            range(len(names)),
            [n.replace("_", " ") for n in names],
            rotation=20,
            ha="right",
            fontsize=8,
        )
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("detection probability")
        ax.set_title("Evasions: detection probability (median days to detection)")
        out["evasions.png"] = _png(fig)

    costs = {
        k[: -len("_cost")]: v
        for k, v in summary["costs"].items()
        if k.endswith("_cost") and k != "total_cost"
    }
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.barh(list(costs), list(costs.values()), color="#57a")
    ax.set_xlabel("cost proxy (scenario units)")
    ax.set_title("Cost proxies over the horizon")
    out["costs.png"] = _png(fig)
    return out


def render_html(summary: dict[str, Any], images: dict[str, bytes]) -> str:
    encoded = {name: base64.b64encode(data).decode("ascii") for name, data in images.items()}
    html: str = template("report.html").render(s=summary, img=encoded)
    return html


def template(name: str) -> Any:
    """A Jinja2 template shipped in ``regime/templates`` (autoescaped, strict)."""
    import jinja2

    text = resources.files("pausebutton.regime").joinpath("templates", name).read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text)


def write(run_dir: Path, summary: dict[str, Any]) -> Path:
    """results.json, the PNG plots and report.html into ``run_dir``; the report's path."""
    import json

    atomic_write(run_dir / "results.json", (json.dumps(summary, indent=2) + "\n").encode())
    images = plots(summary)
    for name, data in images.items():
        atomic_write(run_dir / name, data)
    path = run_dir / "report.html"
    atomic_write(path, render_html(summary, images).encode())
    return path
