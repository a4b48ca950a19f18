"""The log's HTTP API (FastAPI): thin routes that parse, call ``LogService``, serialise.

Mounted by the authority under ``/v1/log`` (docs/translog.md, "HTTP API"):

- ``GET  /checkpoint[?size=N]``            the checkpoint note (text/plain), cosignatures included
- ``GET  /entries?start=S&end=E``          entries ``[S, E)`` as base64 in JSON (at most 1000)
- ``GET  /proof/inclusion?index=N|hash=H[&size=M]``  audit path and checkpoint, JSON
- ``GET  /bundle?index=N|hash=H[&size=M]`` the inclusion bundle, canonical CBOR
- ``GET  /proof/consistency?old=A[&new=B]`` consistency proof, JSON
- ``GET  /tile/<L>/<N>[.p/<W>]``, ``/tile/entries/<N>[.p/<W>]``  c2sp.org/tlog-tiles reads
- ``POST /cosignature``                    a witness posts the checkpoint note it cosigned

Every rejection is a 4xx with the project's JSON error body ``{"error", "message", ...}``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from pausebutton import errors
from pausebutton.translog.note import MAX_NOTE_SIZE
from pausebutton.translog.store import MAX_RANGE, LogService

CBOR = "application/cbor"
OCTETS = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"
NOTE = "text/plain; charset=utf-8"
MAX_INT = (1 << 63) - 1

_T = TypeVar("_T")


class ErrorOut(BaseModel):
    """Every rejection: ``{"error": code, "message": ..., "field": ...}``; some errors add
    details (``row`` of a CSV import, ``index`` of a report). The authority's API answers
    the same body."""

    model_config = ConfigDict(extra="allow")
    error: str
    message: str
    field: str | None = None


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthOut(_Out):
    ok: bool
    origin: str
    size: int


class EntriesOut(_Out):
    start: int
    end: int
    entries: list[str]
    """Each entry base64."""


class InclusionOut(_Out):
    leaf_index: int
    tree_size: int
    proof: list[str]
    """The audit path, each hash base64."""
    checkpoint: str
    """The checkpoint note the path leads to."""


class ConsistencyOut(_Out):
    old_size: int
    new_size: int
    proof: list[str]


class CosignatureOut(_Out):
    size: int
    accepted: list[str]
    """The witnesses whose cosignatures were stored."""


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "bad input"),
        (403, "no cosignature by a witness key"),
        (404, "no such entry, checkpoint or tile"),
        (409, "conflicts with the log's state"),
        (413, "too large"),
        (422, "the request does not match the schema, or fails verification"),
    )
}
BINARY = {"schema": {"type": "string", "format": "binary"}}


def error_response(exc: errors.PausebuttonError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


def _guard(call: Callable[[], _T]) -> _T | JSONResponse:
    try:
        return call()
    except errors.PausebuttonError as exc:
        return error_response(exc)


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(x).decode() for x in items]


def encode_tile_index(index: int) -> str:
    """tlog-tiles: an index as 3-digit path elements, all but the last prefixed with x."""
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def parse_tile_path(path: str) -> tuple[str, int, int | None]:
    """``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` -> (L or "entries", N, W or None);
    only the canonical encoding is accepted (UsageError)."""
    parts = path.split("/")
    width: int | None = None
    if len(parts) >= 3 and parts[-2].endswith(".p"):
        w = parts.pop()
        parts[-1] = parts[-1][:-2]
        if not (w.isdigit() and w == str(int(w)) and 1 <= int(w) <= 255):
            raise errors.UsageError(f"bad partial tile width {w[:8]!r}")
        width = int(w)
    if len(parts) < 2 or len(parts) > 9:
        raise errors.UsageError("a tile path is <L>/<N>[.p/<W>] or entries/<N>[.p/<W>]")
    kind, groups = parts[0], parts[1:]
    if kind != "entries" and not (kind.isdigit() and kind == str(int(kind)) and int(kind) < 64):
        raise errors.UsageError(f"bad tile level {kind[:8]!r}")
    digits = [g[1:] for g in groups[:-1]] + [groups[-1]]
    if any(len(d) != 3 or not d.isdigit() for d in digits) or any(
        not g.startswith("x") for g in groups[:-1]
    ):
        raise errors.UsageError(
            "a tile index is 3-digit path elements, all but the last x-prefixed"
        )
    index = int("".join(digits))
    if encode_tile_index(index) != "/".join(groups):
        raise errors.UsageError("the tile index is not in its canonical form")
    return kind, index, width


def _parse_hash(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if len(value) == 64 else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise errors.MalformedError("hash must be 64 hex digits or base64 of 32 bytes") from None
    if len(raw) != 32:
        raise errors.MalformedError("hash must be 32 bytes")
    return raw


Index = Annotated[int | None, Query(ge=0, le=MAX_INT, description="A leaf index.")]
Size = Annotated[
    int | None, Query(ge=0, le=MAX_INT, description="A tree size with a signed checkpoint.")
]
Hash = Annotated[
    str | None,
    Query(
        alias="hash", max_length=88, description="A leaf hash: 64 hex digits or base64 of 32 bytes."
    ),
]


@dataclass(frozen=True)
class LogContext:
    """What the log routes serve: one ``LogService``; with ``sign_on_read`` a request for
    the latest checkpoint signs one if the tree has grown."""

    service: LogService
    sign_on_read: bool = True


async def current_log(request: Request) -> LogContext:
    """``Depends`` provider: the ``LogContext`` that ``log_router`` bound to this request."""
    ctx = getattr(request.state, "translog", None)
    if not isinstance(ctx, LogContext):
        raise RuntimeError("a log route was mounted without log_router()")
    return ctx


Log = Annotated[LogContext, Depends(current_log)]


def _pick_index(service: LogService, index: int | None, hash_: str | None) -> int:
    if (index is None) == (hash_ is None):
        raise errors.UsageError("give exactly one of index and hash")
    if index is not None:
        return index
    assert hash_ is not None
    return service.store.index_of(_parse_hash(hash_))


def get_checkpoint(log: Log, size: Size = None) -> Response:
    """The latest checkpoint (signing a new one if the tree grew), or the one of ``size``,
    as a C2SP signed note with every cosignature received."""
    service = log.service

    def run() -> Response:
        if size is not None:
            cp = service.checkpoint_at(size)
        elif log.sign_on_read:
            cp = service.checkpoint()
        else:
            latest = service.store.latest_checkpoint_size()
            if latest is None:
                raise errors.NotFoundError("the log has signed no checkpoint yet")
            cp = service.checkpoint_at(latest)
        return PlainTextResponse(
            cp.encode(), media_type=NOTE, headers={"cache-control": "no-cache"}
        )

    return _guard(run)


def get_entries(
    log: Log,
    start: Annotated[int, Query(ge=0, le=MAX_INT)],
    end: Annotated[int, Query(ge=0, le=MAX_INT)],
) -> Any:
    """Entries ``[start, end)``, base64 (at most 1000, all within the tree)."""

    def run() -> dict[str, Any]:
        items = log.service.entries(start, end)
        return {"start": start, "end": end, "entries": _b64(items)}

    return _guard(run)


def get_inclusion(log: Log, index: Index = None, leaf_hash: Hash = None, size: Size = None) -> Any:
    """The audit path of an entry (by index or leaf hash) and the checkpoint it leads to."""

    def run() -> dict[str, Any]:
        bundle = log.service.inclusion_bundle(_pick_index(log.service, index, leaf_hash), size)
        return {
            "leaf_index": bundle.leaf_index,
            "tree_size": bundle.tree_size,
            "proof": _b64(list(bundle.proof)),
            "checkpoint": bundle.checkpoint,
        }

    return _guard(run)


def get_bundle(
    log: Log, index: Index = None, leaf_hash: Hash = None, size: Size = None
) -> Response:
    """The inclusion bundle of an entry (canonical CBOR), for chips and ``log verify``."""

    def run() -> Response:
        bundle = log.service.inclusion_bundle(_pick_index(log.service, index, leaf_hash), size)
        return Response(bundle.encode(), media_type=CBOR)

    return _guard(run)


def get_consistency(
    log: Log, old: Annotated[int, Query(ge=0, le=MAX_INT)], new: Size = None
) -> Any:
    """The consistency proof from tree size ``old`` to ``new`` (default: the current)."""

    def run() -> dict[str, Any]:
        target = log.service.store.size() if new is None else new
        proof = log.service.consistency_proof(old, target)
        return {"old_size": old, "new_size": target, "proof": _b64(proof)}

    return _guard(run)


def get_tile(log: Log, path: str) -> Response:
    """c2sp.org/tlog-tiles: ``tile/<L>/<N>[.p/<W>]`` (hashes) and
    ``tile/entries/<N>[.p/<W>]`` (entry bundles)."""

    def run() -> Response:
        kind, index, width = parse_tile_path(path)
        if kind == "entries":
            data = log.service.store.entry_bundle(index, width)
        else:
            data = log.service.store.tile(int(kind), index, width)
        return Response(data, media_type=OCTETS, headers={"cache-control": IMMUTABLE})

    return _guard(run)


async def post_cosignature(log: Log, request: Request) -> Any:
    """A witness posts the checkpoint note carrying its ``cosignature/v1`` line(s)."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_NOTE_SIZE:
            return error_response(errors.OversizedError(f"a note is at most {MAX_NOTE_SIZE} bytes"))

    def run() -> dict[str, Any]:
        result = log.service.add_cosignature(bytes(body))
        return {"size": result.size, "accepted": list(result.accepted)}

    return await run_in_threadpool(_guard, run)


def log_router(service: LogService, *, sign_on_read: bool = True) -> APIRouter:
    """The log's routes, to mount under ``/v1/log``. With ``sign_on_read`` a request for
    the latest checkpoint signs one if the tree has grown; without it, the latest stored
    checkpoint is served (the owner calls ``service.checkpoint()`` after appends).

    The routes are module-level functions; the router's own dependency binds ``service``
    to each request it serves, for ``current_log`` to provide."""
    ctx = LogContext(service, sign_on_read)

    async def bind(request: Request) -> None:
        request.state.translog = ctx

    router = APIRouter(tags=["log"], responses=ERRORS, dependencies=[Depends(bind)])
    note: dict[int | str, dict[str, Any]] = {
        200: {"content": {NOTE: {"schema": {"type": "string"}}}}
    }
    router.add_api_route(
        "/checkpoint", get_checkpoint, methods=["GET"], response_class=Response, responses=note
    )
    router.add_api_route("/entries", get_entries, methods=["GET"], response_model=EntriesOut)
    router.add_api_route(
        "/proof/inclusion", get_inclusion, methods=["GET"], response_model=InclusionOut
    )
    router.add_api_route(
        "/bundle",
        get_bundle,
        methods=["GET"],
        response_class=Response,
        responses={200: {"content": {CBOR: BINARY}}},
    )
    router.add_api_route(
        "/proof/consistency", get_consistency, methods=["GET"], response_model=ConsistencyOut
    )
    router.add_api_route(
        "/tile/{path:path}",
        get_tile,
        methods=["GET"],
        response_class=Response,
        responses={200: {"content": {OCTETS: BINARY}}},
    )
    router.add_api_route(
        "/cosignature", post_cosignature, methods=["POST"], response_model=CosignatureOut
    )
    return router


def create_log_app(service: LogService, *, sign_on_read: bool = True) -> FastAPI:
    """A standalone log server: the router under ``/v1/log`` (tests, ``log serve``)."""
    app = FastAPI(title="pausebutton transparency log", version="1")
    app.include_router(log_router(service, sign_on_read=sign_on_read), prefix="/v1/log")

    @app.get("/healthz", response_model=HealthOut)
    def healthz() -> dict[str, Any]:
        return {"ok": True, "origin": service.origin, "size": service.store.size()}

    return app


__all__ = [
    "MAX_RANGE",
    "LogContext",
    "create_log_app",
    "current_log",
    "error_response",
    "log_router",
]
