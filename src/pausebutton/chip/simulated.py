"""A simulated chip on a state directory: the firmware over file-backed secure NVM.

Used by the chip CLI, the demo and the simulator. Layout of ``STATE``::

    STATE/nvm-0.bin .. nvm-2.bin, STATE/fuse.bin   secure NVM (chip.nvm)
    STATE/chip.json                                public facts (chip id, serial, model)
    STATE/.lock                                    one process at a time (flock)

The device key is generated inside the chip at manufacture and sealed in NVM;
it never leaves except zeroised. Every decision is persisted (NVM write, fuse
burn) *before* the chip acts on it, so a crash never grants work twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from pausebutton.chip.firmware import (
    DEFAULT_PEAK_FLOPS,
    FIRMWARE_VERSION,
    ChipRecord,
    Decision,
    Firmware,
    InclusionVerifier,
    Outcome,
    RunResult,
    provision,
    translog_verifier,
)
from pausebutton.chip.install import InstallFile
from pausebutton.chip.nvm import FileNvm, WriteHook
from pausebutton.errors import ConflictError, CorruptStateError, DataError, EncodingError
from pausebutton.fsutil import atomic_write
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import NONCE_SIZE, DeviceCertificate

INFO_FILE = "chip.json"
LOCK_FILE = ".lock"


def make_certificate(
    device: PrivateKey,
    vendor_key: PrivateKey,
    *,
    vendor: str,
    model: str,
    serial: str,
    issued_at: int,
    peak_flops: int = DEFAULT_PEAK_FLOPS,
    hardware_uuid: str | None = None,
    firmware_floor: int = 0,
) -> bytes:
    """A vendor-signed DeviceCertificate envelope for ``device``."""
    cert = DeviceCertificate(
        serial=serial,
        model=model,
        device_key=device.public.raw,
        vendor=vendor,
        firmware_floor=firmware_floor,
        issued_at=issued_at,
        hardware_uuid=hardware_uuid,
        peak_flops=peak_flops,
    )
    return Envelope.create(cert, [vendor_key]).encode()


class SimulatedChip:
    """One chip: its firmware, its NVM and a process lock. Use as a context manager."""

    def __init__(self, directory: Path, nvm: FileNvm, firmware: Firmware, lock_fd: int) -> None:
        self.dir = directory
        self.nvm = nvm
        self.firmware = firmware
        self._lock_fd: int | None = lock_fd

    # -- lifecycle -------------------------------------------------------------------------

    @staticmethod
    def _lock(directory: Path) -> int:
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        *,
        root: bytes,
        vendor_key: PrivateKey,
        vendor: str,
        issued_at: int,
        model: str = "H100-SXM5",
        serial: str = "SN-0",
        peak_flops: int = DEFAULT_PEAK_FLOPS,
        region: str | None = None,
        owner: str | None = None,
        hardware_uuid: str | None = None,
        firmware_version: int = FIRMWARE_VERSION,
        verifier: InclusionVerifier = translog_verifier,
        device_key: PrivateKey | None = None,
    ) -> SimulatedChip:
        """Manufacture a chip: generate its device key, certify it, write its first NVM."""
        base = Path(directory)
        nvm = FileNvm(base)
        if nvm.exists():
            raise ConflictError(
                f"{base} already holds a chip; refusing to overwrite it (give a new directory)"
            )
        device = device_key or PrivateKey.generate()
        cert = make_certificate(
            device,
            vendor_key,
            vendor=vendor,
            model=model,
            serial=serial,
            issued_at=issued_at,
            peak_flops=peak_flops,
            hardware_uuid=hardware_uuid,
        )
        record = provision(
            device_key=device,
            certificate=cert,
            root=root,
            region=region,
            owner=owner,
            firmware_version=firmware_version,
        )
        # only a chip that provisioned gets a directory: bad input leaves nothing behind
        base.mkdir(parents=True, exist_ok=True)
        fd = cls._lock(base)
        nvm.create(record.encode())
        info = {
            "chip_id": record.chip_id.hex(),
            "serial": serial,
            "model": model,
            "vendor": vendor,
            "region": region,
            "owner": owner,
        }
        atomic_write(base / INFO_FILE, (json.dumps(info, indent=2) + "\n").encode())
        return cls(base, nvm, Firmware(record, verifier=verifier), fd)

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        verifier: InclusionVerifier = translog_verifier,
        write_hook: WriteHook | None = None,
    ) -> SimulatedChip:
        """Load a chip from its state directory (CorruptStateError on damage or rollback)."""
        base = Path(directory)
        if not base.is_dir():
            raise DataError(f"{base}: no such chip state directory", file=str(base))
        fd = cls._lock(base)
        try:
            nvm = FileNvm(base, write_hook=write_hook)
            read = nvm.read()
            try:
                record = ChipRecord.decode(read.data)
            except EncodingError as exc:
                raise CorruptStateError(
                    f"{base}: the NVM record does not parse ({exc.message})", file=str(base)
                ) from None
        except BaseException:
            os.close(fd)
            raise
        return cls(base, nvm, Firmware(record, verifier=verifier), fd)

    def close(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> SimulatedChip:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the edge: persist, then act ---------------------------------------------------------

    def _apply(self, outcome: Outcome) -> Outcome:
        if outcome.nvm_write:
            self.nvm.write(outcome.record.encode())
        self.firmware.commit(outcome)
        return outcome

    @property
    def chip_id(self) -> bytes:
        return self.firmware.record.chip_id

    @property
    def certificate(self) -> bytes:
        return self.firmware.record.certificate

    def install(self, data: bytes) -> Decision:
        """Install an install file (bare envelope or install bundle)."""
        item = InstallFile.decode(data)
        return self._apply(self.firmware.install(item.envelope, item.inclusion)).decision

    def install_envelope(self, envelope: bytes, inclusion: bytes | None = None) -> Decision:
        return self._apply(self.firmware.install(envelope, inclusion)).decision

    def run(
        self, flop: int, *, cycles: int | None = None, energy_mj: int | None = None
    ) -> RunResult:
        """Meter ``flop`` of work; the budget is drawn down in NVM before it counts as run."""
        outcome = self._apply(self.firmware.meter(flop, cycles=cycles, energy_mj=energy_mj))
        assert outcome.run is not None
        return outcome.run

    def report(self) -> bytes:
        outcome = self._apply(self.firmware.report())
        assert outcome.message is not None
        return outcome.message

    def boot(self) -> None:
        self._apply(self.firmware.boot())

    def respond(self, challenge: bytes) -> bytes:
        """Answer a location challenge: a LocationChallenge envelope or a raw 32-byte nonce."""
        if len(challenge) == NONCE_SIZE:
            outcome = self.firmware.respond(challenge)
        else:
            outcome = self.firmware.respond_to_challenge(challenge)
        self._apply(outcome)
        assert outcome.message is not None
        return outcome.message

    def tamper(self, reason: str = "tamper signal") -> Decision:
        return self._apply(self.firmware.tamper(reason)).decision

    def status(self) -> dict[str, Any]:
        out = self.firmware.status()
        out["nvm_generation"] = self.nvm.generation
        return out
