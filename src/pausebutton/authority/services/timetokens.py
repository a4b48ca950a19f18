"""Time tokens: the authority's time, signed by the time role, with a sequence that
strictly increases across workers and restarts."""

from __future__ import annotations

from dataclasses import dataclass

from pausebutton.authority.counters import next_value
from pausebutton.authority.services.base import Result, Store, b64, parse_hex, retried
from pausebutton.errors import ServiceError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import KEY_ID_SIZE, PrivateKey
from pausebutton.protocol.messages import TimeToken


@dataclass(frozen=True, slots=True)
class IssuedTimeToken(Result):
    time: int
    sequence: int
    chip_id: str | None
    envelope: str
    """Base64 of the signed TimeToken envelope."""


class TimeService:
    """Issues TimeTokens (only when the authority holds the time key)."""

    def __init__(self, store: Store, time_key: PrivateKey | None) -> None:
        self.store = store
        self.time_key = time_key

    @retried
    def time_token(self, chip_id: str | None = None) -> IssuedTimeToken:
        """A TimeToken signed by the time role: the server's time and the next value of
        the ``time_sequence`` counter (strictly increasing across workers and restarts).
        The time is read while the counter row is locked, so a higher sequence never
        carries an earlier time (a chip would refuse it as a rollback)."""
        if self.time_key is None:
            raise ServiceError(
                "this authority serves no time tokens: it was started without the time key"
                " (DIR/keys/time-0.key)",
                field="time_key",
            )
        cid = parse_hex(chip_id, KEY_ID_SIZE, "chip_id") if chip_id is not None else None
        with self.store.write() as conn:
            seq = next_value(conn, "time_sequence")
            now = self.store.now()
        token = TimeToken(time=now, sequence=seq, chip_id=cid)
        env = Envelope.create(token, [self.time_key]).encode()
        return IssuedTimeToken(now, seq, chip_id, b64(env))
