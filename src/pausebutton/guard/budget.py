"""Budget sources a guard draws compute from (no torch needed here).

The guard talks to a budget source once per training step, at the step
boundary: ``step(settle, expect)`` first records the FLOP the previous step
really did (``settle``), then asks whether the next step, expected to cost
``expect`` FLOP, may run. One call per step, and a cheap one: the node agent's
lease (``pausebutton.agent.lease``) answers most steps from a credit in memory,
checked against a shared fence page, and a chip state directory
(``pausebutton.agent.ledger``) from a reservation, checked against a mapped
change notice; neither makes a system call on those steps.

A source answers by returning a ``StepGrant`` or by raising:

- ``PausedError``           a pause order is in force;
- ``LicenseExhaustedError`` the license has not enough budget left for the step
                            (or there is no valid license: the chip is throttled);
- ``LeaseError``            the grant cannot be verified (agent gone, lease expired,
                            malformed answer). Fail-safe: the step does not run.

The guard turns the first two into ``Paused`` / ``LicenseExhausted`` (subclasses of
the project's errors) after the user's checkpoint callback.
"""

from __future__ import annotations

import threading
from typing import NamedTuple, Protocol, runtime_checkable

from pausebutton.errors import LicenseExhaustedError, PausedError, UsageError


class Paused(PausedError):
    """Raised by a guard at a step boundary: a pause order is in force for this chip."""


class LicenseExhausted(LicenseExhaustedError):
    """Raised by a guard at a step boundary: the license cannot pay for the next step."""


class StepGrant(NamedTuple):
    """Permission to run one step; ``remaining`` is the budget left after it (if known).

    A named tuple: one is made per training step, and it is the cheapest immutable
    record Python makes."""

    remaining: int | None = None


@runtime_checkable
class BudgetSource(Protocol):
    """Where a guard gets permission to compute and where it books the work done."""

    def step(self, settle: int, expect: int) -> StepGrant:
        """Book ``settle`` FLOP already done, then grant or refuse a step of ``expect`` FLOP."""
        ...

    def report_artifact(self, report: dict[str, object]) -> None:
        """Tell the authority (through the agent) that a prohibited artifact was refused."""
        ...

    def close(self, settle: int) -> None:
        """Book the last step's FLOP and let go of the source."""
        ...


class LocalBudget:
    """An in-process budget: a FLOP allowance and a pause switch.

    For single-process use and tests. It is exactly as trustworthy as the
    process holding it; production guards draw from the agent's lease or a
    chip's state instead.
    """

    def __init__(self, flop_budget: int) -> None:
        if flop_budget < 0:
            raise UsageError("flop_budget must not be negative")
        self._lock = threading.Lock()
        self.budget = flop_budget
        self.used = 0
        self.paused = False
        self.steps_granted = 0
        self.artifact_reports: list[dict[str, object]] = []

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.used)

    def pause(self) -> None:
        with self._lock:
            self.paused = True

    def resume(self) -> None:
        with self._lock:
            self.paused = False

    def add_budget(self, flop: int) -> None:
        with self._lock:
            self.budget += flop

    def step(self, settle: int, expect: int) -> StepGrant:
        with self._lock:
            self.used += settle
            if self.paused:
                raise PausedError("a pause order is in force")
            remaining = self.budget - self.used
            if remaining < max(expect, 1):
                raise LicenseExhaustedError(
                    f"{max(remaining, 0)} FLOP left, the next step needs {expect}",
                    remaining=max(remaining, 0),
                    needed=expect,
                )
            self.steps_granted += 1
            return StepGrant(remaining=remaining - expect)

    def report_artifact(self, report: dict[str, object]) -> None:
        with self._lock:
            self.artifact_reports.append(dict(report))

    def close(self, settle: int) -> None:
        with self._lock:
            self.used += settle
