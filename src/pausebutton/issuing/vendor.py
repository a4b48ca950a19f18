"""A chip vendor's key directory (I/O edge): the manufacturer key that certifies device keys.

Layout::

    DIR/vendor.key    the vendor's private key (0600)
    DIR/vendor.json   public metadata: name, key id, public key
"""

from __future__ import annotations

import json
from pathlib import Path

from pausebutton import keystore
from pausebutton.errors import ConflictError, DataError, MalformedError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.protocol.keys import PrivateKey

VENDOR_KEY = "vendor.key"
VENDOR_META = "vendor.json"


def write_vendor_dir(directory: Path, key: PrivateKey, name: str) -> None:
    """Write a new vendor directory; refuses a directory that already holds one."""
    if (directory / VENDOR_META).exists():
        raise ConflictError(f"{directory} already holds a vendor key")
    keystore.write_private_key(directory / VENDOR_KEY, key)
    meta = {"name": name, "key_id": key.key_id.hex(), "public_key": key.public.raw.hex()}
    atomic_write(directory / VENDOR_META, (json.dumps(meta, indent=2) + "\n").encode())


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
