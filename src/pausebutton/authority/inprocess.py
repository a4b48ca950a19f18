"""Run an ASGI app in-process behind a synchronous ``httpx.Client``.

The app (with its lifespan) runs on an event loop in a background thread;
requests go through ``httpx.ASGITransport``. For tests and tools that want the
real HTTP stack (routing, validation, signatures) without a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx

log = logging.getLogger(__name__)


class _SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            areq = httpx.Request(request.method, request.url, headers=request.headers, content=body)
            resp = await self._inner.handle_async_request(areq)
            data = b"".join([chunk async for chunk in resp.stream])  # type: ignore[union-attr]
            return resp.status_code, list(resp.headers.raw), data

        status, headers, data = asyncio.run_coroutine_threadsafe(call(), self._loop).result()
        return httpx.Response(status, headers=headers, content=data, request=request)


@contextlib.contextmanager
def serve_in_process(app: Any, base_url: str = "http://testserver") -> Iterator[httpx.Client]:
    """Start ``app``'s lifespan on a background loop; yield a client bound to it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started: asyncio.Event | None = None
    stop: asyncio.Event | None = None
    errors: list[BaseException] = []

    async def lifespan() -> None:
        nonlocal started, stop
        started, stop = asyncio.Event(), asyncio.Event()
        try:
            async with app.router.lifespan_context(app):
                started.set()
                await stop.wait()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)
            started.set()

    fut = asyncio.run_coroutine_threadsafe(lifespan(), loop)

    async def wait_started() -> None:
        while started is None:
            await asyncio.sleep(0)
        await started.wait()

    asyncio.run_coroutine_threadsafe(wait_started(), loop).result(60)
    if errors:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        raise errors[0]
    client = httpx.Client(transport=_SyncASGITransport(app, loop), base_url=base_url)
    try:
        yield client
    finally:
        client.close()
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        try:
            fut.result(30)
        except Exception:  # the client's work is done; a failed shutdown is only reported
            log.exception("the in-process app did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
