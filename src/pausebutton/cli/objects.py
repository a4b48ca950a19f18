"""One file format per object, read the same way by every verb (docs/cli.md, "Files").

The tools write each object in one format: a signed object is a protocol envelope
(canonical CBOR); a logged one that a chip needs proof for is an install bundle (the
envelope with its inclusion bundle); a log proof is an inclusion bundle; a set of chip
certificates (``agent certificates``) is a JSON map from GPU UUID to the base64 of each
certificate envelope. Every verb that takes an object reads it from a file or from
stdin (``-``), and ``sniff`` tells which of these a file holds, so ``protocol inspect``
reads all of them and ``log verify`` takes an install bundle as it takes a bare
inclusion bundle.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pausebutton import errors
from pausebutton.fsutil import DEFAULT_READ_LIMIT, atomic_write, read_limited

STDIO = "-"
"""The path that means stdin (reading) or stdout (writing)."""


def is_stdio(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDIO


def read_input(path: Path | str, limit: int = DEFAULT_READ_LIMIT) -> bytes:
    """The bytes of ``path``, or of stdin when it is ``-``; at most ``limit`` bytes."""
    if not is_stdio(path):
        return read_limited(path, limit)
    stream = getattr(sys.stdin, "buffer", None)
    data = stream.read(limit + 1) if stream is not None else sys.stdin.read(limit + 1).encode()
    if len(data) > limit:
        raise errors.OversizedError(f"stdin: larger than the limit of {limit}", file=STDIO)
    if not data:
        raise errors.DataError("stdin: nothing to read (pipe a file in, or name one)", file=STDIO)
    return data


def write_output(path: Path | None, data: bytes, what: str) -> str:
    """Write ``data`` to ``path`` (atomically), or to stdout when ``path`` is None or ``-``:
    refused on a terminal, where binary CBOR is unreadable. Returns where it went."""
    if path is not None and not is_stdio(path):
        atomic_write(path, data)
        return str(path)
    if sys.stdout.isatty():
        raise errors.UsageError(
            f"{what} is binary CBOR: give --out FILE, or pipe stdout into a file or a verb"
        )
    sys.stdout.flush()
    stream = getattr(sys.stdout, "buffer", None)
    if stream is not None:
        stream.write(data)
        stream.flush()
    else:  # a text-only stream (an in-process capture): the bytes as latin-1 text
        sys.stdout.write(data.decode("latin-1"))
    return "stdout"


def say(where: str, line: str) -> None:
    """Print a verb's one status line: on stdout, or on stderr when stdout carries the
    object itself (``write_output`` wrote to ``stdout``)."""
    from pausebutton.cli.common import err, out

    (err if where == "stdout" else out).print(line, markup=False)


# -- what a file holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sniffed:
    """What a file holds: ``kind`` is ``envelope``, ``install`` (an install bundle),
    ``inclusion`` (an inclusion bundle) or ``certificates`` (``agent certificates`` JSON);
    ``value`` is the decoded object."""

    kind: str
    value: Any


def sniff(data: bytes) -> Sniffed:
    """Tell which object format ``data`` holds; ``MalformedError`` naming every accepted
    format when it is none of them."""
    from pausebutton.chip.install import INSTALL_KIND, InstallFile
    from pausebutton.protocol import encoding
    from pausebutton.protocol.envelope import Envelope
    from pausebutton.translog.bundle import MAX_BUNDLE_SIZE, InclusionBundle

    stripped = data.lstrip()
    if stripped[:1] == b"{":
        return Sniffed("certificates", parse_certificates(data))
    try:
        value = encoding.decode(data, max_size=MAX_BUNDLE_SIZE)
    except errors.EncodingError:
        text = _base64(data)
        if text is not None:
            return sniff(text)
        if len(data) > encoding.MAX_MESSAGE_SIZE:
            raise _oversized(data) from None
        raise  # the decoder's own named error (malformed, not_canonical, ...)
    if isinstance(value, dict) and value.get("kind") == INSTALL_KIND:
        return Sniffed("install", InstallFile.decode(data))
    if isinstance(value, dict) and "leaf_index" in value and "checkpoint" in value:
        return Sniffed("inclusion", InclusionBundle.decode(data))
    if len(data) > encoding.MAX_MESSAGE_SIZE:
        raise _oversized(data)
    if isinstance(value, dict) and {"type", "payload"} <= set(value):
        return Sniffed("envelope", Envelope.decode(data))
    raise errors.MalformedError(f"not a pausebutton object: {ACCEPTED}")


def _oversized(data: bytes) -> errors.OversizedError:
    from pausebutton.protocol import encoding

    return errors.OversizedError(
        f"{len(data)} bytes is larger than a protocol message ({encoding.MAX_MESSAGE_SIZE})"
        " and is no proof bundle"
    )


ACCEPTED = (
    "accepted: a signed envelope (CBOR), an install bundle (license issue), an inclusion"
    " bundle (log bundle) or agent certificates (JSON), from a file or - for stdin"
)


def _base64(data: bytes) -> bytes | None:
    """The bytes a base64 text (one object, as the API's JSON carries them) stands for."""
    text = data.strip()
    if not text or len(text) > 4 * DEFAULT_READ_LIMIT:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw or None


def parse_certificates(data: bytes) -> dict[str, bytes]:
    """``agent certificates`` JSON: GPU UUID -> certificate envelope bytes."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or not doc:
            raise ValueError("expected a map from GPU UUID to base64 certificate")
        if not all(isinstance(v, str) for v in doc.values()):
            raise ValueError("its values are not base64 text")
        return {str(k): base64.b64decode(v, validate=True) for k, v in doc.items()}
    except (ValueError, TypeError, binascii.Error) as exc:
        raise errors.MalformedError(
            f"a JSON file that is not agent certificates' output ({exc}); {ACCEPTED}"
        ) from None


def certificate_files(data: bytes) -> dict[str, bytes]:
    """The chip certificates in ``data``: one envelope (CBOR, or its base64) under the label
    ``certificate``, or every one of an ``agent certificates`` JSON under its GPU UUID."""
    found = sniff(data)
    if found.kind == "certificates":
        certs: dict[str, bytes] = found.value
        return certs
    from pausebutton.protocol.messages import DeviceCertificate

    if found.kind == "envelope" and found.value.type == DeviceCertificate.TYPE:
        return {"certificate": found.value.encode()}
    kind = f"a {found.value.type}" if found.kind == "envelope" else f"an {found.kind} bundle"
    raise errors.MalformedError(
        f"this is {kind}, not a device certificate: give chip certificate's file or"
        " agent certificates' JSON"
    )


def describe(data: bytes) -> dict[str, Any]:
    """The JSON view of any object file (``protocol inspect``): an envelope as before, an
    install bundle as its envelope with an ``inclusion`` summary, an inclusion bundle with
    its entry opened when it is an envelope, certificates opened one by one."""
    from pausebutton.protocol.envelope import Envelope
    from pausebutton.protocol.jsonview import envelope_json
    from pausebutton.translog.bundle import InclusionBundle

    found = sniff(data)
    if found.kind == "envelope":
        return envelope_json(found.value)
    if found.kind == "certificates":
        return {
            "kind": "certificates",
            "certificates": {
                uuid: envelope_json(Envelope.decode(cert)) for uuid, cert in found.value.items()
            },
        }
    if found.kind == "inclusion":
        return {"kind": "inclusion_bundle", **_inclusion_json(found.value)}
    install = found.value
    view = envelope_json(Envelope.decode(install.envelope))
    view["bundle"] = "install"
    if install.inclusion is not None:
        inc = InclusionBundle.decode(install.inclusion)
        summary = _inclusion_json(inc, with_entry=False)
        summary["entry_is_this_envelope"] = inc.entry == install.envelope
        view["inclusion"] = summary
    else:
        view["inclusion"] = None
    return view


def _inclusion_json(b: Any, *, with_entry: bool = True) -> dict[str, Any]:
    from pausebutton.protocol.envelope import Envelope
    from pausebutton.protocol.jsonview import envelope_json
    from pausebutton.translog.merkle import leaf_hash

    view: dict[str, Any] = {
        "leaf_index": b.leaf_index,
        "tree_size": b.tree_size,
        "proof_hashes": len(b.proof),
        "leaf_hash": leaf_hash(b.entry).hex(),
        "checkpoint": b.checkpoint,
    }
    if with_entry:
        try:
            view["entry"] = envelope_json(Envelope.decode(b.entry))
        except errors.EncodingError:
            view["entry_hex"] = b.entry.hex()
    return view
