"""The API's background work: the order feed, the log checkpointer, SQLite's WAL
checkpoint and the location checks, each a loop that runs until the app stops.

A failed run is never silent: it is logged (under ``pausebutton.authority.api``), counted
(``pausebutton_authority_background_failures_total{loop=...}``) and, until a later run of
that loop succeeds, makes ``/healthz`` answer 503 ``degraded`` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool

from pausebutton.authority.api.metrics import Metrics
from pausebutton.authority.db import Database
from pausebutton.authority.services import Authority
from pausebutton.translog.store import LogService

log = logging.getLogger(__name__)

ORDER_FEED = "order_feed"
CHECKPOINTER = "checkpointer"
WAL = "wal_checkpoint"
LOCATION = "location_checks"
DETECTION = "detection"
ROOTS = "root_follower"
WEBHOOKS = "webhooks"
LOOPS = (ORDER_FEED, CHECKPOINTER, WAL, LOCATION, DETECTION, ROOTS, WEBHOOKS)


class LoopHealth:
    """Which background loops are failing now, and why (read by ``/healthz``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.failing: dict[str, str] = {}
        for name in LOOPS:
            metrics.loop_failures.labels(name)
            metrics.loop_failing.labels(name).set(0)

    async def run(self, name: str, work: Callable[[], Awaitable[Any]]) -> bool:
        """Run one round of loop ``name``; True if it succeeded. A failure is logged,
        counted and remembered until a later round of the loop succeeds."""
        try:
            await work()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:500]
            first = name not in self.failing
            self.failing[name] = reason
            self.metrics.loop_failures.labels(name).inc()
            self.metrics.loop_failing.labels(name).set(1)
            log.error("background loop %s failed: %s", name, reason, exc_info=first)
            return False
        if name in self.failing:
            del self.failing[name]
            self.metrics.loop_failing.labels(name).set(0)
            log.warning("background loop %s recovered", name)
        return True

    def reasons(self) -> list[str]:
        return [f"{name}: {reason}" for name, reason in sorted(self.failing.items())]


class OrderFeed:
    """Delivers assembled orders to waiting clients of this worker.

    The worker that assembles an order wakes its waiters at once; every worker
    also polls the database (``poll_interval``) for orders other workers made.
    """

    def __init__(self, service: Authority, poll_interval: float, metrics: Metrics) -> None:
        self.service = service
        self.poll_interval = poll_interval
        self.metrics = metrics
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
            new = await run_in_threadpool(self.service.orders.list_orders, after=self.last)
            if not new:
                return
            self.orders.extend(dataclasses.asdict(o) for o in new)
            self.last = max(o["sequence"] for o in self.orders)
            self._cache.clear()
            event, self._event = self._event, asyncio.Event()
            event.set()

    async def run(self, stop: asyncio.Event, health: LoopHealth) -> None:
        """Poll until ``stop`` is set (never cancelled mid-query: a database call in a
        worker thread always finishes before shutdown disposes the engine)."""
        while not stop.is_set():
            await health.run(ORDER_FEED, self.refresh)
            await _sleep(stop, self.poll_interval)

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
        self._waiters(+1)
        try:
            async with asyncio.timeout(timeout):  # no extra task per waiter (cheap at 10,000s)
                while self.last <= seq:
                    await self._event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters(-1)

    def _waiters(self, delta: int) -> None:
        self.waiting += delta
        self.metrics.order_waiters.inc(delta)


class LockedLogService(LogService):
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


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def checkpointer(
    service: LogService | None,
    db: Database,
    interval: float,
    stop: asyncio.Event,
    health: LoopHealth,
) -> None:
    """Every ``interval`` seconds: sign a log checkpoint if the log has grown, and move
    SQLite's write-ahead log into the database off the writers' path."""
    while not stop.is_set():
        if service is not None:
            await health.run(CHECKPOINTER, lambda: run_in_threadpool(service.checkpoint))
        await health.run(WAL, lambda: run_in_threadpool(db.checkpoint_wal))
        await _sleep(stop, interval)


async def location_checker(
    service: Authority, interval: float, stop: asyncio.Event, health: LoopHealth
) -> None:
    """Every ``interval`` seconds: run the location checks (the first run one interval
    after start-up). A failed run is retried at the next interval."""
    while not stop.is_set():
        await _sleep(stop, interval)
        if stop.is_set():
            break
        await health.run(
            LOCATION, lambda: run_in_threadpool(service.location.run_location_checks, service.now())
        )


async def detector(
    service: Authority, interval: float, stop: asyncio.Event, health: LoopHealth
) -> None:
    """Every ``interval`` seconds: run the verification engine over the evidence
    (``authority/detection.py``; the first run one interval after start-up)."""
    from pausebutton.authority.detection import run_detection

    while not stop.is_set():
        await _sleep(stop, interval)
        if stop.is_set():
            break
        await health.run(DETECTION, lambda: run_in_threadpool(run_detection, service))


async def root_follower(
    adopt: Callable[[], Awaitable[Any]], interval: float, stop: asyncio.Event, health: LoopHealth
) -> None:
    """Adopt a trust root another worker accepted (``adopt`` does one look)."""
    while not stop.is_set():
        await health.run(ROOTS, adopt)
        await _sleep(stop, interval)


async def webhook_sender(
    service: Authority, interval: float, stop: asyncio.Event, health: LoopHealth
) -> None:
    """Deliver queued notifications to webhooks (each POST bounded by 5 s)."""
    import httpx

    with httpx.Client(timeout=5.0, follow_redirects=False) as http:

        def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            try:
                return http.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                raise OSError(f"{type(exc).__name__}: {exc}") from None

        async def round_() -> None:
            await run_in_threadpool(service.webhooks.deliver, post)

        while not stop.is_set():
            await health.run(WEBHOOKS, round_)
            await _sleep(stop, interval)
