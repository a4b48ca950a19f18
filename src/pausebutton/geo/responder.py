"""The chip's side of a location challenge (pure).

A chip answers a LocationChallenge at once by signing LocationResponse(chip id,
nonce, counter) with its device key (protocol step G3). The firmware exposes
this as ``respond(challenge_bytes) -> response_bytes``; the network client
(client.py) takes any such callable, so the firmware plugs in unchanged.
:class:`SoftChip` is a stand-in holding a bare device key, for landmarks'
self-tests, the netns tests and operators trying a landmark.
"""

from __future__ import annotations

from collections.abc import Callable

from pausebutton.errors import WrongChipError
from pausebutton.protocol.envelope import Envelope, decode_as
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import LocationChallenge, LocationResponse

Respond = Callable[[bytes], bytes]
"""``respond(challenge envelope bytes) -> response envelope bytes``."""


def answer(key: PrivateKey, counter: int, challenge: bytes) -> bytes:
    """Sign the response to ``challenge`` with counter ``counter``."""
    _, ch = decode_as(challenge, LocationChallenge, max_size=8192)
    if ch.chip_id != key.key_id:
        raise WrongChipError("the challenge is for another chip")
    return Envelope.create(LocationResponse(ch.chip_id, ch.nonce, counter), [key]).encode()


class SoftChip:
    """A device key and a response counter: ``respond`` is a drop-in for the firmware's."""

    def __init__(self, key: PrivateKey, counter: int = 0) -> None:
        self.key = key
        self.counter = counter

    @property
    def device_key(self) -> bytes:
        return self.key.public.raw

    def respond(self, challenge: bytes) -> bytes:
        self.counter += 1
        return answer(self.key, self.counter, challenge)
