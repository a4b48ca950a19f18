"""Secure NVM emulation: file-backed, atomic, checksummed, redundant, rollback-detecting.

Layout of a state directory (docs/firmware.md, "Secure NVM")::

    STATE/nvm-0.bin  STATE/nvm-1.bin  STATE/nvm-2.bin   three redundant copies
    STATE/fuse.bin                                      the monotonic fuse counter
    STATE/notify.bin                                    change notice (not trusted)

Each copy is ``MAGIC | generation (16 bytes, big-endian) | length (4) | data |
SHA-256 of all before``. A write of generation g+1 writes every copy with
``fsutil.atomic_write`` (temp file, fsync, rename, fsync of the folder) and then
*burns the fuse* to g+1. The fuse file stands for one-time-programmable fuses or
an RPMB counter: it only goes up, and a real chip cannot roll it back.

Reading votes: copies whose checksum fails are ignored; among the rest the
highest generation that the fuse allows wins, and damaged or stale copies are
rewritten from the winner. The fuse accepts generation ``fuse`` or ``fuse + 1``
(a crash after the copies but before the fuse burn); it is then burnt forward.

Rollback: if the best copy's generation is *below* the fuse, someone restored
older NVM files. The chip refuses to start (CorruptStateError) rather than run
on old counters; it never resets silently. Restoring the newest copies (or
leaving one intact copy) lets it start again. No copy readable: CorruptStateError.

The notice file holds the low 64 bits of the newest generation (little-endian),
rewritten in place after every write. It carries no trust: it lets a process
that maps it (``pausebutton.agent.ledger.StateDirChip``) see that another process
wrote the NVM without a system call per look; the copies and the fuse stay the
truth, and a reader still checks them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pausebutton.errors import ConflictError, CorruptStateError, DataError, OversizedError
from pausebutton.fsutil import atomic_write

MAGIC = b"PBNVM\x01"
FUSE_MAGIC = b"PBFUSE\x01"
COPIES = 3
GEN_BYTES = 16
"""Generations are 128-bit (they never wrap in any chip's life)."""
MAX_NVM = 1 << 20
COPY_NAMES = tuple(f"nvm-{i}.bin" for i in range(COPIES))
FUSE_NAME = "fuse.bin"
NOTIFY_NAME = "notify.bin"
NOTIFY_MASK = (1 << 64) - 1

WriteHook = Callable[[Path, bytes], None]


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _pack(magic: bytes, generation: int, data: bytes) -> bytes:
    body = magic + generation.to_bytes(GEN_BYTES, "big") + len(data).to_bytes(4, "big") + data
    return body + _digest(body)


def _unpack(magic: bytes, raw: bytes) -> tuple[int, bytes] | None:
    """(generation, data), or None if the bytes are damaged."""
    head = len(magic) + GEN_BYTES + 4
    if len(raw) < head + 32 or not raw.startswith(magic):
        return None
    body, check = raw[:-32], raw[-32:]
    if _digest(body) != check:
        return None
    generation = int.from_bytes(body[len(magic) : len(magic) + GEN_BYTES], "big")
    length = int.from_bytes(body[len(magic) + GEN_BYTES : head], "big")
    data = body[head:]
    if len(data) != length:
        return None
    return generation, data


@dataclass(frozen=True)
class NvmRead:
    data: bytes
    generation: int
    repaired: tuple[str, ...]
    """Copies that were damaged or stale and were rewritten from the winner."""


class FileNvm:
    """The secure NVM of one chip in a state directory.

    ``write_hook`` (tests only) replaces the low-level file write, so a test can
    inject a crash between any two writes.
    """

    def __init__(self, directory: str | os.PathLike[str], *, write_hook: WriteHook | None = None):
        self.dir = Path(directory)
        self._write_file: WriteHook = write_hook or self._atomic
        self.generation: int | None = None

    @staticmethod
    def _atomic(path: Path, data: bytes) -> None:
        atomic_write(path, data, mode=0o600)

    def exists(self) -> bool:
        return any((self.dir / n).exists() for n in (*COPY_NAMES, FUSE_NAME))

    # -- fuse --------------------------------------------------------------------------------

    def fuse(self) -> int:
        path = self.dir / FUSE_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise CorruptStateError(
                f"{self.dir}: the fuse counter ({FUSE_NAME}) is missing; refusing to start",
                file=str(path),
            ) from None
        unpacked = _unpack(FUSE_MAGIC, raw)
        if unpacked is None:
            raise CorruptStateError(
                f"{path}: the fuse counter is damaged; refusing to start", file=str(path)
            )
        return unpacked[0]

    def _burn(self, generation: int) -> None:
        self._write_file(self.dir / FUSE_NAME, _pack(FUSE_MAGIC, generation, b""))

    def notice(self) -> int | None:
        """The generation in the notice file (low 64 bits), or None if there is none."""
        try:
            raw = (self.dir / NOTIFY_NAME).read_bytes()[:8]
        except OSError:
            return None
        return int.from_bytes(raw, "little") if len(raw) == 8 else None

    def _notify(self, generation: int) -> None:
        """Rewrite the notice in place (never replaced: a mapping of it stays live). A
        hint only: where it cannot be written (a read-only directory, a damaged file),
        readers fall back on their periodic full read."""
        with contextlib.suppress(OSError):
            fd = os.open(self.dir / NOTIFY_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, (generation & NOTIFY_MASK).to_bytes(8, "little"), 0)
            finally:
                os.close(fd)

    # -- read and write ----------------------------------------------------------------------

    def create(self, data: bytes) -> None:
        """Write the first record (generation 1). Refuses a directory that holds a chip."""
        if self.exists():
            raise ConflictError(f"{self.dir} already holds chip NVM; refusing to overwrite")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_copies(1, data)
        self._burn(1)
        self._notify(1)
        self.generation = 1

    def _write_copies(self, generation: int, data: bytes) -> None:
        if len(data) > MAX_NVM:
            raise OversizedError(f"NVM record of {len(data)} bytes exceeds {MAX_NVM}")
        packed = _pack(MAGIC, generation, data)
        for name in COPY_NAMES:
            self._write_file(self.dir / name, packed)

    def read(self) -> NvmRead:
        """Vote over the copies, check the fuse, repair stale copies; see the module doc."""
        if not self.dir.is_dir():
            raise DataError(f"{self.dir}: no such chip state directory", file=str(self.dir))
        fuse = self.fuse()
        found: dict[str, tuple[int, bytes] | None] = {}
        for name in COPY_NAMES:
            try:
                raw = (self.dir / name).read_bytes()[: MAX_NVM + 1024]
            except FileNotFoundError:
                raw = b""
            found[name] = _unpack(MAGIC, raw)
        valid = [v for v in found.values() if v is not None]
        if not valid:
            raise CorruptStateError(
                f"{self.dir}: every NVM copy is missing or fails its checksum; the chip refuses"
                " to start (its counters are not reset)",
                file=str(self.dir),
            )
        allowed = [v for v in valid if fuse <= v[0] <= fuse + 1]
        if not allowed:
            newest = max(v[0] for v in valid)
            if newest < fuse:
                raise CorruptStateError(
                    f"{self.dir}: NVM generation {newest} is older than the fuse counter {fuse};"
                    " an older NVM copy was restored (rollback). The chip refuses to start;"
                    " restore the newest copies",
                    file=str(self.dir),
                )
            raise CorruptStateError(
                f"{self.dir}: NVM generation {newest} is ahead of the fuse counter {fuse};"
                " the state was forged or the fuse replaced",
                file=str(self.dir),
            )
        best_gen = max(v[0] for v in allowed)
        candidates = [v[1] for v in allowed if v[0] == best_gen]
        data = max(set(candidates), key=candidates.count)
        if len(set(candidates)) > 1:
            raise CorruptStateError(
                f"{self.dir}: two NVM copies of generation {best_gen} disagree", file=str(self.dir)
            )
        repaired = tuple(n for n, v in found.items() if v != (best_gen, data))
        if repaired:
            packed = _pack(MAGIC, best_gen, data)
            for name in repaired:
                self._write_file(self.dir / name, packed)
        if best_gen > fuse:
            self._burn(best_gen)
        if self.notice() != best_gen & NOTIFY_MASK:
            self._notify(best_gen)
        self.generation = best_gen
        return NvmRead(data, best_gen, repaired)

    def write(self, data: bytes) -> int:
        """Persist ``data`` as the next generation; returns it. Call :meth:`read` first."""
        if self.generation is None:
            self.read()
        assert self.generation is not None
        if self.fuse() != self.generation:
            raise CorruptStateError(
                f"{self.dir}: the NVM changed under this chip (another writer?); reopen it",
                file=str(self.dir),
            )
        generation = self.generation + 1
        self._write_copies(generation, data)
        self._burn(generation)
        self._notify(generation)
        self.generation = generation
        return generation
