"""A firmware chip as a budget source: reservations drawn from the chip's license.

``ChipLedger`` turns the guard's per-step question ("book what I did, may I run
the next step?") into firmware inputs without an NVM write per step: it meters
a *reservation* of several steps' FLOP into the chip at once (the firmware
draws it from the license and counts it as full-rate work before it runs, so a
crash can only lose budget, never gain it) and then grants steps from the
reservation in memory. The chip's state is checked on every step: a pause in
force refuses the next step even when a reservation is left.

``StateDirChip`` is one chip's firmware over its secure NVM directory
(``pausebutton.chip.nvm.FileNvm``), with a file lock so the guard, the agent
and ``pausebutton chip install`` never write it at once, and a cheap check of
the fuse counter on every step that reloads the record when another process
installed something (a pause order, a license). That check reads the NVM's
notice word (``STATE/notify.bin``, which every NVM write updates in place)
through a read-only shared mapping, so it costs no system call: right after a
training step's compute, even one ``stat`` costs tens of microseconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pausebutton.chip.firmware import ChipRecord, ChipState, Firmware, InclusionVerifier
from pausebutton.chip.nvm import FUSE_NAME, NOTIFY_MASK, NOTIFY_NAME, FileNvm
from pausebutton.errors import (
    CorruptStateError,
    EncodingError,
    LicenseExhaustedError,
    PausedError,
    TamperedError,
    UsageError,
)
from pausebutton.guard.budget import StepGrant
from pausebutton.protocol import encoding

_SPENDABLE = frozenset({ChipState.LICENSED, ChipState.EXHAUSTED})

DEFAULT_RESERVE_STEPS = 16
"""Steps' worth of FLOP metered into the chip at once, at first."""
DEFAULT_RESERVE_SECONDS = 10.0
"""A reservation that lasts less than this makes the next one four times larger (NVM
writes are slow:
three copies and a fuse, each fsynced). A pause loses at most the unused rest of one
reservation: about this many seconds of full-rate work."""
MAX_RESERVE_STEPS = 1 << 16
FULL_CHECK_SECONDS = 0.5
"""The longest a step may be granted from memory before the NVM is read again."""


def encode_record(record: ChipRecord) -> bytes:
    return encoding.encode(record.to_value())


class StateDirChip:
    """One chip's firmware over a state directory holding its secure NVM."""

    LOCK_NAME = ".lock"

    def __init__(
        self, directory: str | os.PathLike[str], *, verifier: InclusionVerifier | None = None
    ) -> None:
        self.dir = Path(directory)
        self.nvm = FileNvm(self.dir)
        self._verifier = verifier
        self._lock_path = self.dir / self.LOCK_NAME
        self._mutex = threading.RLock()
        self._depth = 0
        self._seen: tuple[int, int, int] | None = None
        self._notice_map: mmap.mmap | None = None
        self._notice: memoryview | None = None
        self._notice_ino: int | None = None
        self._seen_generation: int | None = None
        self.firmware = self._load()
        self._saw()

    def _load(self) -> Firmware:
        with self.locked():
            read = self.nvm.read()
        try:
            record = ChipRecord.decode(read.data)
        except EncodingError as exc:
            raise CorruptStateError(
                f"{self.dir}: the NVM record does not decode ({exc.message})", file=str(self.dir)
            ) from None
        if self._verifier is None:
            return Firmware(record)
        return Firmware(record, verifier=self._verifier)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock on the state directory (advisory, across processes)."""
        if not self.dir.is_dir():
            raise CorruptStateError(f"{self.dir}: no chip state directory", file=str(self.dir))
        with self._mutex:
            if self._depth:  # re-entered by this holder (the lock is per instance)
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._depth = 1
                yield
            finally:
                self._depth = 0
                os.close(fd)

    def _fuse_stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.dir / FUSE_NAME)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def unchanged(self) -> bool:
        """True if nobody wrote the NVM since this process last read or wrote it: one
        look at the mapped notice word, or (without one) a ``stat`` of the fuse file,
        which every write replaces by an atomic rename."""
        notice = self._notice
        if notice is not None:
            return notice[0] == self._seen_generation
        return self._seen is not None and self._fuse_stat() == self._seen

    def _map_notice(self) -> None:
        """(Re)map the notice file read-only if it is new or was replaced."""
        path = self.dir / NOTIFY_NAME
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            self._unmap_notice()
            return
        try:
            st = os.fstat(fd)
            if st.st_ino == self._notice_ino and self._notice is not None:
                return
            self._unmap_notice()
            if st.st_size < 8:
                return
            page = mmap.mmap(fd, 8, prot=mmap.PROT_READ)
        except (OSError, ValueError):
            return
        finally:
            os.close(fd)
        self._notice_map, self._notice_ino = page, st.st_ino
        self._notice = memoryview(page).cast("Q")

    def _unmap_notice(self) -> None:
        if self._notice is not None:
            self._notice.release()
        if self._notice_map is not None:
            self._notice_map.close()
        self._notice = self._notice_map = self._notice_ino = None

    def _saw(self) -> None:
        """Remember the generation this process knows (the fuse file's ``stat`` too when
        there is no notice to map)."""
        generation = self.nvm.generation
        self._seen_generation = None if generation is None else generation & NOTIFY_MASK
        self._map_notice()
        self._seen = None if self._notice is not None else self._fuse_stat()

    def refresh(self) -> None:
        """Reload the record if another process wrote the NVM since we last did."""
        if self.nvm.fuse() != self.nvm.generation:
            self.firmware = self._load()
        self._saw()

    def persist(self, record: ChipRecord) -> None:
        """Write ``record`` as the next NVM generation (caller holds the lock)."""
        self.nvm.write(encode_record(record))
        self._saw()


class ChipLedger:
    """Grant guarded steps from a firmware chip's license, reserving FLOP in blocks.

    ``chip`` is a ``StateDirChip`` (or anything with ``firmware``, ``locked()``,
    ``refresh()`` and ``persist(record)``).
    """

    def __init__(
        self,
        chip: StateDirChip,
        *,
        reserve_steps: int = DEFAULT_RESERVE_STEPS,
        reserve_seconds: float = DEFAULT_RESERVE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if reserve_steps < 1:
            raise UsageError("reserve_steps must be at least 1")
        self.chip = chip
        self.reserve_steps = reserve_steps
        self.reserve_seconds = reserve_seconds
        self.clock = clock
        self._last_reserve: float | None = None
        self._full_check = float("-inf")
        self._state_cache: tuple[ChipRecord, ChipState] | None = None
        self.reserved = 0
        """FLOP already metered into the chip (drawn from the license) and not yet used."""
        self.lost = 0
        """Reserved FLOP given up because the chip was paused or the license changed."""
        self._lock = threading.Lock()

    def _state(self) -> ChipState:
        """The chip's state: a pure function of its record, so cached per record."""
        record = self.chip.firmware.record
        cached = self._state_cache
        if cached is None or cached[0] is not record:
            cached = (record, self.chip.firmware.state)
            self._state_cache = cached
        return cached[1]

    def _meter(self, flop: int) -> int:
        """Meter ``flop`` into the chip and persist; returns the full-rate part."""
        fw = self.chip.firmware
        outcome = fw.meter(flop)
        if outcome.nvm_write:
            self.chip.persist(outcome.record)
        fw.commit(outcome)
        assert outcome.run is not None
        return outcome.run.flop_full

    def step(self, settle: int, expect: int) -> StepGrant:
        if settle < 0 or expect < 0:
            raise UsageError("FLOP must not be negative")
        with self._lock:
            # fast path: the step is paid from the reservation and nobody wrote the NVM
            # since we last looked (one stat, no lock, no read): nothing can have changed
            # (a full check still runs every FULL_CHECK_SECONDS, in case a file system's
            # timestamps are too coarse to tell two quick writes apart)
            if (
                self.reserved - settle >= expect > 0
                and self.clock() - self._full_check < FULL_CHECK_SECONDS
                and self.chip.unchanged()
                and self._state() in _SPENDABLE
            ):
                self.reserved -= settle
                return StepGrant(remaining=self.reserved - expect)
        with self._lock, self.chip.locked():
            self._full_check = self.clock()
            self.chip.refresh()
            fw = self.chip.firmware
            if settle > self.reserved:
                # work beyond the reservation (a new shape's first step): book it now;
                # whatever the license no longer covers is counted as throttled work
                self._meter(settle - self.reserved)
                self.reserved = 0
            else:
                self.reserved -= settle
            state = self._state()
            if state is ChipState.TAMPERED:
                raise TamperedError("the chip is tampered; it refuses all work")
            if state is ChipState.PAUSED:
                raise PausedError(
                    "a pause order is in force for this chip", chip=fw.status()["chip_id"]
                )
            if self.reserved >= expect > 0 and state in _SPENDABLE:
                # a reservation was drawn from the license before; it may be spent even
                # when it took the last of the budget (the chip then reads EXHAUSTED).
                # ``remaining`` is then what is left of the reservation (fast path).
                return StepGrant(remaining=self.reserved - expect)
            if state is not ChipState.LICENSED:
                self.lost += self.reserved
                self.reserved = 0
                reason = (
                    "the license's budget is spent"
                    if state is ChipState.EXHAUSTED
                    else "no valid license (expired, not yet valid, or no fresh time token):"
                    " the chip is throttled"
                )
                raise LicenseExhaustedError(reason, state=state.value)
            allowance = fw.full_rate_allowance()
            if allowance + self.reserved < expect:
                raise LicenseExhaustedError(
                    f"{allowance + self.reserved} FLOP left at full rate, the next step"
                    f" needs {expect}",
                    remaining=allowance + self.reserved,
                    needed=expect,
                )
            now = self.clock()
            if (
                self._last_reserve is not None
                and now - self._last_reserve < self.reserve_seconds
                and self.reserve_steps < MAX_RESERVE_STEPS
            ):
                self.reserve_steps = min(self.reserve_steps * 4, MAX_RESERVE_STEPS)
            self._last_reserve = now
            want = min(allowance, expect * self.reserve_steps - self.reserved)
            if want > 0:
                got = self._meter(want)
                self.reserved += got
            return StepGrant(remaining=fw.full_rate_allowance() + self.reserved - expect)

    def close(self, settle: int) -> None:
        with self._lock, self.chip.locked():
            self.chip.refresh()
            if settle > self.reserved:
                self._meter(settle - self.reserved)
                self.reserved = 0
            else:
                self.reserved -= settle
            self.lost += self.reserved
            self.reserved = 0


class ChipBudget(ChipLedger):
    """Standalone use of the guard on one machine: draw from a chip state directory
    (made by ``pausebutton chip new``) without a node agent."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        reserve_steps: int = DEFAULT_RESERVE_STEPS,
        reserve_seconds: float = DEFAULT_RESERVE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            StateDirChip(directory),
            reserve_steps=reserve_steps,
            reserve_seconds=reserve_seconds,
            clock=clock,
        )
        self.artifact_reports: list[dict[str, object]] = []

    REPORTS_NAME = "artifact-reports.jsonl"

    def report_artifact(self, report: dict[str, object]) -> None:
        """No authority connection in standalone use: append the report to
        ``STATE/artifact-reports.jsonl`` for the operator to forward."""
        self.artifact_reports.append(dict(report))
        line = json.dumps(report, sort_keys=True, default=str) + "\n"
        with self.chip.locked(), open(self.chip.dir / self.REPORTS_NAME, "a") as fh:
            fh.write(line)
