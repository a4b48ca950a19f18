"""The authority's HTTP API (FastAPI): thin routes over the aggregates of
:class:`~pausebutton.authority.services.Authority`.

``create_app(settings)`` builds a fresh application (no globals, no work at
import time); start-up runs migrations (unless told not to), registers the
configured admin keys and starts the order feed. Routes parse, call the
service, serialise. JSON under ``/v1``; usage reports as ``application/cbor``.

Errors: every rejection is a JSON body ``{"error": code, "message": ...,
"field": ...}`` with a 4xx status (each error class names its ``http_status``); 401/403 answers are
recorded in the ``auth_events`` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import Body, Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pausebutton import errors
from pausebutton.authority import csvio
from pausebutton.authority.auth import RateLimiter, verify_request
from pausebutton.authority.db import Database, migrate
from pausebutton.authority.policy import parse_flop
from pausebutton.authority.services import Authority
from pausebutton.authority.services.base import (
    ADMIN,
    MEMBER,
    OPERATOR,
    Caller,
    CustodyKind,
    b64,
    scope_from_json,
    unb64,
)
from pausebutton.authority.settings import Settings
from pausebutton.protocol import encoding
from pausebutton.protocol.keys import PublicKey
from pausebutton.translog.http import log_router
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.store import LogService, LogStore

BIG = 2**62
IdPath = Annotated[int, Path(ge=0, le=BIG)]
ChipIdPath = Annotated[str, Path(pattern="^[0-9a-f]{64}$")]
NamePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")]
NameQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")]
AfterQuery = Annotated[int, Query(ge=0, le=BIG)]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
Text = Annotated[str, Field(min_length=1, max_length=1024)]


# -- request bodies ------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OwnerIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=128)]
    name: Text
    country: Annotated[str, Field(min_length=2, max_length=2)]


class KeyIn(_In):
    public_key: Annotated[str, Field(min_length=64, max_length=64)]
    role: Literal["operator", "admin"]
    name: Annotated[str, Field(min_length=1, max_length=256)]
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class FacilityIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=128)]
    name: Text
    country: Annotated[str, Field(min_length=2, max_length=2)]
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    power_mw: Annotated[float, Field(ge=0, le=1e6)] | None = None
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    verified: bool = False
    declared_chips: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    chip_model: Annotated[str, Field(max_length=256)] | None = None
    source: Annotated[str, Field(max_length=256)] | None = None


class VerificationIn(_In):
    verified: bool


class ChipIn(_In):
    certificate: Annotated[str, Field(min_length=1, max_length=16384)]
    """Base64 of the vendor-signed DeviceCertificate envelope."""
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    facility_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class CustodyIn(_In):
    kind: CustodyKind
    at: Annotated[int, Field(ge=0, le=BIG)]
    actor: Text
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    facility_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    country: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    note: Annotated[str, Field(max_length=4096)] | None = None


class ApplicationIn(_In):
    chips: Annotated[list[Annotated[str, Field(min_length=64, max_length=64)]], Field(min_length=1)]
    flop_budget: Annotated[str, Field(min_length=1, max_length=64)] | int
    """Total FLOP for the run: an integer, or a decimal/scientific string like '1e25'."""
    not_before: Annotated[int, Field(ge=0, le=BIG)]
    not_after: Annotated[int, Field(ge=0, le=BIG)]
    run_id: Text
    purpose: Annotated[str, Field(min_length=1, max_length=4096)]
    owner_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class ScopeIn(_In):
    kind: Literal["global", "region", "owner", "chips"]
    regions: Annotated[
        list[Annotated[str, Field(min_length=2, max_length=2)]], Field(max_length=4096)
    ] = []
    owners: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=4096)
    ] = []
    chips: Annotated[
        list[Annotated[str, Field(min_length=64, max_length=64)]], Field(max_length=4096)
    ] = []


class ProposalIn(_In):
    kind: Literal["pause", "resume"]
    scope: ScopeIn | None = None
    reason: Text
    effective_at: Annotated[int, Field(ge=0, le=BIG)] | None = None
    lifts: Annotated[int, Field(ge=1, le=BIG)] | None = None


class ArtifactReportItem(_In):
    id: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    """A client-chosen id (the agent sends SHA-256 of the report line): retries are harmless."""
    report: dict[str, Any]
    """The guard's refusal report: ``{event, what, list_sequence, hits, pid, uid, gpu}``."""


class ArtifactReportsIn(_In):
    reports: Annotated[list[ArtifactReportItem], Field(max_length=1000)]


class SignatureIn(_In):
    key_id: Annotated[str, Field(min_length=64, max_length=64)]
    sig: Annotated[str, Field(min_length=128, max_length=128)]
    """Hex Ed25519 signature over the proposal's ``signing_input``."""


# -- plumbing ------------------------------------------------------------------------


class BodyLimit:
    """Refuse request bodies above a limit (413) before the app reads them."""

    def __init__(self, app: ASGIApp, default: int, large: int, large_prefix: str) -> None:
        self.app = app
        self.default = default
        self.large = large
        self.large_prefix = large_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large if scope["path"].startswith(self.large_prefix) else self.default
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(send, limit)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(send, limit)

    @staticmethod
    async def _reject(send: Send, limit: int) -> None:
        body = json.dumps(
            {"error": "oversized", "message": f"request body above {limit} bytes", "field": "body"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class OrderFeed:
    """Delivers assembled orders to waiting clients of this worker.

    The worker that assembles an order wakes its waiters at once; every worker
    also polls the database (``poll_interval``) for orders other workers made.
    """

    def __init__(self, service: Authority, poll_interval: float) -> None:
        self.service = service
        self.poll_interval = poll_interval
        self.last = 0
        self.orders: list[dict[str, Any]] = []
        self._event = asyncio.Event()
        self._lock = asyncio.Lock()
        self._cache: dict[int, bytes] = {}
        self.waiting = 0
        """Clients of this worker now waiting for an order (a gauge in /metrics)."""

    async def refresh(self) -> None:
        async with self._lock:
            last = await run_in_threadpool(self.service.orders.last_order_sequence)
            if last <= self.last:
                return
            fresh = await run_in_threadpool(self.service.orders.list_orders, after=self.last)
            new = [asdict(o) for o in fresh]
            if not new:
                return
            self.orders.extend(new)
            self.last = max(o["sequence"] for o in new)
            self._cache.clear()
            event, self._event = self._event, asyncio.Event()
            event.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (never cancelled mid-query: a database call in a
        worker thread always finishes before shutdown disposes the engine)."""
        while not stop.is_set():
            with contextlib.suppress(Exception):
                await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval)

    def after(self, seq: int) -> list[dict[str, Any]]:
        return [o for o in self.orders if o["sequence"] > seq]

    def body_after(self, seq: int) -> bytes:
        cached = self._cache.get(seq)
        if cached is None:
            cached = json.dumps({"orders": self.after(seq), "last": self.last}).encode()
            self._cache[seq] = cached
        return cached

    async def wait(self, seq: int, timeout: float) -> bool:
        """Wait until an order after ``seq`` exists; False on timeout."""
        self.waiting += 1
        try:
            async with asyncio.timeout(timeout):  # no extra task per waiter (cheap at 10,000s)
                while self.last <= seq:
                    await self._event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1


@dataclass
class AppState:
    settings: Settings
    service: Authority
    feed: OrderFeed
    limiter: RateLimiter
    metrics: dict[str, int] = field(default_factory=dict)
    _principals: dict[str, tuple[float, Caller, PublicKey] | None] = field(default_factory=dict)

    def principal(self, kid: str) -> tuple[Caller, PublicKey] | None:
        now = time.monotonic()
        hit = self._principals.get(kid)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        found = self.service.keys.principal(kid)
        if found is not None:
            self._principals[kid] = (now + 5.0, found[0], found[1])
            if len(self._principals) > 100_000:
                self._principals.clear()
        return found

    def count(self, name: str, n: int = 1) -> None:
        self.metrics[name] = self.metrics.get(name, 0) + n


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.pb
    return state


def signed(*roles: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the request must carry a valid RFC 9421 signature by one of ``roles``."""

    async def dependency(request: Request) -> Caller:
        st = _state(request)
        svc = st.service
        body = await request.body()
        kid: str | None = None
        try:
            check = verify_request(
                request.method,
                str(request.url),
                request.headers.items(),
                body,
                lambda k: p[1] if (p := st.principal(k)) else None,
                now=svc.now(),
                max_age=st.settings.signature_max_age,
            )
            kid = check.key_id
            found = st.principal(kid)
            if found is None:
                raise errors.AuthError("unknown key", field="keyid")
            caller = found[0]
            if roles and caller.role not in roles:
                raise errors.ForbiddenError(
                    f"role {caller.role} may not call this (needs {' or '.join(roles)})",
                    field="keyid",
                )
            st.limiter.take(kid)
            fresh = await run_in_threadpool(
                svc.keys.use_nonce,
                kid,
                check.nonce,
                check.created + st.settings.signature_max_age + 60,
            )
            if not fresh:
                raise errors.AuthError(
                    "this request was already received (nonce replayed)", field="nonce"
                )
        except errors.AuthError as exc:
            st.count(f"auth_{exc.http_status}")
            await run_in_threadpool(
                svc.keys.record_auth_event,
                status=exc.http_status,
                key_id=kid,
                method=request.method,
                path=request.url.path,
                reason=str(exc),
            )
            raise
        return caller

    return dependency


Operator = Annotated[Caller, Depends(signed(OPERATOR, ADMIN))]
Member = Annotated[Caller, Depends(signed(MEMBER))]
Admin = Annotated[Caller, Depends(signed(ADMIN))]
AnySigned = Annotated[Caller, Depends(signed())]


def create_app(settings: Settings) -> FastAPI:
    """Build the authority's ASGI application for ``settings``."""
    root = settings.trust_root()
    db = Database.connect(settings.database_url)
    log_service: list[LogService] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # few threads: database writes queue on one lock anyway, and fewer threads
        # contend less with the event loop for the GIL (shorter latency tails)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        if settings.migrate:
            await run_in_threadpool(migrate, db)
        service = Authority(
            db,
            root,
            settings.licensing_key,
            policy=settings.policy,
            clock=settings.clock,
            time_key=settings.time_key,
            location_max_age=settings.location_max_age,
            location_policy=settings.location_policy,
        )
        for raw in settings.admin_keys:
            await run_in_threadpool(service.keys.bootstrap_admin, raw)
        feed = OrderFeed(service, settings.poll_interval)
        state = AppState(
            settings, service, feed, RateLimiter(settings.write_rate, settings.write_burst)
        )
        await feed.refresh()
        app.state.pb = state
        if settings.log_key is not None:
            log_service.append(
                _LockedLogService(
                    LogStore(db.read, create=False),
                    settings.log_key,
                    LogPolicy.from_trust_root(root),
                    lock=db.write_lock if db.sqlite else None,
                )
            )
        stop = asyncio.Event()
        tasks = [asyncio.create_task(feed.run(stop))]
        tasks.append(
            asyncio.create_task(
                _checkpointer(
                    log_service[0] if log_service else None,
                    db,
                    settings.checkpoint_interval,
                    stop,
                )
            )
        )
        if settings.location_interval > 0:
            tasks.append(
                asyncio.create_task(_location_checker(service, settings.location_interval, stop))
            )
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task
            db.dispose()

    app = FastAPI(
        title="pausebutton licensing authority",
        version="1",
        description=(
            "Registry, licensing, K-of-N pause orders and usage-report ingestion. Writes are"
            " RFC 9421 HTTP Message Signatures (Ed25519) covering @method, @authority, @path,"
            " @query and content-digest, with keyid, created and nonce parameters."
        ),
        lifespan=lifespan,
    )

    @app.exception_handler(errors.PausebuttonError)
    async def _project_error(request: Request, exc: errors.PausebuttonError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
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

    @app.exception_handler(sa_exc.IntegrityError)
    async def _integrity(request: Request, exc: sa_exc.IntegrityError) -> JSONResponse:
        return JSONResponse(
            {"error": "conflict", "message": "conflicts with stored state", "field": "body"},
            status_code=409,
        )

    @app.exception_handler(sa_exc.DataError)
    async def _data(request: Request, exc: sa_exc.DataError) -> JSONResponse:
        return JSONResponse(
            {"error": "data", "message": "a value is out of range", "field": "body"},
            status_code=400,
        )

    app.add_middleware(
        BodyLimit,
        default=settings.max_body,
        large=settings.max_report_body,
        large_prefix="/v1/reports",
    )

    def svc(request: Request) -> Authority:
        return _state(request).service

    # -- meta ---------------------------------------------------------------------

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, object]:
        """Liveness; names the answering worker process."""
        return {"status": "ok", "worker": os.getpid()}

    @app.get("/metrics", tags=["meta"], response_class=PlainTextResponse)
    def metrics(request: Request) -> str:
        st = _state(request)
        lines = []
        for name, value in sorted(asdict(st.service.audit.stats()).items()):
            lines.append(f"pausebutton_authority_{name} {value}")
        for name, value in sorted(st.metrics.items()):
            lines.append(f"pausebutton_authority_{name}_total {value}")
        lines.append(
            f'pausebutton_authority_order_waiters{{worker="{os.getpid()}"}} {st.feed.waiting}'
        )
        return "\n".join(lines) + "\n"

    @app.get("/v1/trust-root", tags=["meta"])
    def trust_root(request: Request) -> dict[str, Any]:
        st = _state(request)
        r = st.service.root
        return {
            "version": r.version,
            "expires": r.expires,
            "log_origin": r.log_origin,
            "members": [
                {"name": m.name, "region": m.region, "key": m.key.hex()} for m in r.members
            ],
            "pause_threshold": st.service.pause_threshold,
            "envelope": b64(st.settings.root_bytes),
        }

    @app.get("/v1/policy", tags=["licensing"])
    def policy(request: Request) -> dict[str, Any]:
        return _state(request).service.policy.to_dict()

    @app.get("/v1/stats", tags=["meta"])
    def stats(request: Request) -> dict[str, int]:
        return asdict(svc(request).audit.stats())

    # -- registry -------------------------------------------------------------------

    @app.post("/v1/owners", tags=["registry"], status_code=201)
    def create_owner(request: Request, body: OwnerIn, caller: Admin) -> dict[str, Any]:
        owner = svc(request).registry.create_owner(
            caller, id=body.id, name=body.name, country=body.country
        )
        return asdict(owner)

    @app.get("/v1/owners", tags=["registry"])
    def list_owners(request: Request) -> list[dict[str, Any]]:
        return [asdict(o) for o in svc(request).registry.list_owners()]

    @app.get("/v1/owners/{owner_id}", tags=["registry"])
    def get_owner(request: Request, owner_id: NamePath) -> dict[str, Any]:
        return asdict(svc(request).registry.get_owner(owner_id))

    @app.post("/v1/keys", tags=["registry"], status_code=201)
    def add_key(request: Request, body: KeyIn, caller: Admin) -> dict[str, Any]:
        key = svc(request).keys.add_key(
            caller,
            public_key=body.public_key,
            role=body.role,
            name=body.name,
            owner_id=body.owner_id,
        )
        return asdict(key)

    @app.get("/v1/keys", tags=["registry"])
    def list_keys(request: Request) -> list[dict[str, Any]]:
        return [asdict(k) for k in svc(request).keys.list_keys()]

    @app.post("/v1/keys/{key_id}/revoke", tags=["registry"])
    def revoke_key(
        request: Request, key_id: Annotated[str, Path(pattern="^[0-9a-f]{64}$")], caller: Admin
    ) -> dict[str, Any]:
        out = asdict(svc(request).keys.revoke_key(caller, key_id))
        _state(request)._principals.pop(key_id, None)
        return out

    @app.post("/v1/facilities", tags=["registry"], status_code=201)
    def create_facility(request: Request, body: FacilityIn, caller: Admin) -> dict[str, Any]:
        return asdict(svc(request).registry.create_facility(caller, **body.model_dump()))

    @app.get("/v1/facilities", tags=["registry"])
    def list_facilities(
        request: Request,
        country: Annotated[str | None, Query(pattern="^[A-Z]{2}$")] = None,
        limit: LimitQuery = 1000,
        offset: AfterQuery = 0,
    ) -> list[dict[str, Any]]:
        found = svc(request).registry.list_facilities(country=country, limit=limit, offset=offset)
        return [asdict(f) for f in found]

    @app.get("/v1/facilities/{facility_id}", tags=["registry"])
    def get_facility(request: Request, facility_id: NamePath) -> dict[str, Any]:
        return asdict(svc(request).registry.get_facility(facility_id))

    @app.post("/v1/facilities/{facility_id}/verification", tags=["registry"])
    def verify_facility(
        request: Request, facility_id: NamePath, body: VerificationIn, caller: Admin
    ) -> dict[str, Any]:
        return asdict(
            svc(request).registry.set_facility_verified(caller, facility_id, body.verified)
        )

    @app.post("/v1/chips", tags=["registry"], status_code=201)
    def register_chip(request: Request, body: ChipIn, caller: Admin) -> dict[str, Any]:
        cert = unb64(body.certificate, "certificate", 8192)
        out = svc(request).registry.register_chip(
            caller, certificate=cert, owner_id=body.owner_id, facility_id=body.facility_id
        )
        _state(request).count("chips_registered")
        return asdict(out)

    @app.get("/v1/chips", tags=["registry"])
    def list_chips(
        request: Request,
        owner_id: NameQuery = None,
        facility_id: NameQuery = None,
        status: Annotated[
            Literal["registered", "installed", "decommissioned", "destroyed"] | None, Query()
        ] = None,
        limit: LimitQuery = 1000,
        offset: AfterQuery = 0,
    ) -> list[dict[str, Any]]:
        found = svc(request).registry.list_chips(
            owner_id=owner_id, facility_id=facility_id, status=status, limit=limit, offset=offset
        )
        return [asdict(c) for c in found]

    @app.get("/v1/chips/{chip_id}", tags=["registry"])
    def get_chip(request: Request, chip_id: ChipIdPath) -> dict[str, Any]:
        return asdict(svc(request).registry.get_chip(chip_id))

    @app.get("/v1/chips/{chip_id}/custody", tags=["registry"])
    def get_custody(request: Request, chip_id: ChipIdPath) -> list[dict[str, Any]]:
        return [asdict(e) for e in svc(request).custody.custody(chip_id)]

    @app.post("/v1/chips/{chip_id}/custody", tags=["registry"], status_code=201)
    def add_custody(
        request: Request, chip_id: ChipIdPath, body: CustodyIn, caller: Admin
    ) -> dict[str, Any]:
        event = svc(request).custody.add_custody_event(caller, chip_id, **body.model_dump())
        return asdict(event)

    @app.get("/v1/registry/{kind}.csv", tags=["registry"], response_class=PlainTextResponse)
    def export_csv(
        request: Request, kind: Literal["owners", "facilities", "chips", "custody"]
    ) -> str:
        return csvio.export_csv(svc(request), kind)

    @app.post(
        "/v1/registry/{kind}.csv",
        tags=["registry"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
    )
    async def import_csv(
        request: Request, kind: Literal["owners", "facilities", "chips", "custody"], caller: Admin
    ) -> dict[str, Any]:
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.DataError("CSV must be UTF-8", field="body") from None
        return await run_in_threadpool(csvio.import_csv, svc(request), caller, kind, text)

    # -- licensing ------------------------------------------------------------------

    @app.post("/v1/licenses/applications", tags=["licensing"], status_code=201)
    def apply(request: Request, body: ApplicationIn, caller: Operator) -> dict[str, Any]:
        budget = (
            body.flop_budget
            if isinstance(body.flop_budget, int)
            else parse_flop(body.flop_budget, "flop_budget")
        )
        out = svc(request).licensing.apply(
            caller,
            chips=body.chips,
            flop_budget=budget,
            not_before=body.not_before,
            not_after=body.not_after,
            run_id=body.run_id,
            purpose=body.purpose,
            owner_id=body.owner_id,
        )
        _state(request).count("licenses_issued", len(out.license_ids))
        return asdict(out)

    @app.get("/v1/licenses/applications", tags=["licensing"])
    def list_applications(
        request: Request,
        owner_id: NameQuery = None,
        status: Annotated[
            Literal["pending", "approved", "issued", "refused"] | None, Query()
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 100,
    ) -> list[dict[str, Any]]:
        found = svc(request).licensing.list_applications(
            owner_id=owner_id, status=status, limit=limit
        )
        return [asdict(a) for a in found]

    @app.get("/v1/licenses/applications/{application_id}", tags=["licensing"])
    def get_application(request: Request, application_id: IdPath) -> dict[str, Any]:
        return asdict(svc(request).licensing.get_application(application_id))

    @app.post("/v1/licenses/applications/{application_id}/approvals", tags=["licensing"])
    def approve(request: Request, application_id: IdPath, caller: Member) -> dict[str, Any]:
        out = svc(request).licensing.approve(caller, application_id)
        _state(request).count("licenses_issued", len(out.license_ids))
        return asdict(out)

    @app.get("/v1/licenses", tags=["licensing"])
    def list_licenses(
        request: Request,
        chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
        owner_id: NameQuery = None,
        after: AfterQuery = 0,
        limit: LimitQuery = 1000,
    ) -> list[dict[str, Any]]:
        found = svc(request).licensing.list_licenses(
            chip_id=chip_id, owner_id=owner_id, after=after, limit=limit
        )
        return [asdict(lic) for lic in found]

    @app.get("/v1/licenses/{license_id}", tags=["licensing"])
    def get_license(request: Request, license_id: IdPath) -> dict[str, Any]:
        return asdict(svc(request).licensing.get_license(license_id))

    # -- pause and resume ---------------------------------------------------------------

    @app.post("/v1/orders/proposals", tags=["orders"], status_code=201)
    def propose(request: Request, body: ProposalIn, caller: Member) -> dict[str, Any]:
        scope = scope_from_json(body.scope.model_dump()) if body.scope else None
        proposal = svc(request).orders.propose(
            caller,
            kind=body.kind,
            scope=scope,
            reason=body.reason,
            effective_at=body.effective_at,
            lifts=body.lifts,
        )
        return asdict(proposal)

    @app.get("/v1/orders/proposals", tags=["orders"])
    def list_proposals(
        request: Request,
        status: Annotated[Literal["open", "assembled"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 100,
    ) -> list[dict[str, Any]]:
        return [asdict(p) for p in svc(request).orders.list_proposals(status=status, limit=limit)]

    @app.get("/v1/orders/proposals/{proposal_id}", tags=["orders"])
    def get_proposal(request: Request, proposal_id: IdPath) -> dict[str, Any]:
        return asdict(svc(request).orders.get_proposal(proposal_id))

    @app.post("/v1/orders/proposals/{proposal_id}/signatures", tags=["orders"])
    async def sign_proposal(
        request: Request, proposal_id: IdPath, body: SignatureIn, caller: Member
    ) -> dict[str, Any]:
        st = _state(request)
        out = await run_in_threadpool(
            st.service.orders.sign_proposal,
            caller,
            proposal_id,
            key_id_hex=body.key_id,
            sig_hex=body.sig,
        )
        if out.assembled_now:
            st.count("orders_assembled")
            await st.feed.refresh()
        return asdict(out)

    @app.get("/v1/orders", tags=["orders"])
    def list_orders(
        request: Request,
        after: AfterQuery = 0,
        active: bool | None = None,
        limit: LimitQuery = 1000,
    ) -> list[dict[str, Any]]:
        found = svc(request).orders.list_orders(after=after, active=active, limit=limit)
        return [asdict(o) for o in found]

    @app.get("/v1/orders/watch", tags=["orders"])
    async def watch_orders(
        request: Request,
        after: AfterQuery = 0,
        timeout: Annotated[float, Query(ge=0, le=300)] = 30.0,
    ) -> Response:
        """Long-poll: answers as soon as an order with a sequence above ``after`` exists
        (or with an empty list after ``timeout`` seconds)."""
        st = _state(request)
        await st.feed.wait(after, min(timeout, st.settings.longpoll_max))
        return Response(st.feed.body_after(after), media_type="application/json")

    @app.get("/v1/orders/stream", tags=["orders"])
    async def stream_orders(request: Request, after: AfterQuery = 0) -> EventSourceResponse:
        """Server-sent events: one ``order`` event per order above ``after``
        (or the Last-Event-ID header), as they are assembled."""
        st = _state(request)
        last_id = request.headers.get("last-event-id")
        start = int(last_id) if last_id and last_id.isdigit() and len(last_id) < 19 else after

        async def events() -> AsyncIterator[ServerSentEvent]:
            seen = start
            while True:
                for order in st.feed.after(seen):
                    seen = order["sequence"]
                    yield ServerSentEvent(data=json.dumps(order), event="order", id=str(seen))
                await st.feed.wait(seen, 15.0)

        return EventSourceResponse(events(), ping=15)

    @app.get("/v1/orders/{sequence}", tags=["orders"])
    def get_order(request: Request, sequence: IdPath) -> dict[str, Any]:
        return asdict(svc(request).orders.get_order(sequence))

    # -- usage reports --------------------------------------------------------------------

    @app.post(
        "/v1/reports",
        tags=["reports"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/cbor": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def ingest(request: Request, caller: Operator) -> dict[str, Any]:
        """A batch of signed usage reports: a canonical CBOR array of envelope byte strings."""
        st = _state(request)
        raw = await request.body()
        try:
            value = encoding.decode(raw, max_size=st.settings.max_report_body)
        except errors.EncodingError as exc:
            exc.details.setdefault("field", "body")
            raise
        if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
            raise errors.SchemaError(
                "body must be a CBOR array of report envelopes (byte strings)", field="body"
            )
        out = await run_in_threadpool(st.service.reports.ingest, caller, value)
        st.count("reports_accepted", out.accepted)
        return asdict(out)

    @app.get("/v1/chips/{chip_id}/reports", tags=["reports"])
    def list_reports(
        request: Request, chip_id: ChipIdPath, after: AfterQuery = 0, limit: LimitQuery = 1000
    ) -> list[dict[str, Any]]:
        found = svc(request).reports.list_reports(chip_id, after=after, limit=limit)
        return [asdict(r) for r in found]

    @app.get("/v1/alerts", tags=["reports"])
    def list_alerts(
        request: Request,
        after: AfterQuery = 0,
        kind: Annotated[str | None, Query(pattern="^[a-z_]{1,32}$")] = None,
        chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
        limit: LimitQuery = 1000,
    ) -> list[dict[str, Any]]:
        found = svc(request).reports.list_alerts(
            after=after, kind=kind, chip_id=chip_id, limit=limit
        )
        return [asdict(a) for a in found]

    # -- transparency log ------------------------------------------------------------------

    if settings.log_key is not None:
        # the router is built now; its service is bound at start-up (after migrations)
        app.include_router(
            # GETs never write: each worker signs a checkpoint every checkpoint_interval
            log_router(_LazyLogService(log_service), sign_on_read=False),  # type: ignore[arg-type]
            prefix="/v1/log",
        )

    # -- prohibited artifacts ------------------------------------------------------------

    @app.post(
        "/v1/prohibited",
        tags=["artifacts"],
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/cbor": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def publish_prohibited(request: Request, caller: Member) -> dict[str, Any]:
        """Publish a ProhibitedArtifacts envelope signed by the pause role's K of N
        (raw CBOR body); it is logged and served to node agents at GET /v1/prohibited."""
        raw = await request.body()
        out = await run_in_threadpool(svc(request).artifacts.publish_prohibited, caller, raw)
        _state(request).count("prohibited_lists")
        return asdict(out)

    @app.get("/v1/prohibited", tags=["artifacts"])
    def newest_prohibited(request: Request) -> dict[str, Any]:
        """The newest published list: ``{sequence, issued_at, artifacts, log_index,
        envelope (base64)}``; 404 ``not_found`` before the first."""
        return asdict(svc(request).artifacts.newest_prohibited())

    @app.post("/v1/artifact-reports", tags=["artifacts"])
    def report_artifacts(
        request: Request, body: ArtifactReportsIn, caller: Operator
    ) -> dict[str, Any]:
        """Refused loads of prohibited artifacts, reported by node agents; each new one
        raises a ``prohibited_artifact`` alert (GET /v1/alerts)."""
        out = svc(request).artifacts.report_artifacts(
            caller, [r.model_dump() for r in body.reports]
        )
        _state(request).count("artifact_reports", out.accepted)
        return asdict(out)

    @app.get("/v1/artifact-reports", tags=["artifacts"])
    def list_artifact_reports(
        request: Request,
        owner_id: NameQuery = None,
        after: AfterQuery = 0,
        limit: LimitQuery = 1000,
    ) -> list[dict[str, Any]]:
        found = svc(request).artifacts.list_artifact_reports(
            owner_id=owner_id, after=after, limit=limit
        )
        return [asdict(r) for r in found]

    # -- location verification ------------------------------------------------------------

    @app.post(
        "/v1/location/measurements",
        tags=["location"],
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/cbor": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def submit_measurement(request: Request) -> dict[str, Any]:
        """One landmark's signed Measurement (raw envelope, what ``landmark serve
        --authority-url`` sends). Self-authenticating (a trust-root landmark key signs
        it), so no request signature; refused with ``bad_signature``, ``not_found``,
        ``expired``, ``not_yet_valid`` or ``replay``."""
        raw = await request.body()
        out = await run_in_threadpool(svc(request).location.submit_measurement, raw)
        _state(request).count("location_measurements")
        return asdict(out)

    @app.post("/v1/location/checks/run", tags=["location"])
    def run_location_checks(
        request: Request, caller: Admin, body: Annotated[dict[str, Any] | None, Body()] = None
    ) -> dict[str, Any]:
        """Run the location checks now (they also run every ``location_interval`` s)."""
        s = svc(request)
        return {"checks": [asdict(c) for c in s.location.run_location_checks(s.now())]}

    @app.get("/v1/location/checks", tags=["location"])
    def list_location_checks(
        request: Request,
        chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
        after: AfterQuery = 0,
        limit: LimitQuery = 1000,
    ) -> list[dict[str, Any]]:
        """Stored check results, oldest first: verdict, evidence, log index, alert id."""
        found = svc(request).location.list_location_checks(
            chip_id=chip_id, after=after, limit=limit
        )
        return [asdict(c) for c in found]

    @app.get("/v1/location/measurements", tags=["location"])
    def list_location_measurements(
        request: Request,
        chip_id: Annotated[str, Query(pattern="^[0-9a-f]{64}$")],
        after: AfterQuery = 0,
        limit: LimitQuery = 1000,
    ) -> list[dict[str, Any]]:
        """A chip's stored measurements (envelope base64)."""
        found = svc(request).location.list_location_measurements(chip_id, after=after, limit=limit)
        return [asdict(m) for m in found]

    # -- time tokens -------------------------------------------------------------------

    @app.get(
        "/v1/time",
        tags=["time"],
        responses={200: {"content": {"application/cbor": {}}}},
    )
    def time_token(
        request: Request,
        chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
    ) -> Response:
        """A TimeToken signed by the time role (JSON with the base64 envelope, or the raw
        envelope when the request accepts ``application/cbor``); ``chip_id`` binds it to
        one chip. 503 when the server has no time key."""
        out = svc(request).time.time_token(chip_id)
        _state(request).count("time_tokens")
        if "application/cbor" in request.headers.get("accept", ""):
            return Response(unb64(out.envelope, "envelope"), media_type="application/cbor")
        return JSONResponse(asdict(out))

    # -- audit ---------------------------------------------------------------------------

    @app.get("/v1/audit/log", tags=["audit"])
    def log_entries(
        request: Request,
        start: AfterQuery = 0,
        end: Annotated[int | None, Query(ge=0, le=BIG)] = None,
    ) -> dict[str, Any]:
        s = svc(request)
        return {"size": s.audit.log_size(), "entries": s.audit.log_entries(start, end)}

    @app.post("/v1/audit/auth-events", tags=["audit"])
    def auth_events(
        request: Request, caller: Admin, body: Annotated[dict[str, Any] | None, Body()] = None
    ) -> list[dict[str, Any]]:
        """Recent 401/403 answers (a signed admin request, hence POST)."""
        return [asdict(e) for e in svc(request).keys.auth_events()]

    return app


class _LockedLogService(LogService):
    """The log service with its writes (checkpoints, cosignatures) queued behind this
    process's other SQLite writers, so they never busy-wait inside SQLite."""

    def __init__(self, *args: Any, lock: Any = None) -> None:
        super().__init__(*args)
        self._lock = lock

    def checkpoint(self) -> Any:
        with self._lock if self._lock is not None else contextlib.nullcontext():
            return super().checkpoint()

    def add_cosignature(self, note: str | bytes) -> Any:
        with self._lock if self._lock is not None else contextlib.nullcontext():
            return super().add_cosignature(note)


async def _checkpointer(
    service: LogService | None, db: Database, interval: float, stop: asyncio.Event
) -> None:
    """Every ``interval`` seconds: sign a log checkpoint if the log has grown, and move
    SQLite's write-ahead log into the database off the writers' path."""
    while not stop.is_set():
        if service is not None:
            with contextlib.suppress(Exception):
                await run_in_threadpool(service.checkpoint)
        with contextlib.suppress(Exception):
            await run_in_threadpool(db.checkpoint_wal)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def _location_checker(service: Authority, interval: float, stop: asyncio.Event) -> None:
    """Every ``interval`` seconds: run the location checks (the first run one interval
    after start-up). A failed run is retried at the next interval."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            break
        with contextlib.suppress(Exception):
            await run_in_threadpool(service.location.run_location_checks, service.now())


class _LazyLogService:
    """Forwards to the LogService created in the lifespan (routers are built earlier)."""

    def __init__(self, holder: list[LogService]) -> None:
        self._holder = holder

    def __getattr__(self, name: str) -> Any:
        if not self._holder:
            raise errors.ServiceError("the transparency log is starting")
        return getattr(self._holder[0], name)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings from the file named by PB_AUTHORITY_SETTINGS."""
    path = os.environ.get("PB_AUTHORITY_SETTINGS")
    if not path:
        raise errors.UsageError("PB_AUTHORITY_SETTINGS is not set")
    return create_app(Settings.from_file(path))
