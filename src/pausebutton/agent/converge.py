"""Convergence: what a chip's refusal of an order or licence means for the node agent,
and when to ask again (pure: no clock, no I/O; the caller passes times and randomness).

The agent's job is to make every chip hold the authority's current order and licence
state. A refusal is one of:

- ``HELD``: the chip already holds it (a replay after a restart; an older order whose
  effect the chip shows) — settled, nothing to report;
- ``NOT_APPLICABLE``: an order whose scope does not cover this chip — settled;
- ``WAIT_LOG``: no witnessed log proof yet (not logged, too few witness cosignatures,
  a proof the log cannot give yet) — heals when the witnesses cosign a checkpoint;
- ``WAIT_TIME``: the chip's trusted time is behind (``not_yet_valid``, no fresh time
  token) — heals with a fresh time token, or as time passes;
- ``TRANSIENT``: the authority or the network failed — heals when it answers again;
- ``PERMANENT``: bad signature, wrong chip, replay, rollback, a quorum too small, an
  expired licence... — stops, and is reported.

Healable refusals are fetched again with jittered exponential backoff
(``backoff_delay``) until they install, and at once when a new checkpoint is announced
(``WAIT_LOG``) or a new time token was installed (``WAIT_TIME``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pausebutton import errors

BACKOFF_BASE = 0.2
"""Seconds before the first retry of a healable refusal."""
BACKOFF_CAP = 30.0
"""The longest wait between two retries."""

LOG_STAGE = "log"
"""``details["stage"]`` of an error raised by the log inclusion check (the agent tags it):
a ``below_threshold`` there is missing witness cosignatures, not a missing quorum."""


class Disposition(enum.Enum):
    HELD = "held"
    NOT_APPLICABLE = "not_applicable"
    WAIT_LOG = "waiting_for_log"
    WAIT_TIME = "waiting_for_time"
    TRANSIENT = "transient"
    PERMANENT = "refused"

    @property
    def healable(self) -> bool:
        return self in _HEALABLE

    @property
    def settled(self) -> bool:
        """Nothing more to do for this chip (installed, held, not for it, or refused)."""
        return self not in _HEALABLE


_HEALABLE = frozenset({Disposition.WAIT_LOG, Disposition.WAIT_TIME, Disposition.TRANSIENT})


def classify(exc: errors.PausebuttonError, *, order: bool) -> Disposition:
    """What a chip's refusal ``exc`` of an order (``order=True``) or licence means.

    The one place that says which errors of the hierarchy heal by themselves."""
    if isinstance(exc, errors.ReplayError):
        return Disposition.HELD
    if exc.details.get("stage") == LOG_STAGE or isinstance(exc, errors.NotLoggedError):
        return Disposition.WAIT_LOG
    if isinstance(exc, errors.NotYetValidError):
        return Disposition.WAIT_TIME
    if isinstance(exc, errors.ExpiredError) and exc.details.get("cause") == "offline":
        return Disposition.WAIT_TIME
    if isinstance(exc, (errors.ServiceError, errors.RateLimitError, errors.HardwareError)):
        return Disposition.TRANSIENT
    if order and isinstance(exc, errors.ScopeError):
        return Disposition.NOT_APPLICABLE
    return Disposition.PERMANENT


def backoff_delay(
    attempt: int, rand: float, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 = the first retry): ``base``
    doubling per attempt up to ``cap``, with "equal jitter" (half fixed, half drawn from
    ``rand`` in [0, 1)) so that many agents refused at once do not retry in step."""
    if attempt < 0 or not 0.0 <= rand <= 1.0:
        raise errors.UsageError("attempt must be >= 0 and rand in [0, 1]")
    ceiling = min(cap, base * 2.0 ** min(attempt, 64))
    return ceiling / 2 + ceiling / 2 * rand


@dataclass
class Pending:
    """One order or licence that some chips still wait for, with its retry schedule."""

    kind: str
    """``order`` or ``licence``."""
    ident: int
    """The order's sequence or the licence's id."""
    row: dict[str, Any]
    """The authority's row (envelope, log index or inclusion bundle)."""
    since: float
    chips: dict[str, tuple[Disposition, str]] = field(default_factory=dict)
    """GPU UUID -> why it waits (the disposition and the refusal's message)."""
    attempts: int = 0
    due: float = 0.0

    def summary(self, now: float) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.ident,
            "waiting_for": sorted({d.value for d, _ in list(self.chips.values())}),
            "reasons": {u: m for u, (_, m) in sorted(list(self.chips.items()))},
            "attempts": self.attempts,
            "waiting_s": round(now - self.since, 3),
            "next_retry_s": round(max(0.0, self.due - now), 3),
        }


@dataclass
class Tracker:
    """The healable refusals the agent retries, and the permanent ones it reported.

    Times are the caller's monotonic clock; ``rand`` draws jitter in [0, 1)."""

    rand: Callable[[], float]
    pending: dict[tuple[str, int], Pending] = field(default_factory=dict)
    refused: list[dict[str, Any]] = field(default_factory=list)
    """Permanent refusals (newest last, at most ``MAX_REFUSED``)."""

    MAX_REFUSED: ClassVar[int] = 200

    def wait(
        self,
        kind: str,
        ident: int,
        row: dict[str, Any],
        uuid: str,
        disposition: Disposition,
        message: str,
        now: float,
    ) -> None:
        item = self.pending.get((kind, ident))
        if item is None:
            item = self.pending[(kind, ident)] = Pending(kind, ident, row, now)
            item.due = now + backoff_delay(0, self.rand())
        item.chips[uuid] = (disposition, message)

    def settle(self, kind: str, ident: int, uuid: str) -> None:
        item = self.pending.get((kind, ident))
        if item is None:
            return
        item.chips.pop(uuid, None)
        if not item.chips:
            del self.pending[(kind, ident)]

    def refuse(self, kind: str, ident: int, uuid: str, exc: errors.PausebuttonError) -> None:
        self.settle(kind, ident, uuid)
        self.refused.append(
            {"kind": kind, "id": ident, "gpu": uuid, "error": exc.code, "message": exc.message}
        )
        del self.refused[: -self.MAX_REFUSED]

    def retried(self, item: Pending, now: float) -> None:
        """After a retry of ``item`` that left some chips waiting: the next, later retry."""
        item.due = now + backoff_delay(item.attempts + 1, self.rand())
        item.attempts += 1

    def items(self) -> list[Pending]:
        """The waiting items (a copy: the agent's order watcher and its main loop both
        read and change the tracker)."""
        return list(self.pending.values())

    def due(self, kind: str, now: float) -> list[Pending]:
        return sorted(
            (p for p in self.items() if p.kind == kind and p.due <= now),
            key=lambda p: p.ident,
        )

    def waiting_for(self, disposition: Disposition) -> bool:
        return any(d is disposition for p in self.items() for d, _ in list(p.chips.values()))

    def poke(self, disposition: Disposition, now: float) -> int:
        """What waits for ``disposition`` is due now (a new checkpoint, a new time token)."""
        count = 0
        for item in self.items():
            if any(d is disposition for d, _ in list(item.chips.values())):
                item.due = min(item.due, now)
                count += 1
        return count

    def poke_all(self, now: float) -> None:
        """Everything waiting is due now (a full round of the agent tries it all)."""
        for item in self.items():
            item.due = min(item.due, now)

    def next_due(self) -> float | None:
        return min((p.due for p in self.items()), default=None)

    def lowest(self, kind: str) -> int | None:
        return min((p.ident for p in self.items() if p.kind == kind), default=None)

    def for_gpu(self, uuid: str, now: float) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.items(), key=lambda p: (p.kind, p.ident)):
            why = p.chips.get(uuid)
            if why is not None:
                out.append(p.summary(now) | {"reason": why[1], "waiting_for": why[0].value})
        return out


def throttle_reason(status: dict[str, Any]) -> str | None:
    """Why a chip may not run at full rate, from its firmware ``status()`` (None if it may)."""
    state = status.get("state")
    if state == "licensed":
        return None
    if state == "tampered":
        return f"tampered: {status.get('tamper_reason')}"
    now = int(status.get("trusted_time", 0))
    if state == "paused":
        held = [
            p["sequence"]
            for p in status.get("pauses", [])
            if p["effective_at"] <= now and (p["lifted_at"] is None or now < p["lifted_at"])
        ]
        return f"paused by order(s) {', '.join(map(str, held)) or '?'}"
    if state == "exhausted":
        return "the licence's FLOP budget is spent"
    lic = status.get("license")
    if lic is None:
        return "no licence installed"
    if now < lic["not_before"]:
        return f"licence {lic['license_id']} not yet valid (chip time {now} < {lic['not_before']})"
    if now >= lic["not_after"]:
        return f"licence {lic['license_id']} expired at {lic['not_after']}"
    if now >= lic["offline_deadline"]:
        return "no time token within the licence's max offline period"
    return f"throttled ({state})"
