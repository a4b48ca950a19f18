"""The authority's HTTP API (FastAPI): thin routes over :class:`Authority`.

``create_app(settings)`` builds a fresh application (no globals, no work at import
time); start-up runs migrations (unless told not to), registers the configured admin
keys and starts the background loops (``background``). Routes (``routers``, one per
OpenAPI tag) parse, call the service once, and answer a declared response model
(``models``), so ``/openapi.json`` describes every answer. JSON under ``/v1``; usage
reports as ``application/cbor``.

Errors: every rejection is a JSON body ``{"error": code, "message": ..., "field": ...}``
with a 4xx status (each error class names its ``http_status``; ``errors``); 401/403
answers are recorded in the ``auth_events`` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, MutableMapping

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool

from pausebutton.authority.api.background import (
    LockedLogService,
    LoopHealth,
    OrderFeed,
    checkpointer,
    detector,
    location_checker,
    root_follower,
    webhook_sender,
)
from pausebutton.authority.api.deps import AppState
from pausebutton.authority.api.errors import install as install_error_handlers
from pausebutton.authority.api.metrics import Metrics
from pausebutton.authority.api.middleware import BodyLimit
from pausebutton.authority.api.models import error_responses
from pausebutton.authority.api.routers import (
    artifacts,
    audit,
    detection,
    gnss,
    licensing,
    location,
    meta,
    notifications,
    orders,
    registry,
    reports,
    roots,
    supply,
    timetokens,
)
from pausebutton.authority.auth import RateLimiter
from pausebutton.authority.db import Database, migrate
from pausebutton.authority.services import Authority
from pausebutton.authority.settings import Settings
from pausebutton.errors import UsageError
from pausebutton.translog.http import log_router
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.store import LogService, LogStore

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Registry, licensing, K-of-N pause orders and usage-report ingestion. Writes are"
    " RFC 9421 HTTP Message Signatures (Ed25519) covering @method, @authority, @path,"
    " @query and content-digest, with keyid, created and nonce parameters."
)


def create_app(settings: Settings) -> FastAPI:
    """Build the authority's ASGI application for ``settings``."""
    root = settings.trust_root()
    db = Database.connect(settings.database_url)
    metrics = Metrics()
    # the log service reads and writes through the database's engine; building it
    # touches no table, so it exists before the routes that serve it
    log_service: LogService | None = None
    if settings.log_key is not None:
        log_service = LockedLogService(
            LogStore(db.read, create=False),
            settings.log_key,
            LogPolicy.from_trust_root(root),
            lock=db.write_lock if db.sqlite else None,
        )

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
            root_bytes=settings.root_bytes,
        )
        service.store.on_retry = lambda: metrics.count("deadlock_retries")
        service.verifiers.on_failure = lambda: metrics.count("verifier_failures")
        for raw in settings.admin_keys:
            await run_in_threadpool(service.keys.bootstrap_admin, raw)
        health = LoopHealth(metrics)
        feed = OrderFeed(service, settings.poll_interval, metrics)
        limiter = RateLimiter(settings.write_rate, settings.write_burst)
        app.state.pb = state = AppState(
            settings, service, feed, limiter, metrics, health, log_service
        )

        async def adopt_newest_root() -> None:
            # a root the members changed to (here or on another worker) is the one in force
            _, newest = await run_in_threadpool(service.roots.newest)
            if newest.version > service.root.version and service.adopt_root(newest):
                state.forget_all()
                if log_service is not None:
                    log_service.policy = LogPolicy.from_trust_root(newest)

        await adopt_newest_root()
        await feed.refresh()
        await _warm_up(app, service)
        if settings.gc_freeze:
            # Everything built so far (modules, routes, decoders, the service) lives as
            # long as the worker: move it out of the collector's generations, so a full
            # collection walks only what requests made since. Without it a full collection
            # stalled a worker for about 0.2 s now and then, the licence benchmark's p99
            # (docs/scaling.md).
            gc.collect()
            gc.freeze()
        stop = asyncio.Event()
        loops = [
            feed.run(stop, health),
            checkpointer(log_service, db, settings.checkpoint_interval, stop, health),
            root_follower(adopt_newest_root, max(1.0, settings.poll_interval), stop, health),
            webhook_sender(service, max(0.5, settings.poll_interval), stop, health),
        ]
        if settings.location_interval > 0:
            loops.append(location_checker(service, settings.location_interval, stop, health))
        if settings.detection_interval > 0:
            loops.append(detector(service, settings.detection_interval, stop, health))
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task
            metrics.close()
            service.close()
            db.dispose()

    app = FastAPI(
        title="pausebutton licensing authority",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        default=settings.max_body,
        large=settings.max_report_body,
        large_prefix="/v1/reports",
    )
    # every route reads the database: each may answer 503 while it is unavailable
    unavailable = error_responses(503)
    for module in (
        meta,
        registry,
        licensing,
        orders,
        reports,
        artifacts,
        roots,
        notifications,
        location,
        timetokens,
        detection,
        supply,
        gnss,
    ):
        app.include_router(module.router, responses=unavailable)
    if settings.whistle_key is not None:
        app.include_router(_whistle_router(settings), responses=unavailable)
    if log_service is not None:
        # GETs never write: each worker signs a checkpoint every checkpoint_interval
        app.include_router(
            log_router(log_service, sign_on_read=False), prefix="/v1/log", responses=unavailable
        )
    app.include_router(audit.router, responses=unavailable)
    return app


WARM_UP_PATH = "/.well-known/pausebutton/warm-up"
"""A path no route serves: the start-up request to it walks every router."""


async def _warm_up(app: FastAPI, service: Authority) -> None:
    """Do at start-up what each worker would otherwise do on its first requests:
    FastAPI builds a router's route state (a pydantic adapter per model, the docstrings
    of every result field read from the source) when a request first walks it, which
    costs a fresh worker about 0.3 s of CPU in the middle of its first requests (the
    ingestion benchmark lost a fifth of its rate to it). One request to a path no route
    serves walks every router; it is answered 404 in-process and never sent anywhere.
    Then the ingestion's decoders are built (``ReportService.warm_up``)."""
    sent: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, object]) -> None:
        if message["type"] == "http.response.start":
            sent.append(int(message["status"]))  # type: ignore[call-overload]

    scope: dict[str, object] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": WARM_UP_PATH,
        "raw_path": WARM_UP_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": None,
        "server": None,
    }
    await app(scope, receive, send)
    if sent != [404]:
        # the routes were still walked; a route that serves this path is a mistake
        log.warning("the start-up request to %s answered %s, not 404", WARM_UP_PATH, sent)
    await run_in_threadpool(service.reports.warm_up)


def _whistle_router(settings: Settings) -> APIRouter:
    """The whistleblower channel's intake (sealed submissions only; ``detect.api``)."""
    from pausebutton.detect.api import make_whistle_router
    from pausebutton.detect.whistle import WhistleStore

    if settings.whistle_key is None or not settings.whistle_store:
        raise UsageError("the whistleblower channel needs its public key and a store path")
    return make_whistle_router(WhistleStore(settings.whistle_store), settings.whistle_key)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings from the file named by PB_AUTHORITY_SETTINGS."""
    path = os.environ.get("PB_AUTHORITY_SETTINGS")
    if not path:
        raise UsageError("PB_AUTHORITY_SETTINGS is not set")
    return create_app(Settings.from_file(path))


__all__ = ["app_from_env", "create_app"]
