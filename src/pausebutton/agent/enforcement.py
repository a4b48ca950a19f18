"""Hard enforcement (opt-in, dry-run by default): what the agent does to a GPU whose chip
may not run at full rate, beyond refusing leases.

- ``power-cap``: set the GPU's power limit to the minimum NVML allows, and
  restore the previous limit when the chip may run again. Needs root (or
  CAP_SYS_ADMIN) and a driver that supports power limits.
- ``suspend``: send SIGSTOP to every process NVML lists on the GPU, and SIGCONT
  when the chip may run again. Needs permission to signal those processes
  (the same user, or root / CAP_KILL).

Without ``dry_run=False`` the enforcer only records the action it would take.
"""

from __future__ import annotations

import enum
import os
import signal
from dataclasses import dataclass, field

from pausebutton.agent.nvml import GpuBackend
from pausebutton.errors import HardwareError, UsageError


class Mode(enum.Enum):
    OFF = "off"
    POWER_CAP = "power-cap"
    SUSPEND = "suspend"


@dataclass
class Action:
    gpu: str
    action: str
    detail: str
    done: bool


@dataclass
class Enforcer:
    backend: GpuBackend
    mode: Mode = Mode.OFF
    dry_run: bool = True
    actions: list[Action] = field(default_factory=list)
    _saved_limit: dict[str, int] = field(default_factory=dict)
    _stopped: dict[str, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.mode, Mode):
            raise UsageError(f"unknown enforcement mode {self.mode!r}")

    def _record(self, gpu: str, action: str, detail: str) -> None:
        self.actions.append(Action(gpu, action, detail, not self.dry_run))

    def restrict(self, gpu: str) -> None:
        """The chip may not run at full rate: cap or suspend (once per episode)."""
        if self.mode is Mode.POWER_CAP and gpu not in self._saved_limit:
            limits = self.backend.power_limits(gpu)
            self._saved_limit[gpu] = limits.current_mw
            self._record(gpu, "power-cap", f"{limits.current_mw} -> {limits.min_mw} mW")
            if not self.dry_run:
                self.backend.set_power_limit(gpu, limits.min_mw)
        elif self.mode is Mode.SUSPEND:
            stopped = self._stopped.setdefault(gpu, set())
            for pid in self.backend.processes(gpu):
                if pid in stopped or pid == os.getpid():
                    continue
                self._record(gpu, "SIGSTOP", f"pid {pid}")
                stopped.add(pid)
                if not self.dry_run:
                    self._signal(pid, signal.SIGSTOP)

    def release(self, gpu: str) -> None:
        """The chip may run again: undo what ``restrict`` did."""
        if gpu in self._saved_limit:
            limit = self._saved_limit.pop(gpu)
            self._record(gpu, "power-restore", f"-> {limit} mW")
            if not self.dry_run:
                self.backend.set_power_limit(gpu, limit)
        for pid in sorted(self._stopped.pop(gpu, set())):
            self._record(gpu, "SIGCONT", f"pid {pid}")
            if not self.dry_run:
                self._signal(pid, signal.SIGCONT)

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            raise HardwareError(
                f"no permission to send {sig.name} to pid {pid} (run the agent as root"
                " or as the job's user)"
            ) from None
