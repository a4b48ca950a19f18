"""``pausebutton supply``: the supply chain on a running authority: parties (fabs,
lithography makers, HBM suppliers, packaging sites, vendors, exporters, importers,
integrators, customs), fab tools, export licences, and custody steps each party signs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton import keystore
from pausebutton.cli.common import out, print_json
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.errors import UsageError
from pausebutton.protocol.times import parse_instant

app = typer.Typer(
    help="The supply chain: parties, fab tools, export licences, custody signed by parties."
)
KINDS = "fab, lithography, hbm, packaging, vendor, exporter, importer, integrator or customs"


def _rows(rows: list[dict[str, Any]], cols: list[str], empty: str, json_out: bool) -> None:
    if json_out:
        print_json(rows)
        return
    if not rows:
        out.print(empty)
        return
    from rich.table import Table

    table = Table(*cols)
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(r[c]) for c in cols))
    out.print(table)


@app.command("party-add")
def party_add(
    party_id: Annotated[str, typer.Argument(help="Registry id of the party.")],
    kind: Annotated[str, typer.Option(help=f"One of: {KINDS}.")],
    name: Annotated[str, typer.Option(help="Legal entity name.")],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 country code.")],
    public_key: Annotated[
        Path | None,
        typer.Option(help="The key file the party signs its custody steps with."),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register a supply-chain party. Needs an admin key.

    Example: pausebutton supply party-add tsmc --kind fab --name TSMC --country TW
    --public-key tsmc.pub
    """
    body: dict[str, Any] = {"id": party_id, "kind": kind, "name": name, "country": country}
    if public_key is not None:
        body["public_key"] = keystore.read_public_key(public_key).raw.hex()
    r = client(url, key).post("/v1/supply/parties", body)
    if json_out:
        print_json(r)
    else:
        signs = "signs its own custody steps" if r["key_id"] else "holds no signing key"
        out.print(f"party {r['id']} ({r['kind']}, {r['country']}) registered; {signs}")


@app.command("parties")
def parties(
    kind: Annotated[str | None, typer.Option(help=f"Only one kind: {KINDS}.")] = None,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    """List the supply-chain parties.

    Example: pausebutton supply parties --kind fab
    """
    rows = client(url, None).get("/v1/supply/parties", **({"kind": kind} if kind else {}))
    _rows(rows, ["id", "kind", "name", "country", "source"], "no parties registered", json_out)


@app.command("tool-add")
def tool_add(
    fab_id: Annotated[str, typer.Argument(help="The fab.")],
    maker: Annotated[str, typer.Option(help="The lithography maker (a party).")],
    tool: Annotated[str, typer.Option(help="The kind of tool, e.g. EUV or DUV.")],
    count: Annotated[int | None, typer.Option(help="How many, where known.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a fab's lithography tools. Needs an admin key.

    Example: pausebutton supply tool-add tsmc --maker asml --tool EUV
    """
    body: dict[str, Any] = {"maker_id": maker, "tool": tool}
    if count is not None:
        body["count"] = count
    r = client(url, key).post(f"/v1/supply/parties/{fab_id}/tools", body)
    if json_out:
        print_json(r)
    else:
        out.print(f"{r['fab_id']} uses {r['tool']} tools by {r['maker_id']}")


@app.command("tools")
def tools(url: UrlOpt = DEFAULT_URL, json_out: JsonOpt = False) -> None:
    """List the fabs' lithography tools.

    Example: pausebutton supply tools
    """
    rows = client(url, None).get("/v1/supply/tools")
    _rows(rows, ["fab_id", "maker_id", "tool", "count"], "no fab tools recorded", json_out)


@app.command("export-licence-add")
def export_licence_add(
    licence_id: Annotated[str, typer.Argument(help="The export licence's id.")],
    exporter: Annotated[str, typer.Option(help="The exporting party.")],
    importer: Annotated[str, typer.Option(help="The importing party.")],
    country: Annotated[str, typer.Option(help="Destination country (ISO alpha-2).")],
    quantity: Annotated[int, typer.Option(help="Chips it allows.")],
    not_before: Annotated[str, typer.Option(help="Valid from: ISO 8601 or Unix seconds.")],
    not_after: Annotated[str, typer.Option(help="Valid until: ISO 8601 or Unix seconds.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record an export licence. Needs an admin key.

    Example: pausebutton supply export-licence-add EL-1 --exporter nvidia --importer imp-nl
    --country NL --quantity 1000 --not-before 2026-01-01T00:00:00Z --not-after 2026-12-31T00:00:00Z
    """
    r = client(url, key).post(
        "/v1/supply/export-licences",
        {
            "id": licence_id,
            "exporter_id": exporter,
            "importer_id": importer,
            "country": country,
            "quantity": quantity,
            "not_before": parse_instant(not_before, "not_before", error=UsageError),
            "not_after": parse_instant(not_after, "not_after", error=UsageError),
        },
    )
    if json_out:
        print_json(r)
        return
    out.print(
        f"export licence {r['id']}: {r['quantity']} chips from {r['exporter_id']}"
        f" to {r['importer_id']} ({r['country']})"
    )


@app.command("sign")
def sign(
    chip_id: Annotated[str, typer.Argument(help="The chip (hex key id).")],
    kind: Annotated[
        str,
        typer.Argument(help="fabrication, packaging, board, export, import, sale, server, rack"),
    ],
    at: Annotated[str, typer.Option(help="When: ISO 8601 or Unix seconds.")],
    to: Annotated[str | None, typer.Option("--to", help="The party it goes to next.")] = None,
    country: Annotated[str | None, typer.Option(help="Export/import country.")] = None,
    facility: Annotated[str | None, typer.Option(help="Facility (rack).")] = None,
    export_licence: Annotated[str | None, typer.Option(help="The export licence.")] = None,
    note: Annotated[str | None, typer.Option(help="Free text.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Sign the custody step your party performs on a chip it holds (with --key).

    Example: pausebutton supply sign CHIP fabrication --at 2026-01-05T00:00:00Z --to cowos
    --key tsmc.key
    """
    if key is None:
        raise UsageError("--key: the party's private key signs the step")
    body: dict[str, Any] = {
        "chip_id": chip_id,
        "kind": kind,
        "at": parse_instant(at, "at", error=UsageError),
    }
    for name, value in (
        ("to_party", to),
        ("country", country),
        ("facility_id", facility),
        ("export_licence", export_licence),
        ("note", note),
    ):
        if value is not None:
            body[name] = value
    r = client(url, key).post("/v1/supply/custody", body)
    if json_out:
        print_json(r)
    else:
        nxt = f", handed to {r['to_party']}" if r["to_party"] else ""
        out.print(f"custody step {r['seq']} ({r['kind']}) by {r['party_id']}{nxt}; logged")


@app.command("seed-example")
def seed_example(url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, json_out: JsonOpt = False) -> None:
    """Seed an illustrative example of the chokepoints the source names (ASML, TSMC, SK
    Hynix, Nvidia, ...): names, countries and roles only, no figures. Needs an admin key.

    Example: pausebutton supply seed-example --key admin.key
    """
    from pausebutton.data import read_text

    data = json.loads(read_text("supply_chain", "chokepoints.json"))
    from pausebutton.cli.progress import progress

    c = client(url, key)
    total = len(data["parties"]) + len(data["tools"])
    with progress(total, "seeding the supply chain", quiet=json_out) as done:
        for p in data["parties"]:
            c.post("/v1/supply/parties", {**p, "source": data["source"]})
            done()
        for tool in data["tools"]:
            c.post(
                f"/v1/supply/parties/{tool['fab_id']}/tools",
                {"maker_id": tool["maker_id"], "tool": tool["tool"]},
            )
            done()
    if json_out:
        doc = {"parties": len(data["parties"]), "tools": len(data["tools"])}
        print_json({**doc, "source": data["source"]})
        return
    out.print(
        f"seeded {len(data['parties'])} parties and {len(data['tools'])} fab tools"
        f" ({data['source']})"
    )
