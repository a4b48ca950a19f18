"""``pausebutton bench``: benchmarks that print measured figures (JSON with --json).

Each component's benchmark lives in ``pausebutton.bench.<component>`` as a
``run(...) -> dict`` function; ratios are measured side by side in one run.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton.cli.common import print_json
from pausebutton.errors import UsageError

app = typer.Typer(help="Benchmarks: measured figures, ratios taken side by side in one run.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="A short run (CI smoke test).")]


def _show(result: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(result)
        return
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        typer.echo(f"{key:<{width}}  {value}")


def _run(component: str, json_out: bool = False, **options: Any) -> dict[str, Any]:
    """Run one benchmark, with a bar naming each phase it reports (``bench.phase``) for a
    person at a terminal (none under ``--json`` or in a pipe)."""
    from pausebutton.bench import phases_to
    from pausebutton.cli.progress import steps

    module = importlib.import_module(f"pausebutton.bench.{component}")
    with steps(f"bench {component}", quiet=json_out) as start, phases_to(start):
        start("running")
        result: dict[str, Any] = module.run(**options)
    return result


@app.command("protocol")
def protocol(json_out: JsonOpt = False, quick: QuickOpt = False) -> None:
    """Envelope sign/verify throughput against raw Ed25519 of the same backend."""
    _show(_run("protocol", json_out, quick=quick), json_out)


@app.command("log")
def log(
    json_out: JsonOpt = False,
    quick: QuickOpt = False,
    entries: Annotated[
        int | None, typer.Option(help="Entries to build (default 1,000,000; quick 20,000).")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Run on this database URL (e.g. PostgreSQL) without a log."),
    ] = None,
) -> None:
    """Transparency log: durable appends/s in batches of 1,000 (SQLite unless --db), median
    inclusion-proof time at the final size, peak RSS while building."""
    _show(_run("log", json_out, quick=quick, entries=entries, db_url=db), json_out)


@app.command("chip")
def chip(json_out: JsonOpt = False, quick: QuickOpt = False) -> None:
    """Firmware decisions/s (install, meter; pure and NVM-persisted) and location
    challenge-response latency (median, p99) beside raw Ed25519 signing."""
    _show(_run("chip", json_out, quick=quick), json_out)


@app.command("authority")
def authority(
    json_out: JsonOpt = False,
    quick: QuickOpt = False,
    chips: Annotated[
        int | None,
        typer.Option(help="Simulated chips waiting for the pause (10,000; quick 1,000)."),
    ] = None,
    reports: Annotated[
        int | None, typer.Option(help="Usage reports to ingest (50,000; quick 5,000).")
    ] = None,
    workers: Annotated[int, typer.Option(help="API worker processes of the server.")] = 1,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Serve from this empty database URL (e.g. PostgreSQL)."),
    ] = None,
    scaling: Annotated[
        str | None,
        typer.Option(
            "--scaling",
            help="Also ingest against a fresh server per worker count, e.g. 1,2,4,8, each"
            " pinned to as many cores as it has workers, and print each count's scaling"
            " efficiency.",
        ),
    ] = None,
) -> None:
    """Authority over HTTP: reports ingested/s vs raw Ed25519 verify/s (one core and all
    cores), time to pause N connected chips (p50/p99), licence issuance latency under 50
    clients and licence applications/s, deadlock retries (SQLite unless --db)."""
    if chips is not None and not 1 <= chips <= 1_000_000:
        raise UsageError("--chips must be 1 to 1,000,000")
    if reports is not None and not 1 <= reports <= 10_000_000:
        raise UsageError("--reports must be 1 to 10,000,000")
    if not 1 <= workers <= 64:
        raise UsageError("--workers must be 1 to 64")
    counts = None if scaling is None else _worker_counts(scaling)
    _show(
        _run(
            "authority",
            json_out,
            quick=quick,
            chips=chips,
            reports=reports,
            workers=workers,
            db_url=db,
            scaling=counts,
        ),
        json_out,
    )


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError("--scaling is a list of worker counts like 1,2,4,8") from None
    if not counts or any(not 1 <= c <= 64 for c in counts):
        raise UsageError("--scaling counts are 1-64 workers each")
    return counts


@app.command("geo")
def geo(
    json_out: JsonOpt = False,
    quick: QuickOpt = False,
    trials: Annotated[
        int | None, typer.Option("--trials", help="Trials per nearest-landmark band.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    tolerance_ms: Annotated[
        float, typer.Option("--tolerance-ms", help="Tolerance of the delay models.")
    ] = 1.0,
    real_claims: Annotated[
        int | None,
        typer.Option("--real-claims", help="Real data: relay claims per server (all if unset)."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the real-data trade-off curve (PNG).")
    ] = None,
    real_landmarks: Annotated[
        int,
        typer.Option(
            "--real-landmarks", min=3, max=30, help="Real data: landmarks nearest the claim."
        ),
    ] = 6,
) -> None:
    """Location verification. First on real pings (WonderProxy, cross-validated by
    held-out servers): honest false rejects and relays caught by distance band for the
    statistical model, with its trade-off curve. Then, beside it, the physics-based
    delay generator over real coordinates (hard, fibre, calibrated models)."""
    _show(
        _run(
            "geo",
            json_out,
            quick=quick,
            trials=trials,
            seed=seed,
            tolerance_ms=tolerance_ms,
            real_claims=real_claims,
            plot=plot,
            real_landmarks=real_landmarks,
        ),
        json_out,
    )


@app.command("detect")
def detect(
    json_out: JsonOpt = False,
    quick: QuickOpt = False,
    seed: Annotated[int, typer.Option(help="Scenario seed.")] = 7,
    far: Annotated[float, typer.Option(help="False-alert rate the thresholds are set to.")] = 0.05,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write the compute estimates' calibration plot (PNG)."),
    ] = None,
) -> None:
    """Compute estimates on Epoch AI's notable models (out of sample: error, coverage and
    interval width side by side), then the verification engine on generated scenarios:
    precision, recall and time to detection of each method alone and fused."""
    _show(_run("detect", json_out, quick=quick, seed=seed, far=far, plot=plot), json_out)


@app.command("guard")
def guard(
    json_out: JsonOpt = False,
    quick: QuickOpt = False,
    device: Annotated[str, typer.Option(help="cpu, or cuda on a GPU machine.")] = "cpu",
    rounds: Annotated[
        int | None, typer.Option(help="Interleaved rounds (default by size).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (default: torch's choice).")
    ] = None,
) -> None:
    """PyTorch guard overhead on a small-transformer training loop vs the same loop unguarded."""
    _show(
        _run("guard", json_out, quick=quick, device=device, rounds=rounds, threads=threads),
        json_out,
    )


@app.command("sim")
def sim(
    json_out: JsonOpt = False,
    quick: QuickOpt = False,
    chips: Annotated[
        int | None, typer.Option(help="Chips simulated (default 4,000,000; quick 200,000).")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Days simulated (default 90; quick 30).")] = None,
    workers_list: Annotated[
        str, typer.Option("--workers-list", help="Cluster sizes to run, e.g. 1,2,all.")
    ] = "1,2,all",
    shard_chips: Annotated[
        int | None, typer.Option(help="Chips per shard (default: 4 shards per worker).")
    ] = None,
) -> None:
    """Regime simulator: chip-days simulated per second on embedded Dask clusters of 1, 2
    and all cores, and the scaling efficiency (the same scenario, side by side in one run)."""
    _show(
        _run(
            "sim",
            json_out,
            quick=quick,
            chips=chips,
            days=days,
            workers_list=workers_list,
            shard_chips=shard_chips,
        ),
        json_out,
    )


@app.command("cli")
def cli(
    json_out: JsonOpt = False,
    quick: QuickOpt = False,
    runs: Annotated[
        int | None, typer.Option(help="Runs of each command (default 15; quick 3).")
    ] = None,
    importtime: Annotated[
        bool, typer.Option("--importtime", help="Also list each command's slowest imports.")
    ] = False,
) -> None:
    """Start time of the command line: median wall time of --version, chip status and help,
    each a real subprocess, beside the interpreter's own start."""
    _show(_run("cli", json_out, quick=quick, runs=runs, importtime=importtime), json_out)


@app.command("console")
def console(
    json_out: JsonOpt = False,
    quick: QuickOpt = False,
    facilities: Annotated[
        int | None, typer.Option(help="Facilities in the registry (10,000; quick 200).")
    ] = None,
    chips: Annotated[
        int | None, typer.Option(help="Chips in the registry (1,000,000; quick 5,000).")
    ] = None,
    fleet: Annotated[
        int | None, typer.Option(help="Simulated chips following the orders (50; quick 5).")
    ] = None,
    screenshot: Annotated[
        str | None, typer.Option(help="Save the map page's screenshot in this folder.")
    ] = None,
) -> None:
    """Web console: the map API's size and time over a bulk-loaded registry, the map page's
    time to interactive in Chromium, and K-th signature to 100 % delivery on the pause page."""
    _show(
        _run(
            "console",
            json_out,
            quick=quick,
            facilities=facilities,
            chips=chips,
            fleet=fleet,
            screenshot=screenshot,
        ),
        json_out,
    )
