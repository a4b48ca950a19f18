"""``pausebutton authority``: found an authority (offline) and, later, serve it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from pausebutton.authority.keydir import ROOT_FILE, write_authority_dir
from pausebutton.cli.common import out
from pausebutton.protocol.genesis import DEFAULT_ORIGIN, found_authority

app = typer.Typer(help="Found and run the licensing authority.")

DAY = 86400


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the authority in.")],
    members: Annotated[int, typer.Option(help="Number of member states N.")] = 5,
    threshold: Annotated[
        int, typer.Option(help="Signatures K needed to pause or change root.")
    ] = 3,
    witnesses: Annotated[int, typer.Option(help="Number of witness keys.")] = 3,
    witness_threshold: Annotated[int, typer.Option(help="Cosignatures W a checkpoint needs.")] = 2,
    landmarks: Annotated[int, typer.Option(help="Number of landmark keys.")] = 3,
    origin: Annotated[str, typer.Option(help="Transparency log origin line.")] = DEFAULT_ORIGIN,
    valid_days: Annotated[int, typer.Option(help="Days until the trust root expires.")] = 365,
) -> None:
    """Generate member and role keys and a self-signed trust root (version 1).

    For demos, tests and air-gapped ceremonies: in production each member state
    generates and keeps its own key.
    """
    keys = found_authority(
        members=members,
        threshold=threshold,
        witnesses=witnesses,
        witness_threshold=witness_threshold,
        landmarks=landmarks,
        log_origin=origin,
    )
    now = int(time.time())
    env = keys.signed_root(version=1, expires=now + valid_days * DAY)
    write_authority_dir(directory, keys, env.encode())
    out.print(f"authority founded in {directory}: {members} members, pause threshold {threshold}")
    out.print(f"trust root: {directory / ROOT_FILE}")
