"""``pausebutton license``: issue chip-bound compute licenses offline (authority side)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import typer

from pausebutton.chip.offline import parse_chip_id, parse_duration
from pausebutton.cli.common import JsonOpt, out, print_json
from pausebutton.cli.objects import say, write_output
from pausebutton.errors import UsageError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.issuing.offline import OfflineAuthority
from pausebutton.protocol.flop import MAX_COUNTER, format_flop, parse_flop
from pausebutton.protocol.messages import License
from pausebutton.protocol.times import parse_optional_instant
from pausebutton.protocol.units import format_instant
from pausebutton.translog.bundle import InclusionBundle

app = typer.Typer(help="Issue chip-bound compute licenses (offline, from an authority directory).")

SKEW = 300
"""Default backdating of not_before: tolerance between the authority's clock and a chip's
trusted time."""


@app.command("issue")
def issue(
    authority: Annotated[Path, typer.Option("--authority", help="Authority directory.")],
    chip: Annotated[str, typer.Option("--chip", help="Chip id (64 hex digits).")],
    flop: Annotated[str, typer.Option("--flop", help="FLOP budget at full rate (e.g. 1e18).")],
    valid_for: Annotated[
        str, typer.Option("--valid-for", help="Validity from now (e.g. 30d, 12h, 3600).")
    ],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Install bundle to write (default: stdout).")
    ] = None,
    max_offline: Annotated[
        str, typer.Option(help="Longest run without a fresh time token (dead man's switch).")
    ] = "7d",
    license_id: Annotated[
        int | None, typer.Option(help="License id (default: the next one of this authority).")
    ] = None,
    not_before: Annotated[
        str | None,
        typer.Option(help=f"Start time, Unix seconds or ISO 8601 (default: now - {SKEW} s)."),
    ] = None,
    firmware_floor: Annotated[int, typer.Option(help="Lowest firmware version allowed.")] = 0,
    region: Annotated[str | None, typer.Option(help="Only valid in this region.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only valid for this owner.")] = None,
    now: Annotated[
        str | None, typer.Option(help="Time to issue at, Unix seconds or ISO 8601 (default: now).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (exact budget, Unix seconds).")
    ] = False,
) -> None:
    """Sign a license with the licensing key, append it to the authority's local
    transparency log and write an install bundle carrying its inclusion proof."""
    if json_out and out_path is None:
        raise UsageError("--json needs --out FILE: without it stdout carries the bundle")
    auth = OfflineAuthority.load(authority)
    at = parse_optional_instant(now, "--now", error=UsageError)
    issued = int(time.time()) if at is None else at
    begin = parse_optional_instant(not_before, "--not-before", error=UsageError)
    start = issued - SKEW if begin is None else begin
    draft = License(
        license_id=license_id or 1,
        chip_id=parse_chip_id(chip),
        not_before=start,
        not_after=issued + parse_duration(valid_for, "--valid-for"),
        flop_budget=parse_flop(flop, "--flop", error=UsageError, maximum=MAX_COUNTER),
        max_offline=parse_duration(max_offline, "--max-offline"),
        firmware_floor=firmware_floor,
        region=region.upper() if region else None,
        owner=owner,
    )
    draft.validate()  # all input checked before the id counter moves
    lic = dataclasses.replace(draft, license_id=auth.next_number("license_id", license_id))
    item = auth.logged_install_file(auth.sign_role(lic, "licensing"), timestamp=issued)
    where = write_output(out_path, item.encode(), "an install bundle")
    index = InclusionBundle.decode(item.inclusion or b"").leaf_index
    if json_out:
        print_json(
            {
                "license_id": lic.license_id,
                "chip_id": lic.chip_id.hex(),
                "flop_budget": lic.flop_budget,
                "not_before": lic.not_before,
                "not_after": lic.not_after,
                "log_index": index,
                "file": where,
            }
        )
        return
    say(
        where,
        f"license {lic.license_id} for chip {lic.chip_id.hex()}: {format_flop(lic.flop_budget)}"
        f" until {format_instant(lic.not_after)}, logged at index {index}; written to {where}",
    )


@app.command("checkpoint")
def checkpoint(
    authority: Annotated[Path, typer.Option("--authority", help="Authority directory.")],
    out_path: Annotated[Path, typer.Option("--out", help="The file to hand to each witness.")],
    json_out: JsonOpt = False,
) -> None:
    """Sign a checkpoint of the authority's local log for the independent witnesses to
    cosign on their own machines (witness cosign), with the consistency proofs from every
    checkpoint handed out before and the roots after the founding one. Then attach their
    cosignatures to the install files (license attach).

    Example: pausebutton license checkpoint --authority ./auth --out checkpoint.json"""
    auth = OfflineAuthority.load(authority)
    data = auth.checkpoint_request(timestamp=int(time.time()))
    atomic_write(out_path, data)
    if json_out:
        print_json({"checkpoint": str(out_path)})
    else:
        out.print(f"checkpoint written to {out_path}; next: witness cosign {out_path} --state DIR")


@app.command("attach")
def attach(
    files: Annotated[list[Path], typer.Argument(help="Install files issued offline.")],
    authority: Annotated[Path, typer.Option("--authority", help="Authority directory.")],
    cosig: Annotated[
        list[Path], typer.Option("--cosig", help="A witness's cosigned checkpoint (repeat).")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Rebuild each install file's inclusion bundle under the checkpoint the witnesses
    cosigned, carrying their cosignatures (in place). Refused (exit 3) when the
    cosignatures fall short of the root's witness threshold; the files are left as they
    were.

    Example: pausebutton license attach lic.install --authority ./auth --cosig w1.cosig"""
    auth = OfflineAuthority.load(authority)
    notes = [read_limited(p, 64 * 1024) for p in cosig]
    items = [auth.attach(read_limited(p), notes) for p in files]  # every file checked first
    for path, item in zip(files, items, strict=True):
        atomic_write(path, item.encode())
        if not json_out:
            out.print(f"{path}: cosigned by the witnesses, ready to install")
    if json_out:
        print_json({"cosigned": [str(p) for p in files]})
