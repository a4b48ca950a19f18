"""Offline issuing: licenses, orders, time tokens and a local log, from an authority directory.

Used by ``pausebutton license issue``, ``pause``/``resume`` and ``time issue``
and by the conformance kit. They work on an authority directory
(``pausebutton authority init``) and keep, beside it::

    DIR/offline/counters.json     next license id, order sequence, time-token sequence
    DIR/offline/log/leaves.bin    RFC 9162 leaf hashes of the local log, 32 bytes each
    DIR/offline/log/entries/N.cbor  each logged entry (envelope bytes)
    DIR/offline/log/handed-out.json sizes of the checkpoints handed to witnesses
    DIR/offline/.lock             one writer at a time

Every issued license, order and time token is appended to the local log, and
permissive objects go out as install bundles carrying an inclusion proof under
a checkpoint signed by the log key and cosigned by the witness keys of the
directory (air-gapped use; online, the authority's log service does this).

A ceremony directory holds no witness key: its operator hands a checkpoint of the local
log to each independent witness as a file (``checkpoint_request``, ``license
checkpoint``), each witness cosigns it on its own machine (``witness cosign``), and
``attach`` rebuilds an install file's bundle under that checkpoint with the
cosignatures (``license attach``).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pausebutton.chip.install import InstallFile
from pausebutton.errors import DataError, MalformedError, NotLoggedError, ProofError, UsageError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.issuing.keydir import AuthorityDir, root_chain
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.schema import Payload
from pausebutton.translog import merkle
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.note import CheckpointBody, Note, NoteSignature, SignedCheckpoint
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.witness import CosignRequest

OFFLINE_DIR = "offline"
COUNTERS = ("license_id", "order_sequence", "time_sequence")


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


def merge_cosignatures(
    policy: LogPolicy, checkpoint: SignedCheckpoint, cosigned: Sequence[bytes]
) -> SignedCheckpoint:
    """``checkpoint`` with the signatures of each cosigned copy of it (the checkpoint
    notes witnesses wrote), which must be of the same checkpoint; the result must pass
    V1 with the witness threshold (BelowThresholdError naming how many counted)."""
    extra: list[NoteSignature] = []
    for data in cosigned:
        copy = SignedCheckpoint.parse(data)
        if copy.body != checkpoint.body:
            raise ProofError(
                f"a cosignature is for size {copy.size}, not the checkpoint of size"
                f" {checkpoint.size}",
                size=copy.size,
            )
        extra += [s for s in copy.note.signatures if s not in checkpoint.note.signatures]
    merged = checkpoint.with_signatures(extra)
    policy.check_checkpoint(merged)
    return merged


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

    # -- independent witnesses (air-gapped) ----------------------------------------------

    def checkpoint_request(self, *, timestamp: int) -> bytes:
        """A checkpoint of the whole local log, signed by the log key, for independent
        witnesses to cosign: with the consistency proofs from every size handed out
        before, and the roots after the founding one."""
        del timestamp  # a log signature is not dated; the witnesses date theirs
        path = self.base / "log" / "handed-out.json"
        with self.locked():
            leaves = self._leaves()
            if not leaves:
                raise UsageError("the local log is empty: nothing to cosign yet")
            sizes = json.loads(read_limited(path, 1 << 20)) if path.exists() else []
            size = len(leaves)
            body = CheckpointBody(self.authdir.root.log_origin, size, merkle.tree_root(leaves))
            signed = SignedCheckpoint.sign(body, self.authdir.keys.key("log"))
            proofs = {
                old: tuple(merkle.consistency_proof(leaves[:size], old))
                for old in sorted({int(s) for s in sizes})
                if 0 < old < size
            }
            atomic_write(path, json.dumps(sorted({*map(int, sizes), size})).encode())
        roots = tuple(root_chain(self.authdir.path, 1))
        return CosignRequest(signed.encode(), proofs, roots).to_bytes()

    def attach(self, install: bytes, cosigned: Sequence[bytes]) -> InstallFile:
        """Rebuild ``install``'s inclusion bundle under the checkpoint the witnesses
        cosigned (``cosigned``: their cosigned checkpoint notes), carrying their
        cosignatures; the entry must be in that checkpoint's tree."""
        if not cosigned:
            raise UsageError("give at least one witness cosignature")
        item = InstallFile.decode(install)
        if item.inclusion is None:
            raise NotLoggedError("the install file carries no inclusion bundle of this log")
        index = InclusionBundle.decode(item.inclusion).leaf_index
        leaves = self._leaves()
        if index >= len(leaves) or leaves[index] != merkle.leaf_hash(item.envelope):
            raise NotLoggedError(f"the install file's entry is not at index {index} of this log")
        policy = LogPolicy.from_trust_root(self.authdir.root)
        first = policy.parse_log_signed(cosigned[0])
        size = first.size
        if not index < size <= len(leaves):
            raise ProofError(
                f"the cosigned checkpoint (size {size}) does not hold entry {index}", size=size
            )
        if merkle.tree_root(leaves[:size]) != first.root_hash:
            raise ProofError(f"the cosigned checkpoint of size {size} is not this log's")
        log_names = {v.signer for v in policy.log_verifiers}
        logged = SignedCheckpoint(
            first.body,
            Note(first.note.text, tuple(s for s in first.note.signatures if s.signer in log_names)),
        )
        merged = merge_cosignatures(policy, logged, cosigned)
        bundle = InclusionBundle(
            entry=item.envelope,
            leaf_index=index,
            tree_size=size,
            proof=tuple(merkle.inclusion_proof(leaves[:size], index)),
            checkpoint=merged.encode(),
        )
        return InstallFile(item.envelope, bundle.encode())
