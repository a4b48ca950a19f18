"""``pausebutton member``: a member state's own key, made and kept on its own machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
) -> None:
    """Generate your member key (DIR/member.key, 0600, never leaves this machine) and your
    card (DIR/member-card.json: name, region, public key) to send to the other founders."""
    card = init_member(directory, name, region)
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
