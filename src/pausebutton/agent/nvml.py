"""GPU discovery and read-outs behind one interface, with a real and a fake backend.

``NvmlBackend`` talks to the NVIDIA driver through nvidia-ml-py (``pynvml``);
``FakeBackend`` is deterministic and driven by the caller (tests, machines
without GPUs). Which one runs is always an explicit choice (``open_backend``
with ``fake_gpus``): a machine whose NVML is missing gets a ``HardwareError``,
never a silent fall-back to fake GPUs.

Units follow NVML: power in milliwatts, energy in millijoules (a counter
since the driver was loaded), power limits in milliwatts.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pausebutton.errors import HardwareError, UsageError
from pausebutton.fsutil import atomic_write, read_limited


@dataclass(frozen=True)
class GpuInfo:
    """What identifies one GPU: NVML index, UUID, board serial and product name."""

    index: int
    uuid: str
    serial: str
    name: str


@dataclass(frozen=True)
class PowerLimits:
    """Power-management limits in milliwatts: the current one and the allowed range."""

    current_mw: int
    min_mw: int
    max_mw: int


@runtime_checkable
class GpuBackend(Protocol):
    """Everything the agent reads from (or, for hard enforcement, writes to) a GPU."""

    kind: str

    def gpus(self) -> list[GpuInfo]: ...

    def power_mw(self, uuid: str) -> int: ...

    def energy_mj(self, uuid: str) -> int: ...

    def processes(self, uuid: str) -> list[int]: ...

    def power_limits(self, uuid: str) -> PowerLimits: ...

    def set_power_limit(self, uuid: str, milliwatts: int) -> None: ...

    def close(self) -> None: ...


# -- real backend ----------------------------------------------------------------------


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlBackend:
    """The real GPUs of this machine, read through NVML.

    Raises ``HardwareError`` if the NVML library or the driver is missing, if
    no GPU is present, or if a read fails.
    """

    kind = "nvml"

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError:  # pragma: no cover - nvidia-ml-py is a dependency of the gpu extra
            raise HardwareError(
                "nvidia-ml-py is not installed (pip install 'pausebutton[gpu]')"
            ) from None
        self._nvml: Any = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise HardwareError(f"NVML is not usable on this machine: {exc}") from None
        self._lock = threading.Lock()
        self._handles: dict[str, Any] = {}
        self._infos: list[GpuInfo] = []
        try:
            count = pynvml.nvmlDeviceGetCount()
            for index in range(count):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                uuid = _text(pynvml.nvmlDeviceGetUUID(handle))
                try:
                    serial = _text(pynvml.nvmlDeviceGetSerial(handle))
                except pynvml.NVMLError:
                    serial = ""
                name = _text(pynvml.nvmlDeviceGetName(handle))
                self._handles[uuid] = handle
                self._infos.append(GpuInfo(index=index, uuid=uuid, serial=serial, name=name))
        except pynvml.NVMLError as exc:
            self.close()
            raise HardwareError(f"NVML could not list the GPUs: {exc}") from None
        if not self._infos:
            self.close()
            raise HardwareError("NVML found no GPU on this machine")

    def _handle(self, uuid: str) -> Any:
        try:
            return self._handles[uuid]
        except KeyError:
            raise HardwareError(f"no GPU with UUID {uuid}", uuid=uuid) from None

    def _call(self, what: str, uuid: str, fn: Any, *args: Any) -> Any:
        handle = self._handle(uuid)
        with self._lock:
            try:
                return fn(handle, *args)
            except self._nvml.NVMLError as exc:
                raise HardwareError(f"NVML {what} failed on {uuid}: {exc}", uuid=uuid) from None

    def gpus(self) -> list[GpuInfo]:
        return list(self._infos)

    def power_mw(self, uuid: str) -> int:
        return int(self._call("power read", uuid, self._nvml.nvmlDeviceGetPowerUsage))

    def energy_mj(self, uuid: str) -> int:
        fn = self._nvml.nvmlDeviceGetTotalEnergyConsumption
        return int(self._call("energy read", uuid, fn))

    def processes(self, uuid: str) -> list[int]:
        procs = self._call("process list", uuid, self._nvml.nvmlDeviceGetComputeRunningProcesses)
        return sorted({int(p.pid) for p in procs})

    def power_limits(self, uuid: str) -> PowerLimits:
        lo, hi = self._call(
            "power limit read", uuid, self._nvml.nvmlDeviceGetPowerManagementLimitConstraints
        )
        cur = self._call("power limit read", uuid, self._nvml.nvmlDeviceGetPowerManagementLimit)
        return PowerLimits(current_mw=int(cur), min_mw=int(lo), max_mw=int(hi))

    def set_power_limit(self, uuid: str, milliwatts: int) -> None:
        """Needs root (or CAP_SYS_ADMIN); used only by the opt-in power-cap enforcer."""
        self._call(
            "power limit write", uuid, self._nvml.nvmlDeviceSetPowerManagementLimit, milliwatts
        )

    def close(self) -> None:
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()


# -- fake backend -------------------------------------------------------------------------


@dataclass
class FakeGpu:
    info: GpuInfo
    power_mw: int = 100_000
    energy_mj: int = 0
    limits: PowerLimits = field(
        default_factory=lambda: PowerLimits(current_mw=700_000, min_mw=200_000, max_mw=700_000)
    )
    pids: list[int] = field(default_factory=list)
    broken: bool = False


class FakeBackend:
    """``count`` deterministic fake GPUs (H100-like ids derived from ``seed``).

    Nothing moves on its own: tests drive it with ``advance`` (energy at the
    current power for some seconds), ``set_power``, ``attach`` (a pid on a GPU)
    and ``break_gpu`` (reads then raise ``HardwareError``, like a fallen-off GPU).
    """

    kind = "fake"

    def __init__(self, count: int, *, seed: str = "pausebutton-fake") -> None:
        if count < 1:
            raise UsageError("--fake-gpus needs at least one GPU")
        self._lock = threading.Lock()
        self._gpus: dict[str, FakeGpu] = {}
        for index in range(count):
            digest = hashlib.sha256(f"{seed}/{index}".encode()).hexdigest()
            uuid = (
                f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            )
            serial = str(int(digest[32:44], 16) % 10**13).zfill(13)
            info = GpuInfo(index=index, uuid=uuid, serial=serial, name="Fake NVIDIA H100 80GB HBM3")
            self._gpus[uuid] = FakeGpu(info=info)

    def _gpu(self, uuid: str) -> FakeGpu:
        gpu = self._gpus.get(uuid)
        if gpu is None:
            raise HardwareError(f"no GPU with UUID {uuid}", uuid=uuid)
        if gpu.broken:
            raise HardwareError(f"GPU {uuid} does not answer (fake fault)", uuid=uuid)
        return gpu

    # the interface
    def gpus(self) -> list[GpuInfo]:
        return [g.info for g in self._gpus.values()]

    def power_mw(self, uuid: str) -> int:
        with self._lock:
            return self._gpu(uuid).power_mw

    def energy_mj(self, uuid: str) -> int:
        with self._lock:
            return self._gpu(uuid).energy_mj

    def processes(self, uuid: str) -> list[int]:
        with self._lock:
            return sorted(set(self._gpu(uuid).pids))

    def power_limits(self, uuid: str) -> PowerLimits:
        with self._lock:
            return self._gpu(uuid).limits

    def set_power_limit(self, uuid: str, milliwatts: int) -> None:
        with self._lock:
            gpu = self._gpu(uuid)
            if not gpu.limits.min_mw <= milliwatts <= gpu.limits.max_mw:
                raise HardwareError(f"power limit {milliwatts} mW is outside the allowed range")
            gpu.limits = PowerLimits(milliwatts, gpu.limits.min_mw, gpu.limits.max_mw)

    def close(self) -> None:
        return None

    # test controls
    def advance(self, seconds: float, uuid: str | None = None) -> None:
        """Add ``power * seconds`` of energy to one GPU (or all)."""
        with self._lock:
            for gpu in self._gpus.values():
                if uuid is None or gpu.info.uuid == uuid:
                    power = min(gpu.power_mw, gpu.limits.current_mw)
                    gpu.energy_mj += round(power * seconds)

    def set_power(self, uuid: str, milliwatts: int) -> None:
        with self._lock:
            self._gpus[uuid].power_mw = milliwatts

    def attach(self, uuid: str, pid: int) -> None:
        with self._lock:
            self._gpus[uuid].pids.append(pid)

    def break_gpu(self, uuid: str, broken: bool = True) -> None:
        with self._lock:
            self._gpus[uuid].broken = broken


FAKE_SEED_FILE = "fake-gpus.seed"
"""In an agent's state directory: the seed its fake GPUs' UUIDs and serials derive from."""
LEGACY_FAKE_SEED = "pausebutton-fake"
"""The one seed every agent's fake GPUs had before ``FAKE_SEED_FILE``: a state enrolled
with it (``agent.json`` without a seed file) keeps it, so its bound GPUs are still there."""


def fake_seed(state: Path, *, create: bool) -> str:
    """The seed of the fake GPUs of the agent whose state directory is ``state``: random
    per agent (two agents never show the registry the same GPU UUIDs or serials), kept in
    ``STATE/fake-gpus.seed`` (the same agent sees the same GPUs on every run, wherever its
    directory moves). ``create``: write a new seed when there is none (an agent about to
    enroll); otherwise a state without one gets a throwaway seed (it binds no GPU)."""
    path = state / FAKE_SEED_FILE
    if path.exists():
        seed = read_limited(path, 256).decode("ascii", errors="replace").strip()
        if not seed:
            raise UsageError(f"{path} is empty; remove it or the whole state directory")
        return seed
    if (state / "agent.json").exists():
        return LEGACY_FAKE_SEED
    seed = f"pausebutton-fake/{secrets.token_hex(16)}"
    if create:
        state.mkdir(parents=True, exist_ok=True)
        atomic_write(path, (seed + "\n").encode())
    return seed


def open_backend(fake_gpus: int | None, *, seed: str = LEGACY_FAKE_SEED) -> GpuBackend:
    """The backend the operator asked for: ``fake_gpus`` fake GPUs (derived from ``seed``:
    see ``fake_seed``), or the real NVML.

    There is no automatic fall-back: without ``fake_gpus`` a machine lacking
    NVML or GPUs gets ``HardwareError``.
    """
    if fake_gpus is not None:
        return FakeBackend(fake_gpus, seed=seed)
    return NvmlBackend()
