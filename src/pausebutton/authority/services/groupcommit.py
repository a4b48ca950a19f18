"""Group commit: concurrent calls of one write, gathered into one transaction.

One committer thread per :class:`GroupCommit` (and process) takes the calls queued,
in arrival order: it takes the writer lock (SQLite: this process's FIFO lock, then the
lock file every worker process shares), opens the transaction, then takes every call
queued by then (at most ``limit``), also those that came while it waited for the lock,
runs the batch function over their items in order and commits: one writer-lock turn
and one fsync for the batch. No window is waited for: alone, a call commits at once;
under load, a batch holds what arrived during the previous commit.

A caller waits without holding anything: a thread on an event (:meth:`submit`), a
coroutine on a future (:meth:`submit_async`, so a batch is not capped by the size of
the thread pool). The batch function returns one outcome per item: a value, or a
:class:`PausebuttonError` that is that item's alone (its caller gets it, the others
still commit; the function must then have written nothing for it). An exception out of
the function or the commit fails every call of the batch, after the retries of the
whole batch that :meth:`Store.retry` makes after a deadlock or a serialization failure.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection

from pausebutton.authority.services.base import Store
from pausebutton.errors import PausebuttonError

log = logging.getLogger(__name__)

IDLE_S = 10.0
"""A committer thread with nothing to do for this long ends (the next call starts one)."""

ItemT = TypeVar("ItemT")
OutT = TypeVar("OutT")


class _Slot(Generic[ItemT, OutT]):
    """One call waiting in a :class:`GroupCommit`: its item, then its outcome."""

    __slots__ = ("error", "event", "future", "item", "out")

    def __init__(
        self,
        item: ItemT,
        future: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None,
    ) -> None:
        self.item = item
        self.future = future
        self.event = threading.Event() if future is None else None
        self.out: OutT | None = None
        self.error: BaseException | None = None

    def finish(self) -> None:
        """Wake the caller (its outcome is set)."""
        if self.event is not None:
            self.event.set()
            return
        assert self.future is not None
        loop, fut = self.future

        def resolve() -> None:
            if not fut.done():  # a caller that went away (cancelled) gets nothing
                fut.set_result(None)

        try:
            loop.call_soon_threadsafe(resolve)
        except RuntimeError:  # its loop has closed: nobody is waiting any more
            log.info("a group-commit caller's event loop closed before its answer")

    def result(self) -> OutT:
        if self.error is not None:
            raise self.error
        return self.out  # type: ignore[return-value]


class GroupCommit(Generic[ItemT, OutT]):
    """Concurrent calls of one write in this process, committed in batches by one
    committer thread (module docstring). Inside :meth:`Store.batch` a call runs alone,
    at once, in the enclosing transaction."""

    def __init__(
        self,
        store: Store,
        run: Callable[[Connection, list[ItemT]], list[OutT | PausebuttonError]],
        name: str,
        limit: int = 64,
        *,
        light: bool = False,
    ) -> None:
        self.store = store
        self.run = run
        self.name = name
        self.limit = limit
        self.light = light
        """Commit on the light engine (writes whose loss in a power cut is harmless)."""
        self._cond = threading.Condition()
        self._queue: collections.deque[_Slot[ItemT, OutT]] = collections.deque()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.batches = 0
        """Batches committed (or failed) in this process."""
        self.items = 0
        """Calls those batches held."""

    @property
    def waiting(self) -> int:
        """Calls queued for the next batch."""
        with self._cond:
            return len(self._queue)

    def submit(self, item: ItemT) -> OutT:
        """Run ``item`` in the next batch and wait for it; its outcome (or its error)."""
        if self.store.in_batch() and not self.light:
            with self.store.write() as conn:
                (alone,) = self.run(conn, [item])
            if isinstance(alone, PausebuttonError):
                raise alone
            return alone
        slot: _Slot[ItemT, OutT] = _Slot(item)
        self._enqueue(slot)
        assert slot.event is not None
        slot.event.wait()
        return slot.result()

    async def submit_async(self, item: ItemT) -> OutT:
        """:meth:`submit` for a coroutine: it waits on a future, holding no thread."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        slot: _Slot[ItemT, OutT] = _Slot(item, (loop, fut))
        self._enqueue(slot)
        await fut
        return slot.result()

    def _enqueue(self, slot: _Slot[ItemT, OutT]) -> None:
        with self._cond:
            self._queue.append(slot)
            if self._thread is None or self._pid != os.getpid():
                # one committer per process (a forked child starts its own)
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._commit_forever, name=f"group-commit-{self.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _commit_forever(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    if not self._cond.wait(IDLE_S) and not self._queue:
                        self._thread = None  # idle: the next call starts another
                        return
            self._commit()

    def _take(self, limit: int) -> list[_Slot[ItemT, OutT]]:
        with self._cond:
            return [self._queue.popleft() for _ in range(min(limit, len(self._queue)))]

    def _commit(self) -> None:
        """One batch: the writer lock, the calls queued by then, the function, the commit."""
        batch: list[_Slot[ItemT, OutT]] = []
        engine = self.store.db.light if self.light else self.store.db.write

        def attempt() -> list[OutT | PausebuttonError]:
            with self.store.write_lock(), engine.begin() as conn:
                if not batch:  # the first attempt; a retry runs the same calls again
                    batch.extend(self._take(self.limit))
                return self.run(conn, [s.item for s in batch])

        try:
            outcomes = self.store.retry(attempt)
        except Exception as exc:  # noqa: BLE001 - every call of the batch raises it
            log.warning("a batch of %d %s failed: %r", len(batch), self.name, exc)
            if not batch:  # it failed before taking the calls: the first one fails
                batch.extend(self._take(1))
            for s in batch:
                s.error = exc
        else:
            for s, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, PausebuttonError):
                    s.error = outcome
                else:
                    s.out = outcome
        self.batches += 1
        self.items += len(batch)
        for s in batch:
            s.finish()
