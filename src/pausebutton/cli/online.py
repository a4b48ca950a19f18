"""Options shared by the CLI verbs that talk to an authority over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pausebutton.cli.common import close_at_exit

if TYPE_CHECKING:
    from pausebutton.authority.client import AuthorityClient

DEFAULT_URL = "http://127.0.0.1:8080"

UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="PB_AUTHORITY_URL", help="Base URL of the authority."),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key", envvar="PB_KEY", help="Private key file that signs the request (RFC 9421)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the full JSON answer.")]


def client(url: str, key: Path | None) -> AuthorityClient:
    """A client of the authority at ``url``, closed when the command ends."""
    from pausebutton import keystore
    from pausebutton.authority.client import AuthorityClient  # httpx: only when used

    c = AuthorityClient(url, keystore.read_private_key(key) if key else None)
    close_at_exit(c.close)
    return c
