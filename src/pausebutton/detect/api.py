"""FastAPI router for the whistleblower channel (mount it under the authority app).

No route reads the client address, headers or time; nothing but the sealed
bytes is stored. Run the server without access logs (``uvicorn
--no-access-log``) and behind a proxy that does not log either.
"""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import APIRouter
from pydantic import BaseModel

from pausebutton.detect.whistle import MAX_SUBMISSION, WhistleStore
from pausebutton.errors import MalformedError, OversizedError


class Submission(BaseModel):
    sealed: str
    """Base64 of the sealed box (made client-side with the published key)."""


def make_whistle_router(store: WhistleStore, public_key: bytes) -> APIRouter:
    """Errors are the project's (``pausebutton.errors``): the app mounting the router maps
    them to its error answers."""
    router = APIRouter(prefix="/v1/whistle", tags=["whistleblower"])

    @router.get("/key")
    def key() -> dict[str, str]:
        return {"public_key": public_key.hex(), "algorithm": "curve25519-sealedbox"}

    @router.post("/submissions", status_code=202)
    def submit(body: Submission) -> dict[str, bool]:
        if len(body.sealed) > MAX_SUBMISSION * 4 // 3 + 8:
            raise OversizedError("the submission is too large", field="sealed")
        try:
            sealed = base64.b64decode(body.sealed, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedError("sealed is not base64", field="sealed") from None
        store.submit(sealed)
        return {"accepted": True}

    @router.get("/replies/{lookup}")
    def replies(lookup: str) -> dict[str, list[str]]:
        if not re.fullmatch(r"[0-9a-f]{32}", lookup):
            raise MalformedError("bad lookup id (32 hex digits)", field="lookup")
        return {"replies": [base64.b64encode(b).decode() for b in store.replies(lookup)]}

    return router
