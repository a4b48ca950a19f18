"""The firmware's tables: its states, the facts they derive from, its inputs, and which
state each input may lead to (docs/firmware.md section 1; ADR 0003).

Pure data: the state machine (:mod:`pausebutton.chip.firmware`) derives a chip's state
with :data:`STATE_TABLE` and checks every step against :data:`TRANSITIONS`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ChipState(enum.Enum):
    THROTTLED = "throttled"
    """No valid license: baseline rate only."""
    LICENSED = "licensed"
    """A valid license with budget left: full rate up to the budget."""
    EXHAUSTED = "exhausted"
    """The license's budget is spent: baseline rate until a new license."""
    PAUSED = "paused"
    """A pause order is in force: baseline rate whatever the license."""
    TAMPERED = "tampered"
    """A tamper signal: keys zeroised, every input refused. Absorbing."""


class LicenseCondition(enum.Enum):
    NONE = "none"
    """No license, or it expired, or no fresh time token within its max offline period."""
    VALID = "valid"
    SPENT = "spent"


class Event(enum.Enum):
    """The inputs of the machine (one per kind of input)."""

    LICENSE = "license"
    PAUSE = "pause"
    RESUME = "resume"
    TIME = "time"
    ROOT = "root"
    METER = "meter"
    REPORT = "report"
    CHALLENGE = "challenge"
    TAMPER = "tamper"
    BOOT = "boot"


STATE_TABLE: Mapping[tuple[bool, LicenseCondition], ChipState] = {
    # (pause in force, license condition) -> state; tampered overrides all.
    (True, LicenseCondition.NONE): ChipState.PAUSED,
    (True, LicenseCondition.VALID): ChipState.PAUSED,
    (True, LicenseCondition.SPENT): ChipState.PAUSED,
    (False, LicenseCondition.NONE): ChipState.THROTTLED,
    (False, LicenseCondition.VALID): ChipState.LICENSED,
    (False, LicenseCondition.SPENT): ChipState.EXHAUSTED,
}
"""The decision table: which state a chip is in, from its facts at its trusted time."""

_S = ChipState
_ALL_LIVE = frozenset({_S.THROTTLED, _S.LICENSED, _S.EXHAUSTED, _S.PAUSED})
TIMED: Mapping[ChipState, frozenset[ChipState]] = {
    # where time passing alone can take a state: a license expiring or going stale, a
    # pending pause taking effect, a resume's effective time arriving
    _S.THROTTLED: frozenset({_S.THROTTLED, _S.PAUSED}),
    _S.LICENSED: frozenset({_S.LICENSED, _S.THROTTLED, _S.PAUSED}),
    _S.EXHAUSTED: frozenset({_S.EXHAUSTED, _S.THROTTLED, _S.PAUSED}),
    _S.PAUSED: _ALL_LIVE,
}
"""States reachable by trusted time moving forward (cycles, time tokens, signed order times)."""

TRANSITIONS: Mapping[tuple[ChipState, Event], frozenset[ChipState]] = {
    **{(s, Event.LICENSE): frozenset({_S.LICENSED, _S.PAUSED}) for s in _ALL_LIVE - {_S.PAUSED}},
    (_S.PAUSED, Event.LICENSE): frozenset({_S.PAUSED}),
    **{(s, Event.PAUSE): TIMED[s] | {_S.PAUSED} for s in _ALL_LIVE},
    **{(s, Event.RESUME): TIMED[s] for s in _ALL_LIVE},
    # a fresh token also revives a license that had gone stale (dead man's switch)
    **{(s, Event.TIME): TIMED[s] for s in _ALL_LIVE - {_S.THROTTLED}},
    (_S.THROTTLED, Event.TIME): _ALL_LIVE,
    **{(s, Event.METER): TIMED[s] for s in _ALL_LIVE - {_S.LICENSED}},
    (_S.LICENSED, Event.METER): TIMED[_S.LICENSED] | {_S.EXHAUSTED},
    # root updates, reports, challenges and boots never change the state
    **{(s, e): frozenset({s}) for s in _ALL_LIVE for e in (Event.ROOT, Event.REPORT)},
    **{(s, e): frozenset({s}) for s in _ALL_LIVE for e in (Event.CHALLENGE, Event.BOOT)},
    # a tamper signal from anywhere; TAMPERED is absorbing and refuses every other input
    **{(s, Event.TAMPER): frozenset({_S.TAMPERED}) for s in ChipState},
}
"""The transition table: for each (state, input), the states the input may lead to.

An input not listed for a state is refused. The firmware checks every step
against this table (a violation is a firmware bug, raised as CorruptStateError)."""
