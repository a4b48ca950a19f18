"""Log checks for permissive inputs (licenses, resumes) that the agent installs.

``proof`` (the default) is the firmware's own check: a Merkle inclusion proof
under a checkpoint with enough witness cosignatures (``pausebutton.translog``).

``online`` is a weaker, explicit opt-in for an authority that does not yet
serve inclusion proofs: the inclusion token ``authority-log:<index>`` names
the entry's index and the agent checks, over HTTP, that the authority's public
log holds exactly this envelope at that index. It stops secret licenses from
an authority that logs honestly, but not a log that shows different views to
different readers (only witnessed checkpoints stop that).
"""

from __future__ import annotations

import base64
from typing import Any

from pausebutton.errors import NotLoggedError, PausebuttonError
from pausebutton.protocol import encoding
from pausebutton.protocol.trustroot import TrustRoot

PREFIX = b"authority-log:"


def token(index: int) -> bytes:
    return PREFIX + str(index).encode()


class OnlineLogCheck:
    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(self, root: TrustRoot, entry: bytes, inclusion: bytes | None) -> None:
        if inclusion is None or not inclusion.startswith(PREFIX):
            raise NotLoggedError("no authority log index came with it")
        raw = inclusion[len(PREFIX) :]
        if not raw.isdigit() or len(raw) > 18:
            raise NotLoggedError("malformed authority log index")
        index = int(raw)
        try:
            answer = self.client.get("/v1/audit/log", start=index, end=index + 1)
        except PausebuttonError as exc:
            raise NotLoggedError(f"the authority log could not be read: {exc.message}") from None
        for item in answer.get("entries", []):
            if item.get("index") != index:
                continue
            try:
                value = encoding.decode(base64.b64decode(item["data"]))
            except (PausebuttonError, ValueError, KeyError):
                raise NotLoggedError(f"log entry {index} is malformed") from None
            if isinstance(value, dict) and value.get("body") == entry:
                return
            raise NotLoggedError(f"log entry {index} holds another object")
        raise NotLoggedError(f"the authority log has no entry {index}")
