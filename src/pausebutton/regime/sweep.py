"""``sim sweep``: one run per value of a parameter, and the trade-off curves they draw."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pausebutton.fsutil import atomic_write
from pausebutton.regime import engine, report
from pausebutton.regime.scenario import Scenario
from pausebutton.regime.world import build


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value))


def row(param: str, value: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run that the trade-off plot draws."""
    out: dict[str, Any] = {
        "param": param,
        "value": value,
        "stopped_after_1_day": summary["world_stopped"]["after_1_day"]["mean"],
        "stopped_after_7_days": summary["world_stopped"]["after_7_days"]["mean"],
        "stopped_at_horizon": summary["world_stopped"]["horizon"]["mean"],
        "total_cost": summary["costs"]["total_cost"],
        "false_alerts": sum(summary["false_alerts"].values()),
    }
    for name, e in summary["evasions"].items():
        out[f"detect_{name}"] = e["detection_probability"]
    return out


def sweep(
    base: Scenario,
    param: str,
    values: list[Any],
    root: Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    connect_timeout: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run ``base`` with ``param`` set to each value (validated like a file) on one cluster;
    write sweep.json, sweep.png and sweep.html into ``root``."""
    scenarios = [base.with_overrides({param: v}) for v in values]
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    with engine.cluster(
        workers=workers,
        address=address,
        scratch=root / engine.SCRATCH,
        connect_timeout=connect_timeout,
    ) as client:
        for value, scenario in zip(values, scenarios, strict=True):
            run_dir = root / f"{_slug(value)}"
            computed = engine.compute(scenario, run_dir, client=client, progress=progress)
            summary = report.summarise(
                scenario, build(scenario), computed.fleet, computed.hybrid_days
            )
            report.write(run_dir, summary)
            rows.append(row(param, value, summary))
    result = {"scenario": base.name, "param": param, "rows": rows}
    atomic_write(root / "sweep.json", (json.dumps(result, indent=2) + "\n").encode())
    image = plot(result)
    atomic_write(root / "sweep.png", image)
    atomic_write(root / "sweep.html", render(result, image).encode())
    return result


def plot(result: dict[str, Any]) -> bytes:
    """Share stopped and detection probabilities (left axis) and cost (right) per value."""
    plt = report._figure()
    rows = result["rows"]
    xs = [r["value"] for r in rows]
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
    pos = xs if numeric else list(range(len(xs)))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(
        pos,
        [r["stopped_after_7_days"] for r in rows],
        "o-",
        color="black",
        label="stopped after 7 d",
    )
    ax.plot(
        pos,
        [r["stopped_after_1_day"] for r in rows],
        "o--",
        color="grey",
        label="stopped after 1 d",
    )
    for key in rows[0]:
        if key.startswith("detect_"):
            ax.plot(pos, [r[key] for r in rows], "s-", linewidth=1, label=key[7:].replace("_", " "))
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel(result["param"])
    ax.set_ylabel("share / probability")
    if not numeric:
        ax.set_xticks(pos, [str(x) for x in xs])
    elif min(xs) > 0 and max(xs) / min(xs) >= 20:
        ax.set_xscale("log")  # values spread over decades (spacings, rates)
    cost = ax.twinx()
    cost.plot(pos, [r["total_cost"] for r in rows], "d:", color="#57a", label="cost proxy")
    cost.set_ylabel("cost proxy", color="#57a")
    lines = ax.get_legend_handles_labels()
    lines2 = cost.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="lower right")
    ax.set_title(f"Trade-off over {result['param']}")
    return report._png(fig)


def render(result: dict[str, Any], image: bytes) -> str:
    import base64

    encoded = base64.b64encode(image).decode("ascii")
    html: str = report.template("sweep.html").render(r=result, img=encoded)
    return html
