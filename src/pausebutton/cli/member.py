"""``pausebutton member``: a member state's own key, made and kept on its own machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pausebutton import keystore
from pausebutton.cli.common import out, print_json
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.errors import UsageError
from pausebutton.issuing.ceremony import MEMBER_CARD, MEMBER_KEY, init_member

app = typer.Typer(help="Member states: make your own key; send only your public card.")


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Directory for your key and card.")],
    name: Annotated[str, typer.Option(help="Your member name, as the trust root lists it.")],
    region: Annotated[
        str | None, typer.Option(help="Your ISO 3166 alpha-2 country code, e.g. NL.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Generate your member key (DIR/member.key, 0600, never leaves this machine) and your
    card (DIR/member-card.json: name, region, public key) to send to the other founders."""
    card = init_member(directory, name, region)
    if json_out:
        print_json(
            {
                "name": card.name,
                "region": card.region,
                "key_id": card.key_id,
                "key": str(directory / MEMBER_KEY),
                "card": str(directory / MEMBER_CARD),
            }
        )
        return
    out.print(f"member {card.name} ({card.region or '-'}): key id {card.key_id}")
    out.print(f"private key: {directory / MEMBER_KEY} (keep it here)")
    out.print(f"card to send: {directory / MEMBER_CARD}")


@app.command("revoke")
def revoke(
    card: Annotated[Path, typer.Argument(help="The card of the member key to revoke.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a member key on the authority: your own key (a compromise) at once, another
    member's as one vote (revoked at the pause threshold of votes); an admin key revokes
    at once. A revoked key stops counting in every threshold check of the authority at
    once, and on chips once a root without it is installed (root propose --remove-member
    or --rotate-member)."""
    from pausebutton.issuing.ceremony import read_card

    target = read_card(card, "member")
    if key is None:
        raise UsageError("give your member (or admin) key with --key")
    r = client(url, key).post(f"/v1/keys/{target.key_id}/revoke")
    if json_out:
        print_json(r)
    elif r["revoked"]:
        out.print(f"member key of {target.name} revoked ({target.key_id[:16]})")
    else:
        out.print(f"vote recorded: {r['votes']} of {r['needed']} votes to revoke {target.name}")


@app.command("inbox")
def inbox(
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    since: Annotated[int, typer.Option(help="Only what happened at or after (Unix).")] = 0,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep listening (server-sent events).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """What concerns you (any signed key): proposals waiting for your signature, quorums
    reached, roots changed, alerts (an operator: about its own chips). With --follow, each
    new one as it arises."""
    if key is None:
        raise UsageError("give your key with --key")
    c = client(url, key)
    if not follow:
        items = c.request("GET", "/v1/notifications", params={"since": since}, sign=True)
        if json_out:
            print_json(items)
        for n in [] if json_out else items:
            out.print(f"{n['kind']:20} {n['summary']}  ({n['path']})", markup=False)
        return
    import json

    from pausebutton.authority.auth import sign_request

    stream_url = f"{c.base_url}/v1/notifications/stream?since={since}"
    headers = sign_request("GET", stream_url, {}, b"", keystore.read_private_key(key))
    with c.http.stream("GET", stream_url, headers=headers, timeout=None) as resp:
        if resp.status_code >= 400:
            resp.read()
            from pausebutton.authority.client import error_from_response

            raise error_from_response(resp)
        for line in resp.iter_lines():
            if line.startswith("data:"):
                n = json.loads(line[5:])
                if json_out:
                    typer.echo(json.dumps(n, sort_keys=True))
                else:
                    out.print(f"{n['kind']:20} {n['summary']}  ({n['path']})", markup=False)
