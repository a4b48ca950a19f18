"""``pausebutton detect``: the verification engine from the command line.

Import signals of the ten methods into a store, estimate compute, find
training runs in energy data, run the cross-check rules against a registry
export, print alerts, run the anonymous whistleblower channel and schedule
inspections.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pausebutton.cli.common import EXIT_INPUT, EXIT_REJECTED, err, out, print_json
from pausebutton.cli.progress import progress
from pausebutton.detect import estimate as est
from pausebutton.detect import fusion, inspections, whistle
from pausebutton.detect.io import (
    add_to_store,
    bundled_hardware,
    import_file,
    load_registry,
    load_store,
    read_text,
)
from pausebutton.detect.registry import Registry
from pausebutton.detect.rules import RULES, Context, Params, run_rules
from pausebutton.detect.runs import RunParams
from pausebutton.detect.signals import SCHEMA_VERSION, SCHEMAS, Method, parse_time
from pausebutton.detect.units import Dimension, parse_quantity
from pausebutton.errors import DataError, InputError, UsageError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.protocol.flop import format_flop
from pausebutton.protocol.times import parse_instant
from pausebutton.protocol.units import format_watt_hours, format_watts, round_float

app = typer.Typer(
    help="Verification engine: signals of ten methods, compute estimates, rules, alerts.",
    no_args_is_help=True,
)
whistle_app = typer.Typer(help="Anonymous whistleblower channel (sealed to the authority's key).")
inspect_app = typer.Typer(help="Inspection scheduling: periodic, random and challenge.")
app.add_typer(whistle_app, name="whistle")
app.add_typer(inspect_app, name="inspect")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
StoreOpt = Annotated[Path, typer.Option("--store", help="Signal store directory.")]
RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        help="Registry export directory (owners.csv, facilities.csv, chips.csv, licenses.csv).",
    ),
]
MinStepOpt = Annotated[
    str,
    typer.Option(
        "--min-step", help="Smallest power step above baseline that counts as a run (with unit)."
    ),
]
MinHoursOpt = Annotated[float, typer.Option("--min-hours", help="Shortest run, hours.")]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="Evaluation time, ISO 8601 or Unix seconds (default: the clock)."),
]


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(parse_instant(text, "--now", error=UsageError), UTC)


def _report_errors(errors: list[InputError], json_out: bool) -> None:
    if not json_out:
        for e in errors[:50]:
            err.print(f"bad row: {e.message}", markup=False)
        if len(errors) > 50:
            err.print(f"... and {len(errors) - 50} more bad rows", markup=False)


def _run_params(min_step: str, min_hours: float) -> RunParams:
    step = parse_quantity(min_step, Dimension.POWER, "min_step").watts
    if not (math.isfinite(min_hours) and min_hours > 0):
        raise DataError("--min-hours must be > 0", field="min_hours")
    return RunParams(min_hours=min_hours, min_delta_w=step)


def _registry(path: Path | None) -> tuple[Registry, list[InputError]]:
    if path is None:
        return Registry(), []
    return load_registry(path)


# -- estimate ------------------------------------------------------------------------------


@app.command("estimate")
def estimate_cmd(
    hardware: Annotated[str, typer.Option(help="Hardware name as in Epoch's ML hardware table.")],
    hours: Annotated[float, typer.Option(help="Duration of the run in hours.")],
    power_w: Annotated[
        float | None, typer.Option("--power-w", help="Facility power draw in watts.")
    ] = None,
    chips: Annotated[float | None, typer.Option(help="Number of accelerators.")] = None,
    pue: Annotated[float, typer.Option(help="Power usage effectiveness.")] = est.DEFAULT_PUE,
    precision: Annotated[str, typer.Option(help="bf16, fp8, tf32 or fp32.")] = "bf16",
    level: Annotated[float, typer.Option(help="Interval level: 0.8, 0.9 or 0.95.")] = 0.9,
    year: Annotated[
        int | None, typer.Option(help="Year of the run (the model's year feature).")
    ] = None,
    mfu: Annotated[
        float | None,
        typer.Option(help="Reported model FLOP utilisation (0-1), if known: narrows the interval."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Estimate training compute (FLOP) with a calibrated interval.

    With --chips the primary estimate is the model that uses everything known
    (hardware generation, chip count, hours, year, precision, reported MFU) with
    cross-validated conformal intervals (levels 0.8 and 0.9; at 0.95 the chips method
    stays primary); the one-prior chips and energy estimates follow as cross-checks.
    From facility power alone: the energy method. See docs/detect.md for the measured
    coverage and widths.
    """
    from pausebutton.detect import model as cm
    from pausebutton.detect.io import bundled_compute_model

    hw = bundled_hardware().get(hardware)
    primary, others = est.estimate(
        hw,
        hours=hours,
        power_w=power_w,
        chips=chips,
        pue=pue,
        precision=precision,
        level=level,
    )
    if chips is not None and chips > 0 and hours > 0 and level in cm.LEVELS:
        run = cm.Run(hw, chips, hours, year, precision, mfu)
        model_est = cm.estimate_run(bundled_compute_model(), run, level)
        if primary.flags:
            model_est = replace(model_est, flags=primary.flags)
        primary, others = model_est, [primary, *others]
    if json_out:
        doc = primary.to_dict()
        doc["alternatives"] = [o.to_dict() for o in others]
        print_json(doc)
        return
    for e in [primary, *others]:
        out.print(
            f"{e.method:7s} {_flop(e.flop)}"
            f"  ({e.level:.0%} interval {_flop(e.low)} .. {_flop(e.high)})",
            markup=False,
        )
    for flag in primary.flags:
        err.print(f"flag: {flag}", markup=False)


def _flop(value: float) -> str:
    """An estimate (a float) as people read FLOP counts: ``7.8e23 FLOP``."""
    return format_flop(round(value)) if value >= 0 else f"{round_float(value)} FLOP"


@app.command("hardware")
def hardware_cmd(
    query: Annotated[str, typer.Argument(help="Part of a name (case-insensitive).")] = "",
    json_out: JsonOpt = False,
) -> None:
    """List hardware names of Epoch's ML hardware table, with peak FLOP/s and TDP."""
    table = bundled_hardware()
    names = [n for n in table.names() if query.lower() in n.lower()]
    rows: list[dict[str, Any]] = []
    for n in names:
        h = table.get(n)
        rows.append({"name": n, "peak_bf16": h.peaks.get("bf16"), "tdp_w": h.tdp_w})
    if json_out:
        print_json(rows)
        return
    t = Table("hardware", "peak bf16 FLOP/s", "TDP")
    for r in rows:
        t.add_row(
            r["name"],
            round_float(r["peak_bf16"]) if r["peak_bf16"] else "-",
            format_watts(r["tdp_w"]) if r["tdp_w"] else "-",
        )
    out.print(t)


@app.command("calibrate")
def calibrate_cmd(
    models: Annotated[
        Path, typer.Argument(help="Epoch AI notable_ai_models.csv (data/epoch/ai_models).")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Recompute the calibration and its coverage (in sample and 5-fold cross-validated)."""
    table = bundled_hardware()
    records = est.parse_models_csv(read_text(models), table)
    doc: dict[str, Any] = {"records": len(records), "methods": {}}
    for m in ("chips", "energy"):
        ratios = est.log_ratios(records, table, m)
        cal = est.fit(ratios, m)
        doc["methods"][m] = {
            "n": cal.n,
            "utilisation": cal.utilisation,
            "quantiles_log10": {f"{k:g}": list(v) for k, v in cal.quantiles.items()},
            "coverage_in_sample": {
                f"{k:g}": round(v, 4) for k, v in est.coverage(ratios, cal).items()
            },
            "coverage_cross_validated": {
                f"{k:g}": round(v, 4) for k, v in est.cross_validate(ratios, m).items()
            },
            "shipped": est.CALIBRATION[m].utilisation == cal.utilisation
            and est.CALIBRATION[m].quantiles == cal.quantiles,
        }
    if json_out:
        print_json(doc)
        return
    for m, d in doc["methods"].items():
        out.print(f"{m}: n={d['n']} utilisation={d['utilisation']}", markup=False)
        for lv in ("0.8", "0.9", "0.95"):
            out.print(
                f"  {lv}: in-sample {d['coverage_in_sample'][lv]:.3f},"
                f" cross-validated {d['coverage_cross_validated'][lv]:.3f}",
                markup=False,
            )


# -- signals -------------------------------------------------------------------------------


@app.command("schema")
def schema_cmd(
    kind: Annotated[str | None, typer.Argument(help="One method; default: all ten.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the signal schemas (columns, units, required or not)."""
    methods = [_method(kind)] if kind else list(Method)
    doc: dict[str, dict[str, Any]] = {
        m.value: {
            "version": SCHEMA_VERSION,
            "doc": SCHEMAS[m].doc,
            "fields": [
                {"name": f.name, "required": f.required, "doc": f.doc} for f in SCHEMAS[m].fields
            ],
        }
        for m in methods
    }
    if json_out:
        print_json(doc)
        return
    for name, d in doc.items():
        t = Table("field", "required", "meaning", title=f"{name} v{d['version']}: {d['doc']}")
        for f in d["fields"]:
            t.add_row(f["name"], "yes" if f["required"] else "", f["doc"])
        out.print(t)


def _method(kind: str) -> Method:
    try:
        return Method(kind)
    except ValueError:
        raise DataError(
            f"unknown signal kind {kind!r}; one of {', '.join(m.value for m in Method)}",
            field="kind",
        ) from None


@app.command("import")
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="CSV or JSON files of signals.")],
    store: StoreOpt,
    kind: Annotated[
        str | None, typer.Option(help="Signal kind (default: from JSON or the file name).")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Refuse a whole file when any row is bad.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Validate signal files and add their good rows to the store.

    Every bad row is reported with file, row and field; good rows still load
    (unless --strict). Exit status 2 when any row was bad.
    """
    method = _method(kind) if kind else None
    report: list[dict[str, Any]] = []
    any_bad = False
    with progress(len(files), "importing signal files", quiet=json_out) as done:
        for f in files:
            res = import_file(f, method)
            bad = [e.to_dict() for e in res.errors]
            any_bad = any_bad or bool(bad)
            added = 0
            if not (strict and bad):
                added = add_to_store(store, res)
            report.append({"file": str(f), "kind": res.method.value, "added": added, "errors": bad})
            if not json_out:
                _report_errors(res.errors, False)
                line = f"{f}: {added} {res.method.value} row(s) added, {len(bad)} bad"
                out.print(line, markup=False)
            done()
    if json_out:
        print_json(report)
    if any_bad:
        raise typer.Exit(EXIT_INPUT)


@app.command("runs")
def runs_cmd(
    store: StoreOpt,
    registry: RegistryOpt = None,
    site: Annotated[str | None, typer.Option(help="Only this site.")] = None,
    min_step: MinStepOpt = "1 MW",
    min_hours: MinHoursOpt = 24.0,
    json_out: JsonOpt = False,
) -> None:
    """Find candidate training runs (energy plateaus) with their FLOP estimates."""
    prm = Params(runs=_run_params(min_step, min_hours))
    signals, errs = load_store(store)
    reg, rerrs = _registry(registry)
    _report_errors([*errs, *rerrs], json_out)
    ctx = Context(reg, signals, bundled_hardware(), datetime.now(UTC), prm)
    rows: list[dict[str, Any]] = []
    found = []
    for s_id, (runs, bad, hw) in sorted(ctx.runs.items()):
        if site and s_id != site:
            continue
        for run in runs:
            found.append(run)
            rows.append({**run.to_dict(), "hardware_assumed": hw})
        for b in bad:
            rows.append({"site": s_id, "flagged_reading": b.time.isoformat(), "power_w": b.power_w})
    if json_out:
        print_json(rows)
        return
    t = Table(
        "site", "start (UTC)", "end (UTC)", "hours", "energy above base", "FLOP", "90% interval"
    )
    for run in found:
        e = run.estimate
        t.add_row(
            run.site,
            run.start.isoformat()[:16],
            run.end.isoformat()[:16],
            f"{run.hours:.0f}",
            format_watt_hours(run.energy_kwh * 1e3),
            _flop(e.flop) if e else "-",
            f"{_flop(e.low)} .. {_flop(e.high)}" if e else "-",
        )
    out.print(t)


@app.command("check")
def check_cmd(
    store: StoreOpt,
    registry: RegistryOpt = None,
    now: NowOpt = None,
    rules: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated rules (default all): {', '.join(RULES)}, whistle_claims."
        ),
    ] = None,
    threshold_flop: Annotated[
        float, typer.Option(help="Frontier threshold (FLOP) above which a run is critical.")
    ] = 1e25,
    alert_probability: Annotated[
        float, typer.Option(help="Posterior probability at which an alert is raised.")
    ] = fusion.ALERT_PROBABILITY,
    findings: Annotated[bool, typer.Option(help="Also list every finding.")] = False,
    min_step: MinStepOpt = "1 MW",
    min_hours: MinHoursOpt = 24.0,
    json_out: JsonOpt = False,
) -> None:
    """Run the cross-check rules, fuse the findings and print alerts with all evidence.

    Exit status 0 with no alert, 3 when at least one alert is raised.
    """
    signals, errs = load_store(store)
    reg, rerrs = _registry(registry)
    _report_errors([*errs, *rerrs], json_out)
    t_now = _now(now)
    prm = Params(threshold_flop=threshold_flop, runs=_run_params(min_step, min_hours))
    ctx = Context(reg, signals.until(t_now), bundled_hardware(), t_now, prm)
    names = [r.strip() for r in rules.split(",")] if rules else None
    fs = run_rules(ctx, names)
    al = fusion.alerts(fs, alert_probability=alert_probability)
    if json_out:
        print_json(
            {
                "now": t_now.isoformat(),
                "signals": len(ctx.signals),
                "bad_rows": len(errs) + len(rerrs),
                "alerts": [a.to_dict() for a in al],
                "findings": [f.to_dict() for f in fs],
            }
        )
    else:
        _print_alerts(al)
        if findings:
            _print_findings(fs)
    if al:
        raise typer.Exit(EXIT_REJECTED)


def _print_alerts(al: list[fusion.Alert]) -> None:
    if not al:
        out.print("no alerts")
        return
    t = Table(title="alerts")
    t.add_column("alert", no_wrap=True)
    t.add_column("subject", no_wrap=True)
    t.add_column("p", no_wrap=True)
    t.add_column("severity", no_wrap=True)
    t.add_column("methods")
    for a in al:
        t.add_row(
            a.alert_id,
            f"{a.kind} {a.subject}",
            f"{a.probability:.3f}",
            a.severity.name.lower(),
            ", ".join(sorted(a.contributions)),
        )
    out.print(t)
    for a in al:
        out.print(f"\n[bold]{a.alert_id}[/bold] {a.kind} {a.subject}: evidence")
        for f in a.findings:
            out.print(f"  [{f.severity.name.lower()}] {f.rule}: {f.reason}", markup=False)
            for e in f.evidence:
                out.print(f"      {e.label:10s} {e.method:20s} {e.source}: {e.text}", markup=False)


def _print_findings(fs: list[Any]) -> None:
    t = Table("rule", "severity", "site", "owner", "reason", title="findings")
    for f in fs:
        t.add_row(f.rule, f.severity.name.lower(), f.site, f.owner, f.reason)
    out.print(t)


@app.command("demo")
def demo_cmd(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder to write the scenario into (new; or --out).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write the scenario into (same as DIR).")
    ] = None,
    actors: Annotated[int, typer.Option(help="Number of actors (sites/owners).")] = 30,
    days: Annotated[int, typer.Option(help="Days of signals.")] = 60,
    seed: Annotated[int, typer.Option(help="Scenario seed.")] = 7,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print what was written (folders, counts) as JSON.")
    ] = False,
) -> None:
    """Write a generated scenario (the benchmark's): registry/, signals/<kind>.csv, truth.json.

    Try it: ``detect import DIR/signals/*.csv --store S`` then
    ``detect check --store S --registry DIR/registry --now <end> --findings``.
    """
    from pausebutton.bench.detect import T0, generate
    from pausebutton.detect.registry import export_registry
    from pausebutton.detect.signals import export_csv

    if directory is not None and out_dir is not None and directory != out_dir:
        raise UsageError("give the folder once: DIR or --out DIR")
    directory = directory or out_dir
    if directory is None:
        raise UsageError("name a new folder for the scenario: DIR or --out DIR")
    if directory.exists():
        raise DataError(f"{directory} exists; give a new folder", file=str(directory))
    if not (1 <= actors <= 1000 and 7 <= days <= 730):
        raise DataError("--actors must be 1..1000 and --days 7..730")
    reg, signals, truth = generate(actors, days, seed)
    for name, text in export_registry(reg).items():
        atomic_write(directory / "registry" / f"{name}.csv", text.encode())
    for m in Method:
        rows = signals.get(m)
        if rows:
            atomic_write(directory / "signals" / f"{m.value}.csv", export_csv(rows, m).encode())
    doc = {
        "start": T0.isoformat(),
        "days": days,
        "actors": [
            {"owner": a.owner, "site": a.site, "kind": a.kind, "start_day": round(a.start_day, 2)}
            for a in truth
        ],
    }
    atomic_write(directory / "truth.json", json.dumps(doc, indent=2).encode())
    end = (T0 + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    if json_out:
        print_json(
            {
                "directory": str(directory),
                "registry": str(directory / "registry"),
                "signals": str(directory / "signals"),
                "signal_kinds": len(signals),
                "actors": actors,
                "start": T0.isoformat(),
                "end": end,
            }
        )
        return
    out.print(f"scenario written to {directory} ({len(signals)} signals). Try:", markup=False)
    out.print(
        f"  pausebutton detect import {directory}/signals/*.csv --store STORE\n"
        f"  pausebutton detect check --store STORE --registry {directory}/registry --now {end}"
        " --threshold-flop 1e21 --min-step '20 kW' --min-hours 48",
        markup=False,
    )


# -- whistleblower channel -------------------------------------------------------------------


def read_whistle_key(path: Path, what: str) -> bytes:
    """A whistleblower channel key file (hex, 32 bytes)."""
    text = read_limited(path, 4096).decode(errors="replace").strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise DataError(f"{path}: not a hex {what} key", file=str(path)) from None
    if len(raw) != 32:
        raise DataError(f"{path}: a {what} key is 32 bytes", file=str(path))
    return raw


@whistle_app.command("keygen")
def wb_keygen(
    private: Annotated[Path, typer.Argument(help="Where to write the private key (mode 0600).")],
    public: Annotated[Path, typer.Argument(help="Where to write the public key (publish it).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the public key as JSON.")] = False,
) -> None:
    """Generate the authority's Curve25519 intake key pair (hex files)."""
    if private.exists() or public.exists():
        raise DataError("refusing to overwrite an existing key file")
    sk, pk = whistle.keygen()
    atomic_write(private, sk.hex().encode() + b"\n", mode=0o600)
    atomic_write(public, pk.hex().encode() + b"\n")
    if json_out:
        print_json({"public_key": pk.hex(), "private": str(private), "public": str(public)})
    else:
        out.print(f"public key {pk.hex()}", markup=False)


@whistle_app.command("submit")
def wb_submit(
    key: Annotated[Path, typer.Option(help="The authority's public key file.")],
    claim: Annotated[str, typer.Option(help="What you report.")],
    store: Annotated[Path | None, typer.Option(help="Intake store (SQLite) to queue into.")] = None,
    sealed_out: Annotated[
        Path | None, typer.Option("--out", help="Write the sealed bytes here instead.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Authority base URL: POST to /v1/whistle/submissions instead."),
    ] = None,
    site: Annotated[str, typer.Option(help="Facility concerned.")] = "",
    owner: Annotated[str, typer.Option(help="Owner concerned.")] = "",
    chips: Annotated[int | None, typer.Option(help="Chips alleged.")] = None,
    flop: Annotated[float | None, typer.Option(help="Training compute alleged (FLOP).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Seal a report to the authority and print the receipt code to keep.

    Nothing about the submitter is recorded; keep the receipt to read replies.
    """
    if sum(x is not None for x in (store, sealed_out, url)) != 1:
        raise DataError("give exactly one of --store, --out or --url")
    report: dict[str, Any] = {"claim": claim}
    for k, v in (
        ("site", site),
        ("owner", owner),
        ("claimed_chips", chips),
        ("claimed_flop", flop),
    ):
        if v not in (None, ""):
            report[k] = v
    sealed, receipt = whistle.seal_report(read_whistle_key(key, "public"), report)
    if store is not None:
        whistle.WhistleStore(store).submit(sealed)
    elif url is not None:
        _post_sealed(url, sealed)
    else:
        assert sealed_out is not None
        atomic_write(sealed_out, sealed)
    if json_out:
        print_json({"receipt": receipt, "lookup": whistle.lookup_id(receipt)})
    else:
        out.print(f"receipt {receipt}  (keep it: it is the only way to read replies)", markup=False)


def _post_sealed(url: str, sealed: bytes) -> None:
    import base64

    import httpx

    from pausebutton.errors import ServiceError

    try:
        r = httpx.post(
            url.rstrip("/") + "/v1/whistle/submissions",
            json={"sealed": base64.b64encode(sealed).decode()},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise ServiceError(f"{url}: {exc}") from None
    if r.status_code != 202:
        raise ServiceError(f"{url}: submission refused ({r.status_code}): {r.text[:200]}")


def _get_replies(url: str, lookup: str) -> list[bytes]:
    import base64

    import httpx

    from pausebutton.errors import ServiceError

    try:
        r = httpx.get(url.rstrip("/") + f"/v1/whistle/replies/{lookup}", timeout=30)
        r.raise_for_status()
        return [base64.b64decode(x) for x in r.json()["replies"]]
    except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
        raise ServiceError(f"{url}: {exc}") from None


@whistle_app.command("intake")
def wb_intake(
    store: Annotated[Path, typer.Option(help="Intake store (SQLite).")],
    key: Annotated[Path, typer.Option(help="The authority's private key file.")],
    signals: Annotated[
        Path | None, typer.Option(help="Signal store to add the reports to (as whistleblower).")
    ] = None,
    now: NowOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Open new submissions; optionally add them to a signal store as whistleblower signals."""
    opened, errs = whistle.intake(
        whistle.WhistleStore(store), read_whistle_key(key, "private"), _now(now)
    )
    t_now = _now(now).replace(hour=0, minute=0, second=0, microsecond=0)
    sigs = [o.to_signal(t_now) for o in opened]
    if signals is not None and sigs:
        from pausebutton.detect.signals import ImportResult

        add_to_store(signals, ImportResult(Method.WHISTLEBLOWER, list(sigs)))
    rows = [{"submission": o.submission_id, **o.fields} for o in opened]
    if json_out:
        print_json({"opened": rows, "errors": [e.to_dict() for e in errs]})
    else:
        for r in rows:
            out.print(json.dumps(r, sort_keys=True), markup=False)
        _report_errors(errs, False)
        out.print(f"{len(rows)} opened, {len(errs)} unreadable", markup=False)


@whistle_app.command("reply")
def wb_reply(
    store: Annotated[Path, typer.Option(help="Intake store (SQLite).")],
    key: Annotated[Path, typer.Option(help="The authority's private key file.")],
    submission: Annotated[str, typer.Option(help="Submission id (from intake).")],
    message: Annotated[str, typer.Option(help="Follow-up question or answer.")],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the filed reply as JSON.")
    ] = False,
) -> None:
    """File an encrypted reply only the holder of the submission's receipt can read."""
    st = whistle.WhistleStore(store)
    rep = whistle.open_report(read_whistle_key(key, "private"), submission, st.get(submission))
    lookup, box = whistle.seal_reply(rep.receipt, message)
    st.add_reply(lookup, box)
    if json_out:
        print_json({"submission": submission, "lookup": lookup})
    else:
        out.print(f"reply filed for submission {submission}", markup=False)


@whistle_app.command("status")
def wb_status(
    receipt: Annotated[str, typer.Option(help="Your receipt code.")],
    store: Annotated[Path | None, typer.Option(help="Intake store (SQLite).")] = None,
    url: Annotated[str | None, typer.Option(help="Authority base URL instead.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Read the replies to your report (fetched by lookup id, decrypted locally)."""
    lookup = whistle.lookup_id(receipt)
    if (store is None) == (url is None):
        raise DataError("give exactly one of --store or --url")
    boxes = whistle.WhistleStore(store).replies(lookup) if store else _get_replies(str(url), lookup)
    msgs = [whistle.open_reply(receipt, b) for b in boxes]
    if json_out:
        print_json({"replies": msgs})
    else:
        for m in msgs:
            out.print(m, markup=False)
        if not msgs:
            out.print("no replies yet")


# -- inspections -------------------------------------------------------------------------------


@inspect_app.command("schedule")
def inspect_schedule(
    registry: Annotated[Path, typer.Option(help="Registry export directory.")],
    seed_file: Annotated[
        Path, typer.Option("--seed-file", help="Secret seed for random draws (>= 16 bytes).")
    ],
    store: Annotated[
        Path | None, typer.Option(help="Signal store: alerts trigger challenge inspections.")
    ] = None,
    last: Annotated[
        Path | None, typer.Option(help="JSON {target: ISO time} of the last inspections.")
    ] = None,
    now: NowOpt = None,
    period_days: Annotated[float, typer.Option(help="Periodic interval.")] = 180.0,
    random_rate: Annotated[float, typer.Option(help="Random draw probability per window.")] = 0.1,
    json_out: JsonOpt = False,
) -> None:
    """Produce inspection tasks: challenge (from alerts), periodic and random."""
    reg, rerrs = load_registry(registry)
    _report_errors(rerrs, json_out)
    t_now = _now(now)
    al: list[fusion.Alert] = []
    if store is not None:
        signals, errs = load_store(store)
        _report_errors(errs, json_out)
        ctx = Context(reg, signals.until(t_now), bundled_hardware(), t_now)
        al = fusion.alerts(run_rules(ctx))
    last_map: dict[str, datetime] = {}
    if last is not None:
        try:
            raw = json.loads(read_text(last))
        except json.JSONDecodeError as exc:
            raise DataError(f"{last}: not JSON: {exc}", file=str(last)) from None
        if not isinstance(raw, dict):
            raise DataError(f"{last}: expected an object", file=str(last))
        last_map = {str(k): parse_time(v, str(k)) for k, v in raw.items()}
    if not (0 <= random_rate <= 1) or not math.isfinite(period_days) or period_days <= 0:
        raise DataError("--random-rate must be in [0, 1] and --period-days > 0")
    tasks = inspections.schedule(
        reg,
        t_now,
        seed=read_limited(seed_file, 4096),
        last_inspected=last_map,
        alerts=al,
        policy=inspections.SchedulePolicy(period_days=period_days, random_rate=random_rate),
    )
    if json_out:
        print_json([t.to_dict() for t in tasks])
        return
    t = Table("task", "kind", "target", "due", "trigger", "reason")
    for k in tasks:
        t.add_row(k.task_id, k.kind, k.target, k.due.isoformat()[:16], k.trigger, k.reason)
    out.print(t)
    sys.stdout.flush()
