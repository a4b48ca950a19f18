"""``pausebutton detection``: the verification engine inside a running authority.

Sources (a utility, a customs office, an inspector, a satellite analyst) submit signed
signals in the engine's JSON file format; the authority joins them with its own
evidence (usage reports, location checks, registry, licences) and serves fused alerts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton import keystore
from pausebutton.cli.common import out, print_json
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.errors import UsageError
from pausebutton.fsutil import read_limited

app = typer.Typer(
    help="The verification engine inside the authority: sources, signals, runs, alerts."
)

MAX_FILE = 16 << 20


@app.command("source-add")
def source_add(
    public_key: Annotated[Path, typer.Argument(help="The source's public (or private) key file.")],
    name: Annotated[str, typer.Option(help="Who the source is (e.g. 'Grid operator NL').")],
    method: Annotated[
        list[str],
        typer.Option("--method", help="A method it may report (repeatable): energy, customs, ..."),
    ],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Bind a source's key to the verification methods it may report. Needs an admin key.

    Example: pausebutton detection source-add utility.pub --name "Grid NL" --method energy
    """
    raw = keystore.read_public_key(public_key).raw.hex()
    r = client(url, key).post(
        "/v1/signal-sources", {"public_key": raw, "name": name, "methods": method}
    )
    if json_out:
        print_json(r)
    else:
        out.print(f"source {r['name']} ({r['key_id'][:16]}…) may report {', '.join(r['methods'])}")


@app.command("submit")
def submit(
    file: Annotated[
        Path,
        typer.Argument(help='Signals as the engine\'s JSON ({"kind", "version", "rows"}).'),
    ],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Submit one batch of signals, signed by the source's key (all rows or none).

    Example: pausebutton detection submit energy.json --key utility.key
    """
    if key is None:
        raise UsageError("--key: the source's private key signs the submission")
    data = read_limited(file, MAX_FILE)
    r = client(url, key).request(
        "POST", "/v1/signals", content=data, content_type="application/json"
    )
    if json_out:
        print_json(r)
    else:
        out.print(
            f"{r['received']} {r['method']} signals received, {r['stored']} new"
            f" ({r['received'] - r['stored']} already known)"
        )


@app.command("run")
def run(url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, json_out: JsonOpt = False) -> None:
    """Run the engine over the evidence now (it also runs periodically). Needs an admin key.

    Example: pausebutton detection run --key admin.key
    """
    r = client(url, key).post("/v1/detection/runs")
    if json_out:
        print_json(r)
    else:
        out.print(
            f"run {r['id']}: {r['signals']} signals and {r['own_evidence']} records of the"
            f" authority's own evidence -> {r['findings']} findings, {r['alerts']} alerts"
        )


@app.command("alerts")
def alerts(
    kind: Annotated[str | None, typer.Option(help="owner, site, fab or chip.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's.")] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166 alpha-2 country.")] = None,
    method: Annotated[str | None, typer.Option(help="Only alerts a method raised.")] = None,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    """The newest run's fused alerts, strongest first, with the methods behind each.

    Example: pausebutton detection alerts --kind owner --country US
    """
    params = {"kind": kind, "owner": owner, "country": country, "method": method}
    rows: list[dict[str, Any]] = client(url, None).get(
        "/v1/detection/alerts", **{k: v for k, v in params.items() if v}
    )
    if json_out:
        print_json(rows)
        return
    if not rows:
        out.print("no alerts in the newest run")
        return
    from rich.table import Table

    table = Table("kind", "subject", "owner", "country", "P(violation)", "severity", "methods")
    for a in rows:
        table.add_row(
            a["kind"],
            a["subject"],
            a["owner"],
            a["country"],
            f"{a['probability']:.3f}",
            a["severity"],
            ", ".join(a["methods"]),
        )
    out.print(table)


@app.command("findings")
def findings(
    rule: Annotated[str | None, typer.Option(help="Only this rule's findings.")] = None,
    subject: Annotated[
        str | None, typer.Option(help="Only findings naming this site, owner, fab or chip.")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    """The newest run's findings, each with its reason (evidence in --json).

    Example: pausebutton detection findings --rule usage_silent
    """
    params = {"rule": rule, "subject": subject}
    rows: list[dict[str, Any]] = client(url, None).get(
        "/v1/findings", **{k: v for k, v in params.items() if v}
    )
    if json_out:
        print_json(rows)
        return
    if not rows:
        out.print("no findings in the newest run")
        return
    for f in rows:
        out.print(f"[{f['severity']}] {f['rule']}: {f['reason']}", markup=False)
