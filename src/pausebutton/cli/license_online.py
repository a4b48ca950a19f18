"""Online licence verbs (against a running authority): apply, approve, list, show, fetch.

``register(app)`` adds them to the ``license`` command group (next to the offline
``license issue``).
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton.cli.common import out, print_json
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.cli.tables import (
    Column,
    LimitOpt,
    flop,
    instant,
    show_record,
    show_rows,
    text,
)
from pausebutton.errors import UsageError
from pausebutton.protocol.flop import format_flop, parse_flop
from pausebutton.protocol.times import parse_optional_instant
from pausebutton.protocol.units import parse_duration

DAY = 86400

LICENSE_COLUMNS = [
    Column("licence", "license_id", justify="right"),
    Column("chip", "chip_id", whole=True),
    Column("owner", "owner_id"),
    Column("run", "run_id"),
    Column("budget", "flop_budget", flop, "right"),
    Column("until (UTC)", "not_after", instant),
    Column("log index", "log_index", justify="right"),
]
APPLICATION_COLUMNS = [
    Column("application", "id", justify="right"),
    Column("status", "status"),
    Column("owner", "owner_id"),
    Column("run", "run_id"),
    Column("budget", "flop_budget", flop, "right"),
    Column("chips", "chips", lambda c: str(len(c or [])), "right"),
    Column("approvals", "approvals", lambda a: str(len(a or [])), "right"),
    Column("licences", "license_ids", text),
    Column("reasons", "reasons", lambda r: "; ".join(r or []) or "—"),
]


def _summary(app: dict[str, Any]) -> str:
    line = f"application {app['id']}: {app['status']}"
    if app.get("flop_budget") is not None:
        line += f", {format_flop(app['flop_budget'])}"
    if app["license_ids"]:
        line += f", licences {app['license_ids'][0]}..{app['license_ids'][-1]}"
    if app["status"] == "pending":
        line += f", approvals {len(app['approvals'])}/{app['approvals_required']}"
    for reason in app["reasons"]:
        line += f"\n  - {reason}"
    return line


def register(app: typer.Typer) -> None:
    """Add the online licence verbs to ``app``."""

    @app.command("apply")
    def apply(
        chips: Annotated[list[str], typer.Argument(help="Hex chip ids to license.")],
        budget: Annotated[str, typer.Option(help="Total FLOP for the run, e.g. 1e24.")],
        run_id: Annotated[str, typer.Option("--run", help="Run id (counts across renewals).")],
        purpose: Annotated[str, typer.Option(help="What the compute is for.")],
        valid_for: Annotated[
            str, typer.Option("--valid-for", help="Validity from the start, e.g. 30d, 12h.")
        ] = "30d",
        days: Annotated[
            int | None, typer.Option("--days", hidden=True, help="Old spelling: days valid.")
        ] = None,
        not_before: Annotated[
            str | None, typer.Option(help="Start, Unix seconds or ISO 8601 (default: now).")
        ] = None,
        url: UrlOpt = DEFAULT_URL,
        key: KeyOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Apply for per-chip licences (operator key). Exit 3 if refused.

        Example: pausebutton license apply CHIP --budget "30 YFLOP" --run r1 --purpose eval
        """
        begin = parse_optional_instant(not_before, "--not-before", error=UsageError)
        start = begin if begin is not None else int(time.time())
        period = (
            days * DAY
            if days is not None
            else parse_duration(valid_for, "--valid-for", error=UsageError)
        )
        count = parse_flop(budget, "--budget", error=UsageError)  # refused before any request
        r = client(url, key).post(
            "/v1/licenses/applications",
            {
                "chips": chips,
                "flop_budget": str(count),
                "not_before": start,
                "not_after": start + period,
                "run_id": run_id,
                "purpose": purpose,
            },
        )
        print_json(r) if json_out else out.print(_summary(r), markup=False)
        if r["status"] == "refused":
            raise typer.Exit(3)

    @app.command("approve")
    def approve(
        application_id: Annotated[int, typer.Argument(help="Application id.")],
        url: UrlOpt = DEFAULT_URL,
        key: KeyOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Approve a pending application (member key); K approvals issue the licences."""
        r = client(url, key).post(f"/v1/licenses/applications/{application_id}/approvals")
        print_json(r) if json_out else out.print(_summary(r), markup=False)

    @app.command("applications")
    def applications(
        status: Annotated[str | None, typer.Option(help="pending, issued or refused.")] = None,
        owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
        url: UrlOpt = DEFAULT_URL,
        json_out: JsonOpt = False,
        limit: LimitOpt = None,
    ) -> None:
        """List licence applications."""
        rows = client(url, None).get("/v1/licenses/applications", status=status, owner_id=owner)
        show_rows(rows, APPLICATION_COLUMNS, json_out=json_out, noun="applications", limit=limit)

    @app.command("list")
    def list_(
        chip: Annotated[str | None, typer.Option(help="Only this chip.")] = None,
        owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
        after: Annotated[int, typer.Option(help="Only ids above this.")] = 0,
        url: UrlOpt = DEFAULT_URL,
        json_out: JsonOpt = False,
        limit: LimitOpt = None,
    ) -> None:
        """List issued licences."""
        rows = client(url, None).get("/v1/licenses", chip_id=chip, owner_id=owner, after=after)
        show_rows(rows, LICENSE_COLUMNS, json_out=json_out, noun="licences", limit=limit)

    @app.command("show")
    def show(
        license_id: Annotated[int, typer.Argument(help="Licence id.")],
        url: UrlOpt = DEFAULT_URL,
        json_out: JsonOpt = False,
    ) -> None:
        """Show one licence (--json: with the signed envelope in base64)."""
        r = client(url, None).get(f"/v1/licenses/{license_id}")
        fields = [
            *LICENSE_COLUMNS,
            Column("from (UTC)", "not_before", instant),
            Column("issued (UTC)", "issued_at", instant),
            Column("application", "application_id"),
        ]
        show_record(r, fields, json_out=json_out)

    @app.command("fetch")
    def fetch(
        license_id: Annotated[int, typer.Argument(help="Licence id.")],
        output: Annotated[
            Path | None,
            typer.Option("--out", help="File for the licence envelope (default: stdout)."),
        ] = None,
        url: UrlOpt = DEFAULT_URL,
    ) -> None:
        """Download a signed licence envelope (CBOR) for installing on its chip."""
        from pausebutton.cli.objects import say, write_output

        r = client(url, None).get(f"/v1/licenses/{license_id}")
        where = write_output(output, base64.b64decode(r["envelope"]), "a licence envelope")
        say(where, f"licence {license_id} written to {where}")
