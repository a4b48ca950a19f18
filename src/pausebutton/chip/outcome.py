"""What the firmware returns for one input: the :class:`Decision`, the new record and
what the edge must do with it (:class:`Outcome`), and for metered work how it was split
(:class:`RunResult`)."""

from __future__ import annotations

from dataclasses import dataclass

from pausebutton.chip.record import ChipRecord
from pausebutton.chip.tables import ChipState, Event


@dataclass(frozen=True)
class RunResult:
    """How a metered amount of work was split between full and baseline rate."""

    flop_full: int
    flop_throttled: int
    cycles: int
    energy_mj: int


@dataclass(frozen=True)
class Decision:
    """What the firmware decided about one input."""

    event: Event
    accepted: bool
    state_before: ChipState
    state_after: ChipState
    detail: str


@dataclass(frozen=True)
class Outcome:
    """The result of one input: persist ``record`` if ``nvm_write``, then act."""

    decision: Decision
    record: ChipRecord
    nvm_write: bool
    message: bytes | None = None
    """A signed envelope the chip produced (usage report, location response)."""
    run: RunResult | None = None
    next_counter: int | None = None
    """RAM: the next location-response counter after this input."""
