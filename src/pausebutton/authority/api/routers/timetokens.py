"""Time tokens signed by the trust root's time role."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pausebutton.authority.api.deps import State
from pausebutton.authority.api.models import error_responses
from pausebutton.authority.services.base import unb64
from pausebutton.authority.services.timetokens import IssuedTimeToken

router = APIRouter(tags=["time"])


@router.get(
    "/v1/time",
    response_model=IssuedTimeToken,
    responses={
        200: {"content": {"application/cbor": {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(422, 503),
    },
)
def time_token(
    request: Request,
    st: State,
    chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> Any:
    """A TimeToken signed by the time role (JSON with the base64 envelope, or the raw
    envelope when the request accepts ``application/cbor``); ``chip_id`` binds it to
    one chip. 503 when the server has no time key."""
    out = st.service.time.time_token(chip_id)
    st.count("time_tokens")
    if "application/cbor" in request.headers.get("accept", ""):
        envelope = unb64(out.envelope, "envelope")
        return Response(envelope, media_type="application/cbor")
    return out
