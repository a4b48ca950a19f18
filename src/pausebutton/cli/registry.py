"""``pausebutton registry``: owners, keys, facilities, chips, custody, reports and alerts
on a running authority (every write is a signed request)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton import keystore
from pausebutton.authority import epoch
from pausebutton.cli.common import EXIT_INCONSISTENT, out, print_json
from pausebutton.cli.objects import read_input
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.cli.tables import (
    Column,
    LimitOpt,
    duration,
    flop,
    instant,
    km,
    megawatts,
    short_id,
    show_record,
    show_rows,
)
from pausebutton.errors import UsageError
from pausebutton.protocol.flop import format_flop
from pausebutton.protocol.times import parse_instant
from pausebutton.protocol.units import parse_power

app = typer.Typer(help="The authority's registry: owners, keys, facilities, chips, custody.")


def _show(data: Any, json_out: bool, line: str) -> None:
    if json_out:
        print_json(data)
    else:
        out.print(line, markup=False)


C = Column
OWNER_COLUMNS = [C("owner", "id"), C("country", "country"), C("name", "name")]
KEY_COLUMNS = [
    C("key id", "key_id", whole=True),
    C("role", "role"),
    C("name", "name"),
    C("owner", "owner_id"),
]
FACILITY_COLUMNS = [
    C("facility", "id"),
    C("country", "country"),
    C("verified", "verified"),
    C("power", "power_mw", megawatts, "right"),
    C("declared chips", "declared_chips", justify="right"),
    C("chip model", "chip_model"),
    C("owner", "owner_id"),
    C("name", "name"),
]
CHIP_COLUMNS = [
    C("chip", "chip_id", whole=True),
    C("status", "status"),
    C("owner", "owner_id"),
    C("facility", "facility_id"),
    C("model", "model"),
    C("serial", "serial"),
    C("registered (UTC)", "registered_at", instant),
]
CHIP_FIELDS = [
    *CHIP_COLUMNS,
    C("vendor", "vendor"),
    C("peak", "peak_flops", lambda v: "—" if v is None else f"{format_flop(v)}/s"),
    C("firmware floor", "firmware_floor"),
    C("log index", "log_index"),
    C("last report", "last_report_sequence"),
]
CUSTODY_COLUMNS = [
    C("seq", "seq", justify="right"),
    C("event", "kind"),
    C("at (UTC)", "at", instant),
    C("actor", "actor"),
    C("owner", "owner_id"),
    C("facility", "facility_id"),
    C("country", "country"),
    C("log index", "log_index", justify="right"),
]
REPORT_COLUMNS = [
    C("seq", "sequence", justify="right"),
    C("time (UTC)", "time", instant),
    C("state", "state"),
    C("full-rate FLOP", "flop_full", flop, "right"),
    C("licence", "license_id", justify="right"),
]
ALERT_COLUMNS = [
    C("alert", "id", justify="right"),
    C("kind", "kind"),
    C("severity", "severity"),
    C("chip", "chip_id", whole=True),
]
CHECK_COLUMNS = [
    C("check", "id", justify="right"),
    C("chip", "chip_id", whole=True),
    C("facility", "facility_id"),
    C("time (UTC)", "time", instant),
    C("verdict", "verdict"),
    C("landmarks", "landmarks", justify="right"),
    C("least distance", "least_distance_km", km, "right"),
]


@app.command("owner-add")
def owner_add(
    owner_id: Annotated[str, typer.Argument(help="Registry id of the owner.")],
    name: Annotated[str, typer.Option(help="Legal entity name.")],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 country code.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register an owner (legal entity). Needs an admin key."""
    r = client(url, key).post("/v1/owners", {"id": owner_id, "name": name, "country": country})
    _show(r, json_out, f"owner {r['id']} ({r['country']}) registered")


@app.command("owners")
def owners(url: UrlOpt = DEFAULT_URL, json_out: JsonOpt = False, limit: LimitOpt = None) -> None:
    """List owners."""
    rows = client(url, None).get("/v1/owners")
    show_rows(rows, OWNER_COLUMNS, json_out=json_out, noun="owners", limit=limit)


@app.command("key-add")
def key_add(
    public_key: Annotated[Path, typer.Argument(help="Public (or private) key file to bind.")],
    role: Annotated[str, typer.Option(help="operator or admin.")] = "operator",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "operator",
    owner: Annotated[str | None, typer.Option(help="Owner an operator key acts for.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Bind a request-signing key to a role (operator keys to an owner). Needs an admin key."""
    pub = keystore.read_public_key(public_key)
    r = client(url, key).post(
        "/v1/keys",
        {"public_key": pub.raw.hex(), "role": role, "name": name, "owner_id": owner},
    )
    _show(r, json_out, f"{r['role']} key {r['key_id']} registered")


@app.command("keys")
def keys(url: UrlOpt = DEFAULT_URL, json_out: JsonOpt = False, limit: LimitOpt = None) -> None:
    """List request-signing keys (member keys come from the trust root)."""
    rows = client(url, None).get("/v1/keys")
    show_rows(rows, KEY_COLUMNS, json_out=json_out, noun="keys", limit=limit)


@app.command("key-revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="Hex key id to revoke.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a request-signing key. Needs an admin key."""
    r = client(url, key).post(f"/v1/keys/{key_id}/revoke")
    _show(r, json_out, f"key {key_id} revoked")


@app.command("facility-add")
def facility_add(
    facility_id: Annotated[str, typer.Argument(help="Registry id of the facility.")],
    name: Annotated[str, typer.Option(help="Facility name.")],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 country code.")],
    lat: Annotated[float | None, typer.Option(help="Latitude (WGS84 degrees).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude (WGS84 degrees).")] = None,
    power: Annotated[
        str | None, typer.Option("--power", help="Declared power with its unit, e.g. 150 MW.")
    ] = None,
    power_mw: Annotated[
        float | None, typer.Option("--power-mw", hidden=True, help="Old spelling: power in MW.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Owner id.")] = None,
    verified: Annotated[bool, typer.Option(help="Mark as verified (inspected).")] = False,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register a facility. Needs an admin key.

    Example: pausebutton registry facility-add dc1 --name "DC One" --country NL --power "150 MW"
    """
    if power is not None:
        if power_mw is not None:
            raise UsageError("give --power or the old --power-mw, not both")
        power_mw = parse_power(power, "--power", error=UsageError) / 1e6
    r = client(url, key).post(
        "/v1/facilities",
        {
            "id": facility_id,
            "name": name,
            "country": country,
            "latitude": lat,
            "longitude": lon,
            "power_mw": power_mw,
            "owner_id": owner,
            "verified": verified,
        },
    )
    _show(r, json_out, f"facility {r['id']} registered")


@app.command("facility-verify")
def facility_verify(
    facility_id: Annotated[str, typer.Argument(help="Facility id.")],
    revoke: Annotated[bool, typer.Option(help="Mark as not verified instead.")] = False,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Mark a facility verified (or not). Needs an admin key."""
    r = client(url, key).post(
        f"/v1/facilities/{facility_id}/verification", {"verified": not revoke}
    )
    _show(r, json_out, f"facility {facility_id} {'not ' if revoke else ''}verified")


@app.command("facilities")
def facilities(
    country: Annotated[str | None, typer.Option(help="Only this country.")] = None,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """List facilities: country, verification, declared power and chips."""
    rows = client(url, None).get("/v1/facilities", country=country)
    show_rows(rows, FACILITY_COLUMNS, json_out=json_out, noun="facilities", limit=limit)


@app.command("chip-register")
def chip_register(
    certificate: Annotated[
        Path,
        typer.Argument(
            help="A chip certificate (chip certificate's CBOR) or agent certificates' JSON"
            " (every GPU's chip); - for stdin."
        ),
    ],
    owner: Annotated[str | None, typer.Option(help="Owner id.")] = None,
    facility: Annotated[str | None, typer.Option(help="Facility id.")] = None,
    gpu: Annotated[
        list[str] | None,
        typer.Option(
            "--gpu", help="From agent certificates' JSON: only this GPU UUID (repeatable)."
        ),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register chips from their vendor certificates, as chip certificate or agent
    certificates write them (no conversion). Needs an admin key.

    Example: pausebutton registry chip-register certs.json --owner acme --facility dc1
    """
    from pausebutton.cli.objects import certificate_files, read_input

    certs = certificate_files(read_input(certificate, 1 << 20))
    if gpu:
        missing = sorted(set(gpu) - set(certs))
        if missing:
            raise UsageError(
                f"--gpu {', '.join(missing)}: not in {certificate}; it holds {', '.join(certs)}"
            )
        certs = {u: c for u, c in certs.items() if u in gpu}
    c = client(url, key)
    answers = []
    for label, cert in certs.items():
        r = c.post(
            "/v1/chips",
            {
                "certificate": base64.b64encode(cert).decode(),
                "owner_id": owner,
                "facility_id": facility,
            },
        )
        answers.append(r)
        if not json_out:
            gpu_note = "" if label == "certificate" else f" (GPU {label})"
            out.print(f"chip {r['chip_id']} registered{gpu_note}: {r['status']}", markup=False)
    if json_out:
        print_json(answers[0] if len(answers) == 1 else answers)


@app.command("chips")
def chips(
    owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
    facility: Annotated[str | None, typer.Option(help="Only this facility.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    ids: Annotated[
        bool, typer.Option("--ids", help="Print only the chip ids, one a line (for scripts).")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """List chips."""
    rows = client(url, None).get("/v1/chips", owner_id=owner, facility_id=facility, status=status)
    if ids:
        for r in rows if not limit else rows[:limit]:
            out.print(r["chip_id"], markup=False)
        return
    show_rows(rows, CHIP_COLUMNS, json_out=json_out, noun="chips", limit=limit)


@app.command("chip")
def chip(
    chip_id: Annotated[str, typer.Argument(help="Hex chip id.")],
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    """Show one chip with its chain of custody (--json: with its certificate)."""
    r = client(url, None).get(f"/v1/chips/{chip_id}")
    show_record(r, CHIP_FIELDS, json_out=json_out)
    if not json_out:
        show_rows(
            r.get("custody") or [],
            CUSTODY_COLUMNS,
            json_out=False,
            noun="custody events",
            limit=0,
            empty="no custody events yet",
        )


@app.command("custody-add")
def custody_add(
    chip_id: Annotated[str, typer.Argument(help="Hex chip id.")],
    kind: Annotated[
        str,
        typer.Option(
            help="fabrication, packaging, design, export, import,"
            " sale, installation, transfer, decommissioning,"
            " destruction."
        ),
    ],
    at: Annotated[str, typer.Option(help="When it happened: Unix seconds or ISO 8601.")],
    actor: Annotated[str, typer.Option(help="Who did it.")],
    owner: Annotated[str | None, typer.Option(help="New owner (sale, transfer).")] = None,
    facility: Annotated[str | None, typer.Option(help="Facility (installation).")] = None,
    country: Annotated[str | None, typer.Option(help="Country (export, import).")] = None,
    note: Annotated[str | None, typer.Option(help="Free text.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Append a custody event to a chip (append-only, logged). Needs an admin key."""
    r = client(url, key).post(
        f"/v1/chips/{chip_id}/custody",
        {
            "kind": kind,
            "at": parse_instant(at, "--at", error=UsageError),
            "actor": actor,
            "owner_id": owner,
            "facility_id": facility,
            "country": country,
            "note": note,
        },
    )
    _show(r, json_out, f"custody event {r['seq']} ({r['kind']}) logged at {r['log_index']}")


@app.command("export")
def export(
    kind: Annotated[str, typer.Argument(help="owners, facilities, chips, licenses or custody.")],
    output: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout.")] = None,
    url: UrlOpt = DEFAULT_URL,
    json_out: Annotated[
        bool, typer.Option("--json", help="The rows as a JSON list of objects, not CSV.")
    ] = False,
) -> None:
    """Export a registry table as CSV, in the schema `registry import` and `detect` read.

    Example: pausebutton registry export facilities --out reg/facilities.csv
    """
    text = client(url, None).get(f"/v1/registry/{kind}.csv")
    if json_out:
        import csv
        import io
        import json

        rows = list(csv.DictReader(io.StringIO(text)))
        text = json.dumps(rows, indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
    else:
        typer.echo(text, nl=False)


@app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help="owners, facilities, chips or custody.")],
    csv_file: Annotated[Path, typer.Argument(help="CSV file with a header row.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Import a CSV (all rows or none) in the schema `registry export` writes (admin key)."""
    data = read_input(csv_file, 64 << 20)
    r = client(url, key).request(
        "POST", f"/v1/registry/{kind}.csv", content=data, content_type="text/csv"
    )
    _show(r, json_out, f"imported {r['imported']} {kind}")


@app.command("seed-epoch")
def seed_epoch(
    data_dir: Annotated[
        Path | None,
        typer.Argument(
            help="An Epoch AI data folder (default: the Epoch AI tables shipped with pausebutton)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many facilities.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Seed facilities from Epoch AI's frontier data centres (located) and GPU clusters.

    Data: Epoch AI, CC BY 4.0 (the citation is printed and kept in each facility's source).
    """
    from pausebutton.cli.progress import phases

    reading, importing = "reading the Epoch AI tables", "importing into the registry"
    with phases([reading, importing], quiet=json_out) as start:
        start(reading)
        if data_dir is None:
            from pausebutton.data import epoch_dir

            data_dir = epoch_dir()
        facilities_csv, n = epoch.facilities_csv(data_dir, limit=limit)
        if n == 0:
            raise UsageError(f"no usable clusters under {data_dir}")
        start(importing)
        r = client(url, key).request(
            "POST",
            "/v1/registry/facilities.csv",
            content=facilities_csv.encode(),
            content_type="text/csv",
        )
    credit = epoch.credit(data_dir)
    if json_out:
        print_json({**r, "source": credit})
        return
    out.print(f"imported {r['imported']} facilities from Epoch AI data centres and GPU clusters")
    out.print(credit, markup=False)


@app.command("submit-reports")
def submit_reports(
    files: Annotated[list[Path], typer.Argument(help="Usage report envelopes (CBOR), one each.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Submit signed usage reports in one batch (operator key)."""
    reports = [read_input(f, 4096) for f in files]
    r = client(url, key).submit_reports(reports)
    _show(
        r,
        json_out,
        f"accepted {r['accepted']}, duplicates {r['duplicates']},"
        f" rejected {len(r['rejected'])}, alerts {len(r['alerts'])}",
    )
    if r["rejected"]:
        raise typer.Exit(3)


@app.command("reports")
def reports(
    chip_id: Annotated[str, typer.Argument(help="Hex chip id.")],
    after: Annotated[int, typer.Option(help="Only sequences above this.")] = 0,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """List a chip's stored usage reports."""
    rows = client(url, None).get(f"/v1/chips/{chip_id}/reports", after=after)
    show_rows(
        rows,
        REPORT_COLUMNS,
        json_out=json_out,
        noun="reports",
        limit=limit,
        empty=f"no usage reports from chip {chip_id[:16]}… yet",
    )


@app.command("alerts")
def alerts(
    kind: Annotated[str | None, typer.Option(help="Only this kind (gap, replay, ...).")] = None,
    after: Annotated[int, typer.Option(help="Only alerts with an id above this.")] = 0,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """List ingestion alerts (gaps, replays, broken chains, use beyond licence ...)."""
    rows = client(url, None).get("/v1/alerts", kind=kind, after=after)
    show_rows(rows, ALERT_COLUMNS, json_out=json_out, noun="alerts", limit=limit)


@app.command("location-checks")
def location_checks(
    chip_id: Annotated[str | None, typer.Option("--chip", help="Only this hex chip id.")] = None,
    after: Annotated[int, typer.Option(help="Only checks with an id above this.")] = 0,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """List stored location checks (chip against its declared facility): verdict
    (consistent, inconsistent, insufficient_evidence), landmarks used, and the least
    distance (km) the chip must be from its facility; --json adds the full evidence."""
    rows = client(url, None).location_checks(chip_id, after=after)
    show_rows(
        rows,
        CHECK_COLUMNS,
        json_out=json_out,
        noun="location checks",
        limit=limit,
        empty="no location checks yet (registry location-run runs them)",
    )


@app.command("location-run")
def location_run(
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the location checks now (needs an admin key): every chip with measurements
    newer than its last check. Exit 5 if any chip is inconsistent with its facility."""
    rows = client(url, key).run_location_checks()
    show_rows(
        rows,
        CHECK_COLUMNS,
        json_out=json_out,
        noun="checks run",
        limit=0,
        empty="0 checks run: no chip has measurements newer than its last check",
    )
    if any(r["verdict"] == "inconsistent" for r in rows):
        raise typer.Exit(EXIT_INCONSISTENT)


def _caps(value: Any) -> str:
    if not value:
        return "none"
    return ", ".join(f"{k}: {format_flop(int(v))}" for k, v in sorted(value.items()))


STATS_FIELDS = [
    C("owners", "owners"),
    C("facilities", "facilities"),
    C("chips", "chips"),
    C("licences", "licenses"),
    C("orders", "orders"),
    C("active pauses", "active_pauses"),
    C("reports", "reports"),
    C("alerts", "alerts"),
    C("log size (entries)", "log_size"),
]
POLICY_FIELDS = [
    C("frontier run at or above", "frontier_flop", flop),
    C(
        "approvals above it",
        "approvals_required",
        lambda v: "the pause threshold" if v is None else str(v),
    ),
    C("licences add up within", "split_window", duration),
    C("cap per owner", "owner_caps", _caps),
    C("cap per country", "country_caps", _caps),
    C("default cap per owner", "default_owner_cap", flop),
    C("longest licence", "max_period", duration),
    C("most chips per licence", "max_chips"),
    C("longest offline", "max_offline", duration),
    C("automatic approval needs a verified facility", "verified_facility_for_auto"),
]
TRUST_FIELDS = [
    C("version", "version"),
    C("expires (UTC)", "expires", instant),
    C("log origin", "log_origin"),
    C("pause threshold", "pause_threshold"),
    C("members", "members", lambda v: str(len(v or []))),
]
MEMBER_COLUMNS = [C("member", "name"), C("region", "region"), C("key", "key", whole=True)]
AUTH_EVENT_COLUMNS = [
    C("event", "id", justify="right"),
    C("at (UTC)", "at", instant),
    C("status", "status", justify="right"),
    C("key id", "key_id", short_id),
    C("request", "method"),
    C("path", "path"),
    C("reason", "reason"),
]


@app.command("stats")
def stats(url: UrlOpt = DEFAULT_URL, json_out: JsonOpt = False) -> None:
    """Counts of everything the authority holds."""
    show_record(client(url, None).get("/v1/stats"), STATS_FIELDS, json_out=json_out)


@app.command("owner")
def owner(
    owner_id: Annotated[str, typer.Argument(help="Owner id.")],
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    """Show one owner with its registered chip count."""
    r = client(url, None).get(f"/v1/owners/{owner_id}")
    show_record(r, [*OWNER_COLUMNS, C("registered chips", "chips")], json_out=json_out)


@app.command("facility")
def facility(
    facility_id: Annotated[str, typer.Argument(help="Facility id.")],
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    """Show one facility with its declared and registered chips."""
    r = client(url, None).get(f"/v1/facilities/{facility_id}")
    fields = [
        *FACILITY_COLUMNS,
        C("latitude", "latitude", lambda v: "—" if v is None else f"{v:.4f}°"),
        C("longitude", "longitude", lambda v: "—" if v is None else f"{v:.4f}°"),
        C("registered chips", "registered_chips"),
        C("source", "source"),
    ]
    show_record(r, fields, json_out=json_out)


@app.command("custody")
def custody(
    chip_id: Annotated[str, typer.Argument(help="Hex chip id.")],
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """A chip's chain of custody, oldest first."""
    rows = client(url, None).get(f"/v1/chips/{chip_id}/custody")
    show_rows(
        rows,
        CUSTODY_COLUMNS,
        json_out=json_out,
        noun="custody events",
        limit=limit,
        empty=f"no custody events for chip {chip_id[:16]}… (registry custody-add records one)",
    )


@app.command("policy")
def policy(url: UrlOpt = DEFAULT_URL, json_out: JsonOpt = False) -> None:
    """The licensing policy in force (--json: its parameters, FLOP as exact numbers)."""
    show_record(client(url, None).get("/v1/policy"), POLICY_FIELDS, json_out=json_out)


@app.command("trust-root")
def trust_root(url: UrlOpt = DEFAULT_URL, json_out: JsonOpt = False) -> None:
    """The authority's trust root: members and pause threshold (--json adds its envelope)."""
    r = client(url, None).get("/v1/trust-root")
    show_record(r, TRUST_FIELDS, json_out=json_out)
    if not json_out:
        show_rows(r.get("members") or [], MEMBER_COLUMNS, json_out=False, noun="members")


@app.command("auth-events")
def auth_events(
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """Recent refused requests (401/403), newest first. Needs an admin key."""
    rows = client(url, key).post("/v1/audit/auth-events")
    show_rows(rows, AUTH_EVENT_COLUMNS, json_out=json_out, noun="refused requests", limit=limit)
