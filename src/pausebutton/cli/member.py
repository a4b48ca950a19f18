"""``pausebutton member``: a member state's own key, made and kept on its own machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pausebutton.cli.common import out
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
