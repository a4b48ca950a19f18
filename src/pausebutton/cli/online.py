"""Options shared by the CLI verbs that talk to an authority over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pausebutton import keystore
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
    return AuthorityClient(url, keystore.read_private_key(key) if key else None)
