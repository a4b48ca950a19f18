"""Offline authority tools for chips: licenses, orders, time tokens and a local log.

Used by ``pausebutton license issue``, ``pause``/``resume`` and ``time issue``
and by the conformance kit. They work on an authority directory
(``pausebutton authority init``) and keep, beside it::

    DIR/offline/counters.json     next license id, order sequence, time-token sequence
    DIR/offline/log/leaves.bin    RFC 9162 leaf hashes of the local log, 32 bytes each
    DIR/offline/log/entries/N.cbor  each logged entry (envelope bytes)
    DIR/offline/.lock             one writer at a time

Every issued license, order and time token is appended to the local log, and
permissive objects go out as install bundles carrying an inclusion proof under
a checkpoint signed by the log key and cosigned by the witness keys of the
directory (air-gapped use; online, the authority's log service does this).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pausebutton.authority.keydir import AuthorityDir
from pausebutton.chip.install import InstallFile
from pausebutton.errors import DataError, MalformedError, UsageError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.schema import Payload
from pausebutton.translog import merkle
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.note import CheckpointBody, SignedCheckpoint

OFFLINE_DIR = "offline"
COUNTERS = ("license_id", "order_sequence", "time_sequence")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


# -- parsing helpers (shared by the CLI; FLOP counts and scopes: protocol/flop.py, scopes.py)


def parse_duration(text: str) -> int:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"``, ``"1y"`` or plain seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdwy]?)\s*", text)
    if not m:
        raise UsageError(f"{text!r} is not a duration (e.g. 30d, 12h, 90m, 3600)")
    value = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    if value <= 0:
        raise UsageError("a duration must be positive")
    return value


def parse_chip_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise UsageError(f"chip id {text!r} is not hex") from None
    if len(raw) != 32:
        raise UsageError("a chip id is 64 hex digits (SHA-256 of the device key)")
    return raw


# -- inclusion bundles (pure) ------------------------------------------------------------


def make_inclusion_bundle(
    leaf_hashes: Sequence[bytes],
    index: int,
    entry: bytes,
    *,
    origin: str,
    log_key: PrivateKey,
    witnesses: Sequence[PrivateKey],
    timestamp: int,
) -> bytes:
    """An InclusionBundle for ``entry`` (leaf ``index``) under a checkpoint of the whole
    tree, signed by ``log_key`` and cosigned by every key in ``witnesses``."""
    size = len(leaf_hashes)
    body = CheckpointBody(origin, size, merkle.tree_root(leaf_hashes))
    signed = SignedCheckpoint.sign(body, log_key)
    signed = signed.with_signatures([signed.cosign(w, timestamp) for w in witnesses])
    bundle = InclusionBundle(
        entry=entry,
        leaf_index=index,
        tree_size=size,
        proof=tuple(merkle.inclusion_proof(leaf_hashes, index)),
        checkpoint=signed.encode(),
    )
    return bundle.encode()


# -- the offline authority -----------------------------------------------------------------


@dataclass
class OfflineAuthority:
    """An authority directory plus its offline counters and local log."""

    authdir: AuthorityDir

    @classmethod
    def load(cls, path: str | Path) -> OfflineAuthority:
        return cls(AuthorityDir.load(path))

    @property
    def base(self) -> Path:
        return self.authdir.path / OFFLINE_DIR

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.base.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.base / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _counters(self) -> dict[str, int]:
        path = self.base / "counters.json"
        if not path.exists():
            return dict.fromkeys(COUNTERS, 0)
        try:
            doc = json.loads(read_limited(path, 1 << 16))
            return {k: int(doc.get(k, 0)) for k in COUNTERS}
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
            raise MalformedError(f"{path}: damaged counters file", file=str(path)) from None

    def next_number(self, name: str, requested: int | None = None) -> int:
        """The next license id / order sequence / token sequence (or ``requested``, which
        must not go below what was issued); the counter is persisted."""
        with self.locked():
            counters = self._counters()
            value = counters[name] + 1 if requested is None else requested
            if value < 1:
                raise UsageError(f"{name} must be positive")
            counters[name] = max(counters[name], value)
            atomic_write(self.base / "counters.json", json.dumps(counters).encode())
            return value

    def _leaves(self) -> list[bytes]:
        path = self.base / "log" / "leaves.bin"
        if not path.exists():
            return []
        raw = path.read_bytes()
        if len(raw) % 32:
            raise DataError(f"{path}: damaged leaf file", file=str(path))
        return [raw[i : i + 32] for i in range(0, len(raw), 32)]

    def append_to_log(self, entry: bytes, *, timestamp: int) -> bytes:
        """Append ``entry`` to the local log; return its inclusion bundle."""
        keys = self.authdir.keys
        with self.locked():
            leaves = self._leaves()
            index = len(leaves)
            leaves.append(merkle.leaf_hash(entry))
            atomic_write(self.base / "log" / "entries" / f"{index}.cbor", entry)
            atomic_write(self.base / "log" / "leaves.bin", b"".join(leaves))
        return make_inclusion_bundle(
            leaves,
            index,
            entry,
            origin=self.authdir.root.log_origin,
            log_key=keys.key("log"),
            witnesses=keys.role_keys["witness"],
            timestamp=timestamp,
        )

    def logged_install_file(self, env: Envelope, *, timestamp: int) -> InstallFile:
        data = env.encode()
        return InstallFile(data, self.append_to_log(data, timestamp=timestamp))

    def sign_role(self, payload: Payload, role: str) -> Envelope:
        return Envelope.create(payload, self.authdir.keys.role_keys[role])
