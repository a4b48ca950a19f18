"""``pausebutton time``: authority-signed time tokens (chips never trust the host clock)."""

from __future__ import annotations

import time as _time
from pathlib import Path
from typing import Annotated

import typer

from pausebutton.chip.offline import parse_chip_id
from pausebutton.cli.common import print_json
from pausebutton.cli.objects import say, write_output
from pausebutton.errors import UsageError
from pausebutton.issuing.offline import OfflineAuthority
from pausebutton.protocol.messages import TimeToken
from pausebutton.protocol.times import parse_optional_instant
from pausebutton.protocol.units import format_instant

app = typer.Typer(help="Issue time tokens signed by the authority's time role.")


@app.command("issue")
def issue(
    authority: Annotated[Path, typer.Option("--authority", help="Authority directory.")],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Time token file to write (default: stdout).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--time", help="Time to state, Unix seconds or ISO 8601 (default: now)."),
    ] = None,
    chip: Annotated[str | None, typer.Option(help="Bind the token to one chip id.")] = None,
    sequence: Annotated[
        int | None, typer.Option(help="Sequence (default: the authority's next).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sign a time token (monotonic sequence) with the time key. Chips advance their
    trusted time from it by counting cycles."""
    if json_out and out_path is None:
        raise UsageError("--json needs --out FILE: without it stdout carries the token")
    auth = OfflineAuthority.load(authority)
    chip_id = None if chip is None else parse_chip_id(chip)
    given = parse_optional_instant(at, "--time", error=UsageError)
    stated = int(_time.time()) if given is None else given
    TimeToken(time=stated, sequence=sequence or 1, chip_id=chip_id).validate()
    token = TimeToken(stated, auth.next_number("time_sequence", sequence), chip_id)
    where = write_output(out_path, auth.sign_role(token, "time").encode(), "a time token")
    if json_out:
        print_json({"sequence": token.sequence, "time": token.time, "file": where})
    else:
        say(where, f"time token {token.sequence}: {format_instant(token.time)}; written to {where}")
