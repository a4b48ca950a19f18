"""Exception handlers: every rejection becomes the project's JSON error body, mapped once.

``{"error": code, "message": ..., "field": ...}`` with the status the error class names
(``http_status``); request validation is 422 ``schema``; database integrity and range
errors are 409 ``conflict`` and 400 ``data``; a database that is down, restarting or
out of connections (or a write still deadlocked after the service's retries) is 503
``service`` with ``Retry-After``; Starlette's own refusals (an unparsable
body, an unknown path, a wrong method) keep their status with the same body; an
answer that does not fit its declared model is logged and answered 500 ``internal``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException

from pausebutton import errors
from pausebutton.authority.services.base import transient

log = logging.getLogger(__name__)


async def _project_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.PausebuttonError)
    if exc.http_status >= 500:
        log.warning("%s %s answered %d: %s", request.method, request.url.path, exc.http_status, exc)
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ())]
    name = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    return JSONResponse(
        {
            "error": "schema",
            "message": f"{name or 'request'}: {first.get('msg', 'invalid')}",
            "field": name or "body",
        },
        status_code=422,
    )


_HTTP_CODES = {400: "malformed", 404: "not_found", 405: "method_not_allowed"}


async def _http(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (an unparsable body, an unknown path, a wrong method)
    in the project's error body."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    body: dict[str, object] = {"error": code, "message": str(exc.detail)}
    if exc.status_code == 400:
        body["field"] = "body"
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _bad_answer(request: Request, exc: Exception) -> JSONResponse:
    """A service result that does not fit the route's declared response model: a bug,
    logged with the validation errors and answered 500 (never an undocumented body)."""
    assert isinstance(exc, ResponseValidationError)
    # where and what, never the value: an answer may carry whole envelopes
    summary = [
        {"loc": e.get("loc"), "type": e.get("type"), "msg": e.get("msg")} for e in exc.errors()[:5]
    ]
    log.error(
        "%s %s: the answer does not match its response model: %s",
        request.method,
        request.url.path,
        summary,
    )
    return JSONResponse(
        {"error": "internal", "message": "the server built an answer its API does not describe"},
        status_code=500,
    )


async def _integrity(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"error": "conflict", "message": "conflicts with stored state", "field": "body"},
        status_code=409,
    )


async def _data(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"error": "data", "message": "a value is out of range", "field": "body"},
        status_code=400,
    )


RETRY_AFTER_S = 1
"""What a 503 answer for an unavailable database tells the client to wait (seconds)."""


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is unreachable, restarting or out of connections: 503, named, with
    Retry-After. Nothing was committed; the pool reconnects by itself (pre-ping)."""
    log.warning(
        "%s %s answered 503: database unavailable: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
    )
    message = (
        "the write met repeated deadlocks or serialization failures; retry later"
        if transient(exc)
        else "the database is unavailable; retry later"
    )
    return JSONResponse(
        {"error": "service", "message": message},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(errors.PausebuttonError, _project_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(ResponseValidationError, _bad_answer)
    app.add_exception_handler(sa_exc.IntegrityError, _integrity)
    app.add_exception_handler(sa_exc.DataError, _data)
    for unavailable in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(unavailable, _unavailable)
