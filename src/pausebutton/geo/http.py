"""HTTP edge for the authority: a FastAPI router that receives landmarks' signed
Measurements and runs due location checks (thin: parse, call the scheduler, serialise).

Mount with ``app.include_router(location_router(scheduler, clock, on_check))``:

- ``POST /v1/location/measurements`` (body ``application/cbor``: one Measurement
  envelope, as ``landmark serve --authority-url`` sends it) -> 202 with the chip id,
  landmark id and RTT; a named error -> 4xx ``{"error": code, "message": ...}``.
- ``POST /v1/location/checks/run`` -> runs every due check, passes each LocationCheck
  to ``on_check`` (log it, raise its alert) and returns them as JSON.

Measurements are self-authenticating (landmark signature, trust-root role
``landmark``), so the POST needs no request signature.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pausebutton.errors import (
    InputError,
    NotFoundError,
    OversizedError,
    PausebuttonError,
    VerificationError,
)
from pausebutton.geo.landmark import MAX_WIRE_MESSAGE
from pausebutton.geo.service import LocationCheck, LocationScheduler

Clock = Callable[[], int]


def _status(exc: PausebuttonError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, VerificationError):
        return 422
    return 500


def location_router(
    scheduler: LocationScheduler,
    clock: Clock,
    on_check: Callable[[LocationCheck], None] | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/v1/location", tags=["location"])

    @router.post("/measurements", status_code=202)
    async def submit(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            if len(body) > MAX_WIRE_MESSAGE:
                raise OversizedError(f"a measurement is at most {MAX_WIRE_MESSAGE} bytes")
            m = scheduler.submit(body, clock())
        except PausebuttonError as exc:
            return JSONResponse(exc.to_dict(), status_code=_status(exc))
        return JSONResponse(
            {
                "chip_id": m.chip_id.hex(),
                "landmark_id": m.landmark_id.hex(),
                "rtt_ms": m.rtt_ms,
                "time": m.time,
            },
            status_code=202,
        )

    @router.post("/checks/run")
    async def run_checks() -> JSONResponse:
        checks = scheduler.run_due(clock())
        for check in checks:
            if on_check is not None:
                on_check(check)
        return JSONResponse({"checks": [c.to_json() for c in checks]})

    return router
