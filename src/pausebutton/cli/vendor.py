"""``pausebutton vendor``: a chip manufacturer's key (signs device certificates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pausebutton import keystore
from pausebutton.cli.common import out
from pausebutton.errors import ConflictError, DataError, MalformedError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.protocol.keys import PrivateKey

app = typer.Typer(help="Chip vendor tools: the manufacturer key that certifies device keys.")

VENDOR_KEY = "vendor.key"
VENDOR_META = "vendor.json"


def load_vendor(directory: Path) -> tuple[str, PrivateKey]:
    """(vendor name, vendor key) of a vendor directory made by ``vendor init``."""
    meta_path = directory / VENDOR_META
    if not meta_path.is_file():
        raise DataError(f"{directory} is not a vendor directory (no {VENDOR_META})")
    try:
        name = str(json.loads(read_limited(meta_path, 1 << 16))["name"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise MalformedError(f"{meta_path}: {exc}", file=str(meta_path)) from None
    return name, keystore.read_private_key(directory / VENDOR_KEY)


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Directory for the vendor key.")],
    name: Annotated[str, typer.Option(help="The vendor's name, written in certificates.")] = (
        "example-vendor"
    ),
) -> None:
    """Generate a manufacturer key (DIR/vendor.key, 0600) and DIR/vendor.json.

    ``chip new --vendor DIR`` signs each new chip's device certificate with it.
    Prints the vendor key id."""
    if (directory / VENDOR_META).exists():
        raise ConflictError(f"{directory} already holds a vendor key")
    key = PrivateKey.generate()
    keystore.write_private_key(directory / VENDOR_KEY, key)
    meta = {"name": name, "key_id": key.key_id.hex(), "public_key": key.public.raw.hex()}
    atomic_write(directory / VENDOR_META, (json.dumps(meta, indent=2) + "\n").encode())
    out.print(key.key_id.hex())
