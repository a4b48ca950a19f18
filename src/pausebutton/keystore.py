"""Key files (I/O edge): private keys are written 0600 and never printed.

A private key file is JSON::

    {"kind": "pausebutton-ed25519-private", "seed": "<base64 32 bytes>",
     "public_key": "<base64>", "key_id": "<hex>"}

A public key file has the same shape with kind ``pausebutton-ed25519-public``
and no seed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from pathlib import Path

from pausebutton.errors import ConflictError, DataError, MalformedError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.protocol.keys import PrivateKey, PublicKey

PRIVATE_KIND = "pausebutton-ed25519-private"
PUBLIC_KIND = "pausebutton-ed25519-public"
KEY_FILE_LIMIT = 4096


def _public_doc(key: PublicKey) -> dict[str, str]:
    return {
        "kind": PUBLIC_KIND,
        "public_key": base64.b64encode(key.raw).decode(),
        "key_id": key.key_id.hex(),
    }


def write_private_key(
    path: str | os.PathLike[str], key: PrivateKey, *, force: bool = False
) -> None:
    """Write ``key`` to ``path`` with mode 0600; refuses to overwrite unless ``force``."""
    p = Path(path)
    if p.exists() and not force:
        raise ConflictError(
            f"{p} exists; refusing to overwrite a key file (choose another path, or --force)",
            file=str(p),
        )
    doc = _public_doc(key.public) | {
        "kind": PRIVATE_KIND,
        "seed": base64.b64encode(key.seed()).decode(),
    }
    atomic_write(p, (json.dumps(doc, indent=1) + "\n").encode(), mode=0o600)


def write_public_key(path: str | os.PathLike[str], key: PublicKey) -> None:
    atomic_write(path, (json.dumps(_public_doc(key), indent=1) + "\n").encode())


def _load(path: str | os.PathLike[str]) -> dict[str, object]:
    data = read_limited(path, KEY_FILE_LIMIT)
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedError(f"{path}: not a key file ({exc})", file=str(path)) from None
    if not isinstance(doc, dict) or doc.get("kind") not in (PRIVATE_KIND, PUBLIC_KIND):
        raise MalformedError(f"{path}: not a pausebutton key file", file=str(path))
    return doc


def _b64(doc: dict[str, object], name: str, path: str | os.PathLike[str]) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        raise MalformedError(f"{path}: field {name!r} is missing", file=str(path), field=name)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{path}: field {name!r} is not base64", file=str(path)) from None


def read_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Load a private key; refuses files readable by group or others."""
    p = Path(path)
    doc = _load(p)
    if doc["kind"] != PRIVATE_KIND:
        raise MalformedError(f"{p}: holds a public key, not a private key", file=str(p))
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        raise DataError(
            f"{p}: permissions {oct(mode)} let others read the key; chmod 600 it", file=str(p)
        )
    key = PrivateKey(_b64(doc, "seed", p))
    if doc.get("key_id") not in (None, key.key_id.hex()):
        raise MalformedError(f"{p}: key_id does not match the key", file=str(p))
    return key


def read_public_key(path: str | os.PathLike[str]) -> PublicKey:
    """Load a public key from a public or private key file."""
    doc = _load(path)
    if doc["kind"] == PRIVATE_KIND:
        return read_private_key(path).public
    key = PublicKey.from_bytes(_b64(doc, "public_key", path))
    if doc.get("key_id") not in (None, key.key_id.hex()):
        raise MalformedError(f"{path}: key_id does not match the key", file=str(path))
    return key
