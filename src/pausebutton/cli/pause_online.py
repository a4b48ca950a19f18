"""Online pause and resume verbs (against a running authority).

``register(app)`` adds ``submit``, ``approve``, ``list``, ``show``, ``watch``,
``publish-prohibited`` and ``prohibited`` to the ``pause`` group;
``register_resume(app)`` adds ``submit`` and ``approve`` to the ``resume`` group.
A member proposes; each member signs the order's signing input locally with its
own key and sends only the signature; the authority assembles the order once K
distinct members have signed. A prohibited-artifacts list is signed by K members
offline (it is a whole envelope) and published by any one of them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton import keystore
from pausebutton.cli.common import out, print_json
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.cli.tables import Column, LimitOpt, instant, show_rows
from pausebutton.errors import NotFoundError, UsageError
from pausebutton.fsutil import atomic_write
from pausebutton.protocol.scopes import parse_scope, scope_to_json
from pausebutton.protocol.times import parse_optional_instant

ScopeOpt = Annotated[
    str,
    typer.Option(
        help="global, region:US,DE, owner:acme,beta or chips:HEX,HEX (what the order covers)."
    ),
]


def _line(p: dict[str, Any]) -> str:
    signers = ", ".join(p["signed_by"]) or "nobody yet"
    return (
        f"{p['kind']} proposal {p['id']} (sequence {p['sequence']}): {p['status']},"
        f" signed by {len(p['signed_by'])} of {p['threshold']} ({signers})"
    )


def _scope(scope: Any) -> str:
    """An order's scope as the --scope syntax reads it (``region:NL,DE``, ``global``)."""
    from pausebutton.protocol.scopes import format_scope, scope_from_json

    return format_scope(scope_from_json(scope))


PROPOSAL_COLUMNS = [
    Column("proposal", "id", justify="right"),
    Column("kind", "kind"),
    Column("sequence", "sequence", justify="right"),
    Column("status", "status"),
    Column("signed", "signed_by", lambda s: str(len(s or [])), "right"),
    Column("threshold", "threshold", justify="right"),
    Column("signed by", "signed_by"),
    Column("proposed (UTC)", "created_at", instant),
]
ORDER_COLUMNS = [
    Column("sequence", "sequence", justify="right"),
    Column("kind", "kind"),
    Column("in force", "active"),
    Column("scope", "scope", _scope),
    Column("lifts", "lifts", justify="right"),
    Column("assembled (UTC)", "assembled_at", instant),
    Column("log index", "log_index", justify="right"),
]


def _sign(url: str, key_path: Path | None, proposal_id: int) -> dict[str, Any]:
    if key_path is None:
        raise UsageError("give your member key with --key")
    key = keystore.read_private_key(key_path)
    c = client(url, key_path)
    prop = c.get(f"/v1/orders/proposals/{proposal_id}")
    signature = key.sign(bytes.fromhex(prop["signing_input"]))
    out_: dict[str, Any] = c.post(
        f"/v1/orders/proposals/{proposal_id}/signatures",
        {"key_id": key.key_id.hex(), "sig": signature.hex()},
    )
    return out_


def _submit(url: str, key: Path | None, body: dict[str, Any], json_out: bool) -> None:
    c = client(url, key)
    prop = c.post("/v1/orders/proposals", body)
    prop = _sign(url, key, prop["id"])
    print_json(prop) if json_out else out.print(_line(prop), markup=False)


def pause_submit(
    reason: Annotated[str, typer.Option(help="Why (public, logged).")],
    scope: ScopeOpt = "global",
    effective_at: Annotated[
        str | None, typer.Option(help="Unix seconds or ISO 8601 (default: now).")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Propose a pause order and sign it with your member key."""
    _submit(
        url,
        key,
        {
            "kind": "pause",
            "scope": scope_to_json(parse_scope(scope)),
            "reason": reason,
            "effective_at": parse_optional_instant(
                effective_at, "--effective-at", error=UsageError
            ),
        },
        json_out,
    )


def pause_approve(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Sign a proposed pause (or resume) with your member key; the K-th assembles it."""
    p = _sign(url, key, proposal_id)
    print_json(p) if json_out else out.print(_line(p), markup=False)


def proposals(
    status: Annotated[str | None, typer.Option(help="open or assembled.")] = None,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """List pause and resume proposals with their quorum progress."""
    rows = client(url, None).get("/v1/orders/proposals", status=status)
    show_rows(rows, PROPOSAL_COLUMNS, json_out=json_out, noun="proposals", limit=limit)


def list_(
    active: Annotated[bool, typer.Option(help="Only pauses in force.")] = False,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
    limit: LimitOpt = None,
) -> None:
    """List assembled orders."""
    rows = client(url, None).get("/v1/orders", active=True if active else None)
    show_rows(
        rows,
        ORDER_COLUMNS,
        json_out=json_out,
        noun="orders",
        limit=limit,
        empty="no pause orders in force" if active else "no orders yet",
    )


def show(
    sequence: Annotated[int, typer.Argument(help="Order sequence.")],
    output: Annotated[Path | None, typer.Option("--out", help="Save the envelope.")] = None,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    """Show one assembled order (--json: as the authority answers, with its envelope);
    --out saves its signed envelope (CBOR)."""
    o = client(url, None).get(f"/v1/orders/{sequence}")
    raw = base64.b64decode(o["envelope"])
    if output:
        atomic_write(output, raw)
    if json_out:
        print_json(o)
        return
    from pausebutton.cli.tables import show_record
    from pausebutton.protocol.envelope import Envelope

    env = Envelope.decode(raw)
    order = env.open()
    doc = {
        **o,
        "reason": getattr(order, "reason", None),
        "effective_at": getattr(order, "effective_at", None),
        "issued_at": getattr(order, "issued_at", None),
        "signatures": len(env.signatures),
        "proposal": o.get("proposal_id"),
    }
    fields = [
        *ORDER_COLUMNS,
        Column("effective (UTC)", "effective_at", instant),
        Column("issued (UTC)", "issued_at", instant),
        Column("reason", "reason"),
        Column("signatures", "signatures"),
        Column("proposal", "proposal"),
    ]
    show_record(doc, fields, json_out=False)
    if output:
        out.print(f"envelope saved to {output}", markup=False)


def publish_prohibited(
    file: Annotated[
        Path,
        typer.Argument(help="A ProhibitedArtifacts envelope carrying K of N members' signatures."),
    ],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Publish a prohibited-artifacts list (signed by the pause role's K of N) to the
    authority, signed with your member key. The authority checks the quorum and that the
    sequence exceeds the published list's, logs it and serves it to every node agent."""
    from pausebutton.cli.common import read_envelope
    from pausebutton.protocol.messages import ProhibitedArtifacts

    data, env = read_envelope(file)
    if env.type != ProhibitedArtifacts.TYPE:
        raise UsageError(f"{file} holds a {env.type}, not a {ProhibitedArtifacts.TYPE}")
    env.open()
    if key is None:
        raise UsageError("give your member key with --key")
    r = client(url, key).publish_prohibited(data)
    if json_out:
        print_json(r)
    else:
        out.print(
            f"prohibited-artifacts list {r['sequence']} ({r['artifacts']} artifacts)"
            f" {'already published' if r['duplicate'] else 'published'}"
            f" at log index {r['log_index']}",
            markup=False,
        )


def prohibited(
    output: Annotated[Path | None, typer.Option("--out", help="Save the envelope.")] = None,
    url: UrlOpt = DEFAULT_URL,
    json_out: JsonOpt = False,
) -> None:
    """Show the newest published prohibited-artifacts list (--json: as the authority
    answers, with its envelope); --out saves its signed envelope (CBOR) for `agent
    prohibit` on an offline node."""
    r = client(url, None).prohibited()
    if r is None:
        raise NotFoundError("no prohibited-artifacts list is published yet")
    if output:
        atomic_write(output, base64.b64decode(r["envelope"]))
    if json_out:
        print_json(r)
        return
    from pausebutton.cli.tables import show_record

    fields = [
        Column("sequence", "sequence"),
        Column("artifacts", "artifacts"),
        Column("issued (UTC)", "issued_at", instant),
        Column("published by", "published_by"),
        Column("received (UTC)", "received_at", instant),
        Column("log index", "log_index"),
    ]
    show_record(r, fields, json_out=False)
    if output:
        out.print(f"envelope saved to {output}", markup=False)


def watch(
    after: Annotated[int, typer.Option(help="Orders with a sequence above this.")] = 0,
    once: Annotated[bool, typer.Option(help="Stop after the first batch.")] = False,
    timeout: Annotated[float, typer.Option(help="Long-poll timeout in seconds.")] = 30.0,
    url: UrlOpt = DEFAULT_URL,
) -> None:
    """Wait for orders (long-poll) and print each as one JSON line."""
    c = client(url, None)
    while True:
        r = c.watch(after, timeout)
        for o in r["orders"]:
            typer.echo(json.dumps(o, sort_keys=True))
            after = max(after, o["sequence"])
        if once and r["orders"]:
            return


def resume_submit(
    reason: Annotated[str, typer.Option(help="Why (public, logged).")],
    lifts: Annotated[
        int | None, typer.Option("--lifts", help="Sequence of the pause order to lift.")
    ] = None,
    lifts_arg: Annotated[
        int | None,
        typer.Argument(metavar="[LIFTS]", hidden=True, help="Old spelling of --lifts."),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Propose lifting a pause and sign it with your member key.

    Example: pausebutton resume submit --lifts 1 --reason "drill over" --key member-1.key
    """
    if lifts is not None and lifts_arg is not None and lifts != lifts_arg:
        raise UsageError("give --lifts once (the positional LIFTS is its old spelling)")
    chosen = lifts if lifts is not None else lifts_arg
    if chosen is None:
        raise UsageError("--lifts is required: the sequence of the pause order to lift")
    _submit(url, key, {"kind": "resume", "lifts": chosen, "reason": reason}, json_out)


def resume_approve(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Sign a proposed resume with your member key."""
    p = _sign(url, key, proposal_id)
    print_json(p) if json_out else out.print(_line(p), markup=False)


def register(app: typer.Typer) -> None:
    """Add the online pause verbs to ``app``."""
    app.command("submit")(pause_submit)
    app.command("approve")(pause_approve)
    app.command("proposals")(proposals)
    app.command("list")(list_)
    app.command("show")(show)
    app.command("publish-prohibited")(publish_prohibited)
    app.command("prohibited")(prohibited)
    app.command("watch")(watch)


def register_resume(app: typer.Typer) -> None:
    """Add the online resume verbs to ``app``."""
    app.command("submit")(resume_submit)
    app.command("approve")(resume_approve)
