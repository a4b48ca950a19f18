"""``pausebutton sim``: the regime simulator (docs/sim.md).

Dask, numpy, matplotlib and jinja2 are imported inside the verbs, so the rest of the CLI
never pays for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton.cli.common import err, out, print_json
from pausebutton.errors import UsageError

app = typer.Typer(help="The regime simulator: a world fleet under the regime, on Dask.")

ScenarioArg = Annotated[
    Path, typer.Argument(help="Scenario TOML file (see examples/).", exists=False, dir_okay=False)
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Run directory (default: sim-runs/NAME-DIGEST); a rerun resumes."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", help="Worker processes of the embedded cluster (default: CPUs)."),
]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Join this Dask scheduler (tcp://HOST:PORT) instead."),
]
TimeoutOpt = Annotated[
    float, typer.Option("--connect-timeout", help="Seconds to wait for --address.", min=0.1)
]
ChipsOpt = Annotated[int | None, typer.Option("--chips", help="Override world.stock_chips.")]
DaysOpt = Annotated[int | None, typer.Option("--days", help="Override days.")]
SeedsOpt = Annotated[
    str | None, typer.Option("--seeds", help="Override the seeds (comma-separated integers).")
]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="Discard the run directory's shards.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


def _seeds(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--seeds {text!r} is not a comma-separated list of integers") from None


def _scenario(path: Path, chips: int | None, days: int | None, seeds: str | None) -> Any:
    from pausebutton.regime import scenario as sc

    scenario = sc.load(path)
    overrides: dict[str, Any] = {}
    if chips is not None:
        overrides["world.stock_chips"] = chips
        overrides["shard_chips"] = min(scenario.shard_chips, max(chips, 100))
    if days is not None:
        overrides["days"] = days
        if scenario.pause.day >= days:
            overrides["pause.day"] = days // 3
    if seeds is not None:
        overrides["seeds"] = _seeds(seeds)
    return scenario.with_overrides(overrides) if overrides else scenario


def _progress(done: int, total: int) -> None:
    if err.is_terminal:
        err.print(f"\rshards {done}/{total}", end="\n" if done == total else "", markup=False)
    elif done == total or done % max(1, total // 10) == 0:
        err.print(f"shards {done}/{total}", markup=False)


def _headline(summary: dict[str, Any]) -> None:
    ws = summary["world_stopped"]
    out.print(
        f"scenario {summary['scenario']} ({summary['digest']}), seeds {summary['seeds']}",
        markup=False,
    )
    for label, row in ws.items():
        out.print(
            f"  world compute stopped, {label.replace('_', ' ')} (day {row['day']}):"
            f" {100 * row['mean']:.1f} % (min {100 * row['min']:.1f}, max {100 * row['max']:.1f})",
            markup=False,
        )
    st = summary["covered_stop_time"]
    out.print(
        f"  covered chips stopped within 1 h {100 * st['within_1_hour']:.1f} %,"
        f" 1 d {100 * st['within_1_day']:.1f} %, 7 d {100 * st['within_7_days']:.1f} %",
        markup=False,
    )
    for name, e in summary["evasions"].items():
        med = e["median_days_to_detect"]
        out.print(
            f"  {name}: detected {100 * e['detection_probability']:.1f} %"
            f" of {e['attempts']}, median {'-' if med is None else f'{med:g} d'}",
            markup=False,
        )
    out.print(f"  cost proxy total {summary['costs']['total_cost']:,.1f}", markup=False)
    out.print(
        f"  real code checked {summary['hybrid_chips_checked']} chips,"
        f" {summary['hybrid_chip_days_checked']} chip-days: agreed",
        markup=False,
    )


@app.command("run")
def run(
    scenario_file: ScenarioArg,
    out_dir: OutOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    connect_timeout: TimeoutOpt = 5.0,
    chips: ChipsOpt = None,
    days: DaysOpt = None,
    seeds: SeedsOpt = None,
    fresh: FreshOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Simulate SCENARIO: the fleet in shards on Dask, a sample through the real firmware,
    agent enforcer and licensing policy (a disagreement fails the run), then results.json,
    PNG plots and report.html in the run directory. Interrupted runs resume."""
    from pausebutton.regime import engine, report
    from pausebutton.regime.world import build

    scenario = _scenario(scenario_file, chips, days, seeds)
    run_dir = out_dir or Path("sim-runs") / f"{scenario.name}-{scenario.digest()}"
    try:
        computed = engine.compute(
            scenario,
            run_dir,
            workers=workers,
            address=address,
            fresh=fresh,
            progress=None if json_out else _progress,
            connect_timeout=connect_timeout,
        )
    except KeyboardInterrupt:
        kept = len(list((run_dir / engine.SHARDS).glob("*.npz")))
        err.print(
            f"\ninterrupted: workers stopped; {kept} completed shard(s) kept in {run_dir};"
            " run the same command again to resume",
            markup=False,
        )
        raise
    summary = report.summarise(scenario, build(scenario), computed.fleet, computed.hybrid_days)
    summary["shards_computed"] = computed.computed
    summary["shards_resumed"] = computed.resumed
    path = report.write(run_dir, summary)
    if json_out:
        print_json(summary)
        return
    _headline(summary)
    out.print(f"report: {path}", markup=False)


@app.command("sweep")
def sweep(
    scenario_file: ScenarioArg,
    param: Annotated[
        str, typer.Option("--param", help="Dotted parameter, e.g. regime.max_offline_days.")
    ],
    values: Annotated[str, typer.Option("--values", help="Comma-separated values to try.")],
    out_dir: OutOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    connect_timeout: TimeoutOpt = 5.0,
    chips: ChipsOpt = None,
    days: DaysOpt = None,
    seeds: SeedsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run SCENARIO once per value of PARAM (each run resumable in its own folder) and draw
    the trade-off: compute stopped, detection probability per evasion, cost proxy."""
    from pausebutton.regime import sweep as sw

    base = _scenario(scenario_file, chips, days, seeds)
    parsed = [_value(v) for v in values.split(",") if v.strip()]
    if not parsed:
        raise UsageError("--values names no value")
    root = out_dir or Path("sim-runs") / f"{base.name}-sweep-{param}"
    result = sw.sweep(
        base,
        param,
        parsed,
        root,
        workers=workers,
        address=address,
        connect_timeout=connect_timeout,
        progress=None if json_out else _progress,
    )
    if json_out:
        print_json(result)
        return
    for row in result["rows"]:
        out.print(json.dumps(row), markup=False)
    out.print(f"report: {root / 'sweep.html'}", markup=False)


def _value(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text
