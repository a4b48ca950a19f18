"""``pausebutton vendor``: a chip manufacturer's key (signs device certificates)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pausebutton.cli.common import JsonOpt, out, print_json
from pausebutton.errors import UsageError
from pausebutton.issuing.vendor import write_vendor_dir
from pausebutton.protocol.keys import PrivateKey

app = typer.Typer(help="Chip vendor tools: the manufacturer key that certifies device keys.")


@app.command("init")
def init(
    directory: Annotated[
        Path | None, typer.Argument(help="Directory for the vendor key (or --out DIR).")
    ] = None,
    name: Annotated[str, typer.Option(help="The vendor's name, written in certificates.")] = (
        "example-vendor"
    ),
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Directory for the vendor key (same as DIR).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Generate a manufacturer key (DIR/vendor.key, 0600) and DIR/vendor.json.

    ``chip new --vendor DIR`` signs each new chip's device certificate with it. Prints the
    vendor key id.

    Example: pausebutton vendor init ./vendor --name "Example Chips"
    """
    if directory is not None and out_dir is not None and directory != out_dir:
        raise UsageError("give the directory once: DIR or --out DIR")
    directory = directory or out_dir
    if directory is None:
        raise UsageError("name the directory for the vendor key: DIR or --out DIR")
    key = PrivateKey.generate()
    write_vendor_dir(directory, key, name)
    if json_out:
        print_json({"key_id": key.key_id.hex(), "name": name, "directory": str(directory)})
    else:
        out.print(key.key_id.hex())
