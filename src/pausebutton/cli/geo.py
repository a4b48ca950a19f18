"""``pausebutton geo``: verify a chip's claimed facility from round-trip times, estimate
where it is, and validate the solver on the WonderProxy ping dataset.

Exit codes of ``geo verify``: 0 consistent, 5 inconsistent, 6 insufficient evidence
(fewer landmarks than the policy requires, or landmarks that contradict each other),
7 suspicious (an alert for inspection, not a conviction), 2 bad input.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer

from pausebutton.cli.common import (
    EXIT_INCONSISTENT,
    EXIT_INSUFFICIENT,
    EXIT_SUSPICIOUS,
    out,
    print_json,
)
from pausebutton.errors import DataError, UsageError
from pausebutton.fsutil import read_limited
from pausebutton.geo.calibration import Calibration, calibrate
from pausebutton.geo.csvio import (
    parse_landmarks,
    parse_measurements,
    parse_wonderproxy_pings,
    parse_wonderproxy_servers,
)
from pausebutton.geo.delay import DelayModel
from pausebutton.geo.holdout import evaluate_holdout
from pausebutton.geo.physics import check_rtt, distance_km
from pausebutton.geo.region import Estimate
from pausebutton.geo.verdict import (
    DEFAULT_POLICY,
    Claim,
    Combination,
    Landmark,
    Model,
    Policy,
    VerdictKind,
    locate,
    verify_claim,
)
from pausebutton.protocol.units import format_km

CSV_LIMIT = 256 * 1024 * 1024

app = typer.Typer(
    help=(
        "Location verification from round-trip times: verify a claimed facility, locate a"
        " chip, validate the solver on real ping data. See docs/geo.md."
    ),
    no_args_is_help=True,
)

LandmarksOpt = Annotated[
    Path, typer.Option("--landmarks", help="CSV with columns id,lat,lon (WGS84 degrees).")
]
MeasurementsOpt = Annotated[
    Path,
    typer.Option(
        "--measurements",
        help="CSV with columns landmark_id,rtt_ms; repeated rows allowed (the minimum counts).",
    ),
]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help=(
            "Delay model: statistical (excess delay fitted on real pings between servers,"
            " WonderProxy; per-landmark offsets from --calibration if given; error"
            " probabilities, verdict suspicious/inconsistent), hard (speed of light only;"
            " never rejects an honest chip, cannot see relays), fibre (2/3 c with"
            " --max-inflation), calibrated (per-landmark bestline/slowline from"
            " --calibration), or auto (= statistical)."
        ),
    ),
]
CalibrationOpt = Annotated[
    Path | None,
    typer.Option(
        "--calibration",
        help="CSV source,destination,rtt_ms of landmark-to-landmark measurements.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _read_text(path: Path) -> str:
    data = read_limited(path, CSV_LIMIT)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})", file=str(path)) from None


def _model(name: str, calibration: Path | None) -> Model:
    if name == "auto":
        return Model.STATISTICAL
    try:
        return Model(name)
    except ValueError:
        raise UsageError(
            f"--model must be statistical, hard, fibre, calibrated or auto, not {name!r}"
        ) from None


def _claim(text: str) -> Claim:
    parts = text.split(",")
    if len(parts) not in (2, 3):
        raise UsageError(f"--claim must be LAT,LON[,RADIUS_KM], not {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"--claim must be numbers LAT,LON[,RADIUS_KM], not {text!r}") from None
    try:
        return Claim(*values)
    except DataError as exc:
        raise UsageError(f"--claim: {exc.message}") from None


def _calibration_pairs(path: Path, landmarks: dict[str, Landmark]) -> list[tuple[str, str, float]]:
    import csv
    import io

    name = str(path)
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    need = ("source", "destination", "rtt_ms")
    if not reader.fieldnames or any(c not in reader.fieldnames for c in need):
        raise DataError(f"{name}: needs columns {','.join(need)}", file=name, row=1)
    pairs: list[tuple[str, str, float]] = []
    for row_no, row in enumerate(reader, start=2):
        for fieldname in ("source", "destination"):
            if row.get(fieldname) not in landmarks:
                raise DataError(
                    f"{name}, row {row_no}, field {fieldname}: unknown landmark "
                    f"{row.get(fieldname)!r}",
                    file=name,
                    row=row_no,
                    field=fieldname,
                )
        try:
            rtt = float(row.get("rtt_ms") or "")
            check_rtt(rtt)
        except (ValueError, DataError):
            raise DataError(
                f"{name}, row {row_no}, field rtt_ms: {row.get('rtt_ms')!r} is not a valid RTT",
                file=name,
                row=row_no,
                field="rtt_ms",
            ) from None
        pairs.append((row["source"], row["destination"], rtt))
    return pairs


def _calibrations(
    path: Path | None, landmarks: dict[str, Landmark], model: Model
) -> dict[str, Calibration]:
    if path is None:
        if model is Model.CALIBRATED:
            raise UsageError("--model calibrated needs --calibration")
        return {}
    pairs = _calibration_pairs(path, landmarks)  # validated whatever the model
    if model is not Model.CALIBRATED:
        return {}
    return calibrate({k: (v.lat, v.lon) for k, v in landmarks.items()}, pairs)


def _delay(
    path: Path | None, landmarks: dict[str, Landmark], model: Model
) -> tuple[DelayModel | None, tuple[str, ...]]:
    """The statistical model (fitted on the shipped WonderProxy pings), with offsets for
    the landmarks of ``path``'s calibration pings, and the landmarks found mislocated."""
    if model is not Model.STATISTICAL:
        return None, ()
    from pausebutton.geo.wonderproxy import bundled_delay_model

    delay = bundled_delay_model()
    if path is None:
        return delay, ()
    pairs = _calibration_pairs(path, landmarks)
    return delay.with_landmarks({k: (v.lat, v.lon) for k, v in landmarks.items()}, pairs)


def _region_line(est: Estimate, claim: Claim | None) -> str:
    """The estimate for people: the centre of the feasible region (every point the
    landmarks' round trips allow), named as such, with the claim's distance from it."""
    line = (
        f"estimate: the centre of the feasible region, {est.lat:.4f},{est.lon:.4f}, radius"
        f" {format_km(est.radius_km)} (where the round trips allow the chip to be: the"
        " region's centre, not an accusation)"
    )
    if claim is not None:
        away = distance_km(claim.lat, claim.lon, est.lat, est.lon)
        line += f"; the claim is {format_km(away)} from this centre"
    return line


@app.command("verify")
def verify(
    landmarks: LandmarksOpt,
    measurements: MeasurementsOpt,
    claim: Annotated[
        str, typer.Option("--claim", help="Declared facility LAT,LON[,RADIUS_KM] (WGS84).")
    ],
    model: ModelOpt = "auto",
    calibration: CalibrationOpt = None,
    min_landmarks: Annotated[
        int, typer.Option("--min-landmarks", help="Fewer landmarks: insufficient evidence.")
    ] = 3,
    tolerance_ms: Annotated[
        float,
        typer.Option("--tolerance-ms", help="Slack before a response counts as too slow."),
    ] = 1.0,
    max_inflation: Annotated[
        float, typer.Option("--max-inflation", help="Fibre model: route length / geodesic.")
    ] = 2.5,
    overhead_ms: Annotated[
        float, typer.Option("--overhead-ms", help="Fibre model: fixed delay per round trip.")
    ] = 0.5,
    reject_probability: Annotated[
        float,
        typer.Option(
            "--reject-probability",
            help="Statistical model: inconsistent when an honest chip shows this evidence"
            " with at most this probability (the trade-off; docs/geo.md has its curve).",
        ),
    ] = DEFAULT_POLICY.reject_probability,
    suspect_probability: Annotated[
        float,
        typer.Option("--suspect-probability", help="Statistical model: suspicious at most this."),
    ] = DEFAULT_POLICY.suspect_probability,
    robust_k: Annotated[
        int,
        typer.Option(
            "--robust-k",
            help="Statistical model, --combination kth_p_value: the k-th slowest landmark decides.",
        ),
    ] = DEFAULT_POLICY.robust_k,
    combination: Annotated[
        str,
        typer.Option(
            "--combination",
            help="Statistical model: common_excess (the median landmark's delay beyond"
            " typical, in path-noise units) or kth_p_value (--robust-k).",
        ),
    ] = DEFAULT_POLICY.combination.value,
    json_out: JsonOpt = False,
) -> None:
    """Is the chip at the claimed facility? Exit 0 consistent, 5 inconsistent, 6 insufficient
    evidence (too few landmarks, or landmarks that contradict each other), 7 suspicious
    (an alert for inspection), 2 bad input."""
    the_claim = _claim(claim)
    the_model = _model(model, calibration)
    try:
        the_combination = Combination(combination)
    except ValueError:
        raise UsageError(
            f"--combination must be common_excess or kth_p_value, not {combination!r}"
        ) from None
    try:
        policy = Policy(
            the_model,
            min_landmarks,
            tolerance_ms,
            max_inflation,
            overhead_ms,
            reject_probability=reject_probability,
            suspect_probability=suspect_probability,
            robust_k=robust_k,
            combination=the_combination,
        )
    except UsageError as exc:
        raise UsageError(f"policy: {exc.message}") from None
    lms = parse_landmarks(_read_text(landmarks), str(landmarks))
    rows = parse_measurements(_read_text(measurements), lms, str(measurements))
    cals = _calibrations(calibration, lms, the_model)
    delay, mislocated = _delay(calibration, lms, the_model)
    verdict = verify_claim(lms, rows, the_claim, policy, cals, delay=delay, mislocated=mislocated)
    if json_out:
        print_json(verdict.to_json())
    else:
        out.print(f"verdict: {verdict.verdict.value}", markup=False)
        if verdict.error_probability is not None:
            out.print(
                f"error probability: {verdict.error_probability:.3g} (how often an honest"
                " chip at the claim shows this)",
                markup=False,
            )
        for reason in verdict.reasons:
            out.print(f"  - {reason}", markup=False)
        for e in verdict.landmarks:
            out.print(
                f"  {e.landmark_id}: rtt {e.rtt_ms:.3f} ms, max {e.max_distance_km:.1f} km,"
                f" claim at {e.distance_to_claim_km:.1f} km, {e.status}",
                markup=False,
            )
        if verdict.estimate is not None:
            out.print(_region_line(verdict.estimate, the_claim), markup=False)
    if verdict.verdict is VerdictKind.INCONSISTENT:
        raise typer.Exit(EXIT_INCONSISTENT)
    if verdict.verdict is VerdictKind.INSUFFICIENT:
        raise typer.Exit(EXIT_INSUFFICIENT)
    if verdict.verdict is VerdictKind.SUSPICIOUS:
        raise typer.Exit(EXIT_SUSPICIOUS)


@app.command("locate")
def locate_cmd(
    landmarks: LandmarksOpt,
    measurements: MeasurementsOpt,
    model: ModelOpt = "auto",
    calibration: CalibrationOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Estimate where the chip is (centre and radius of the feasible region); no verdict.
    Exit 5 if no point fits every landmark even at the speed of light (the measurements
    or landmark positions contradict each other)."""
    the_model = _model(model, calibration)
    lms = parse_landmarks(_read_text(landmarks), str(landmarks))
    rows = parse_measurements(_read_text(measurements), lms, str(measurements))
    cals = _calibrations(calibration, lms, the_model)
    est, maxd, notes = locate(lms, rows, the_model, cals)
    result = {
        "model": the_model.value,
        "estimate": None
        if est is None
        else {
            "lat": round(est.lat, 5),
            "lon": round(est.lon, 5),
            "radius_km": round(est.radius_km, 3),
        },
        "max_distance_km": {k: round(v, 3) for k, v in maxd.items()},
        "reasons": notes,
    }
    if json_out:
        print_json(result)
    elif est is None:
        out.print("no estimate: " + "; ".join(notes), markup=False)
    else:
        out.print(_region_line(est, None), markup=False)
    if est is None:
        raise typer.Exit(EXIT_INCONSISTENT)


@app.command("wonderproxy")
def wonderproxy(
    servers: Annotated[
        Path | None,
        typer.Option(
            "--servers",
            help="WonderProxy servers.csv (default: the copy shipped with pausebutton).",
        ),
    ] = None,
    pings: Annotated[
        Path | None,
        typer.Option(
            "--pings", help="WonderProxy pings.csv (default: the copy shipped with pausebutton)."
        ),
    ] = None,
    holdout: Annotated[
        int, typer.Option("--holdout", help="How many servers to hold out as chips.")
    ] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed for choosing held-out servers.")] = 1,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="statistical (fitted on the pings of the servers not held out; the"
            " default, as for geo verify), hard, fibre or calibrated.",
        ),
    ] = "statistical",
    tolerance_ms: Annotated[float, typer.Option("--tolerance-ms")] = 1.0,
    min_landmarks: Annotated[int, typer.Option("--min-landmarks")] = 3,
    json_out: JsonOpt = False,
) -> None:
    """Validate the solver on the public WonderProxy ping dataset: hold out servers as
    chips, calibrate on the rest, count false rejects and measure estimate errors.

    Without --servers and --pings it runs on the copy shipped with pausebutton
    (pausebutton/data/wonderproxy/: 123 servers and the pings between them, credit
    WonderNetwork). The full set, every server, is WonderNetwork's "A day in the life of
    the internet" (https://wonderproxy.com, https://wondernetwork.com): give its
    servers.csv and pings.csv.
    """
    from pausebutton.geo import wonderproxy as wp

    if model not in ("hard", "fibre", "calibrated", "statistical"):
        raise UsageError(f"--model must be hard, fibre, calibrated or statistical, not {model!r}")
    the_model = Model(model)
    if (servers is None) != (pings is None):
        raise UsageError(
            "give both --servers and --pings (WonderProxy's servers.csv and pings.csv, from"
            " https://wonderproxy.com), or neither for the copy shipped with pausebutton"
        )
    if servers is None or pings is None:
        servers_text, pings_text = wp.bundled_texts()
        servers_name, pings_name = "servers.csv (shipped)", "pings.csv.gz (shipped)"
        data = f"the copy shipped with pausebutton: {wp.SOURCE}"
    else:
        for path in (servers, pings):
            if not path.exists():
                raise DataError(
                    f"{path} does not exist; WonderProxy's servers.csv and pings.csv are"
                    ' WonderNetwork\'s "A day in the life of the internet"'
                    " (https://wonderproxy.com, https://wondernetwork.com), or leave out"
                    " --servers and --pings for the copy shipped with pausebutton",
                    file=str(path),
                )
        servers_text, pings_text = _read_text(servers), _read_text(pings)
        servers_name, pings_name = str(servers), str(pings)
        data = f"{servers} and {pings}: {wp.SOURCE}"
    srv = parse_wonderproxy_servers(servers_text, servers_name)
    rows, skipped = parse_wonderproxy_pings(pings_text, srv, pings_name)
    if holdout < 1 or holdout >= len(srv):
        raise UsageError(f"--holdout must be between 1 and {len(srv) - 1}")
    targets = sorted(random.Random(seed).sample(sorted(srv), holdout))
    sites = {k: v.landmark() for k, v in srv.items()}
    policy = Policy(the_model, min_landmarks, tolerance_ms)
    result = evaluate_holdout(
        sites, [(p.source, p.destination, p.min_ms) for p in rows], targets, policy
    )
    result["skipped_rows"] = skipped
    result["servers"] = len(srv)
    result["data"] = data
    if json_out:
        print_json(result)
    else:
        from pausebutton.cli.tables import text

        for key, value in result.items():
            out.print(f"{key.replace('_', ' ')}: {text(value)}", markup=False)
