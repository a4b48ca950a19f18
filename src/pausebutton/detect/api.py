"""FastAPI router for the whistleblower channel (mount it under the authority app).

No route reads the client address, headers or time; nothing but the sealed
bytes is stored. Run the server without access logs (``uvicorn
--no-access-log``) and behind a proxy that does not log either.
"""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from pausebutton.detect.whistle import MAX_SUBMISSION, WhistleStore
from pausebutton.errors import PausebuttonError


class Submission(BaseModel):
    sealed: str
    """Base64 of the sealed box (made client-side with the published key)."""


def make_whistle_router(store: WhistleStore, public_key: bytes) -> APIRouter:
    router = APIRouter(prefix="/v1/whistle", tags=["whistleblower"])

    @router.get("/key")
    def key() -> dict[str, str]:
        return {"public_key": public_key.hex(), "algorithm": "curve25519-sealedbox"}

    @router.post("/submissions", status_code=202)
    def submit(body: Submission) -> dict[str, bool]:
        if len(body.sealed) > MAX_SUBMISSION * 4 // 3 + 8:
            raise HTTPException(413, detail={"error": "oversized"})
        try:
            sealed = base64.b64decode(body.sealed, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPException(
                400, detail={"error": "malformed", "message": "not base64"}
            ) from None
        try:
            store.submit(sealed)
        except PausebuttonError as exc:
            raise HTTPException(400, detail=exc.to_dict()) from None
        return {"accepted": True}

    @router.get("/replies/{lookup}")
    def replies(lookup: str) -> dict[str, list[str]]:
        if not re.fullmatch(r"[0-9a-f]{32}", lookup):
            raise HTTPException(400, detail={"error": "malformed", "message": "bad lookup id"})
        return {"replies": [base64.b64encode(b).decode() for b in store.replies(lookup)]}

    return router
