"""Log checks for permissive inputs (licenses, resumes) that the agent installs.

``proof`` (the default, ``BundleLogCheck``): the agent fetches the entry's
inclusion bundle from the authority's log (``/v1/log/bundle?index=N``) and
checks it locally with the transparency log's policy under the chip's pinned
trust root: a Merkle inclusion proof to a checkpoint signed by the log key and
cosigned by the witness threshold, for a log entry that is exactly the
envelope installed (the authority logs signed objects as their envelope bytes;
an older record form ``{"kind", "body", "at"}`` is accepted when its ``body`` is).
The authority is only the transport: nothing it says is trusted unverified.

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


class BundleLogCheck:
    """Merkle inclusion proof + cosigned checkpoint, fetched by index, verified locally."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._round: dict[int, bytes] | None = None
        self.fetches = 0

    def new_round(self) -> None:
        """Forget the bundles fetched: the agent calls this before it offers one object
        to its chips, so all of them share one fetch and a retry gets a fresh bundle.
        Until the first call every check fetches its own."""
        self._round = {}

    def fetch(self, index: int) -> bytes:
        if self._round is None:
            return self._fetch(index)
        held = self._round.get(index)
        if held is None:
            held = self._round[index] = self._fetch(index)
        return held

    def _fetch(self, index: int) -> bytes:
        import httpx

        self.fetches += 1

        url = f"{self.client.base_url}/v1/log/bundle"
        try:
            resp = self.client.http.get(url, params={"index": index}, timeout=30)
        except httpx.HTTPError as exc:
            raise NotLoggedError(f"the log's bundle could not be fetched: {exc}") from None
        if resp.status_code != 200:
            raise NotLoggedError(f"the log has no bundle for entry {index} ({resp.status_code})")
        return bytes(resp.content)

    def __call__(self, root: TrustRoot, entry: bytes, inclusion: bytes | None) -> None:
        from pausebutton.translog.bundle import InclusionBundle
        from pausebutton.translog.policy import LogPolicy

        if inclusion is not None and inclusion.startswith(PREFIX):
            data = self.fetch(_index(inclusion))
        elif inclusion is not None:
            data = inclusion  # a bundle that came with the object
        else:
            raise NotLoggedError("no log inclusion came with it")
        bundle = InclusionBundle.decode(data)
        if bundle.entry != entry and _wrapped_body(bundle.entry) != entry:
            raise NotLoggedError("the inclusion bundle is for another entry")
        LogPolicy.from_trust_root(root).verify_entry(bundle.entry, bundle)


def _wrapped_body(data: bytes) -> bytes | None:
    """The envelope inside an older authority record ``{"kind", "body", "at"}``, if any."""
    try:
        value = encoding.decode(data)
    except PausebuttonError:
        return None
    body = value.get("body") if isinstance(value, dict) else None
    return body if isinstance(body, bytes) else None


def _index(inclusion: bytes) -> int:
    raw = inclusion[len(PREFIX) :]
    if not raw.isdigit() or len(raw) > 18:
        raise NotLoggedError("malformed authority log index")
    return int(raw)


class OnlineLogCheck:
    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(self, root: TrustRoot, entry: bytes, inclusion: bytes | None) -> None:
        if inclusion is None or not inclusion.startswith(PREFIX):
            raise NotLoggedError("no authority log index came with it")
        index = _index(inclusion)
        try:
            answer = self.client.get("/v1/audit/log", start=index, end=index + 1)
        except PausebuttonError as exc:
            raise NotLoggedError(f"the authority log could not be read: {exc.message}") from None
        for item in answer.get("entries", []):
            if item.get("index") != index:
                continue
            try:
                data = base64.b64decode(item["data"])
            except (ValueError, KeyError, TypeError):
                raise NotLoggedError(f"log entry {index} is malformed") from None
            if data == entry or _wrapped_body(data) == entry:
                return
            raise NotLoggedError(f"log entry {index} holds another object")
        raise NotLoggedError(f"the authority log has no entry {index}")
