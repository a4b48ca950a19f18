"""Database engines and migrations (SQLite with WAL by default; PostgreSQL via psycopg 3).

SQLite: every write transaction starts with ``BEGIN IMMEDIATE`` so concurrent
workers queue on the database lock instead of failing on a lock upgrade; reads
use a second engine with ordinary deferred transactions (WAL lets them run
beside a writer). PostgreSQL: one engine; writers serialise on row locks.
"""

from __future__ import annotations

import collections
import fcntl
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and select the psycopg 3 driver for it."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(url: str) -> bool:
    return normalise_url(url).startswith("sqlite")


MMAP_SIZE = 1 << 30
"""The most of an SQLite database file each connection maps (address space, not memory)."""


def _sqlite_engine(url: str, *, immediate: bool, synchronous: str = "FULL") -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": 60, "check_same_thread": False},
        pool_size=8,
        max_overflow=64,
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        # pages read through a memory map, not copied in by a read call each: another
        # worker's commit empties this connection's page cache, so an ingestion batch
        # reads most of its pages afresh (about 5 % of a report's CPU, docs/scaling.md)
        cur.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
        # the app moves the WAL into the database in the background (Database.checkpoint_wal)
        # so that no committing writer pays for it; this is only the safety net
        cur.execute("PRAGMA wal_autocheckpoint=65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class FairLock:
    """A FIFO lock: writers get the database in arrival order (no starvation, short tails)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._held = False

    def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # ownership is handed over by release()

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class WriterLock:
    """The SQLite writers' lock: the process's ``FairLock`` (threads in arrival order),
    then, for a database file, an exclusive ``flock`` on ``<file>-writer.lock`` that
    every worker process of the same database takes too.

    Without it, workers meet only on SQLite's own lock, whose busy handler sleeps and
    polls (1, 2, 5, ... up to 100 ms between tries): a worker can sleep long after the
    database was free, so more workers gave fewer writes and longer tails. A blocked
    ``flock`` wakes as soon as the holder lets go, and the kernel releases it when a
    process dies."""

    def __init__(self, path: Path | None = None) -> None:
        self.fair = FairLock()
        self._path = path
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            # opened per process: a forked child must not share its parent's open file
            # (flock locks belong to the open file, so the two would not exclude)
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        self.fair.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self.fair.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self.fair.release()

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


@dataclass
class Database:
    """The write and read engines of one database.

    ``write_lock`` queues this process's SQLite writers in Python (fair, no
    busy-sleep polling inside SQLite); other processes still wait on the
    database lock itself.
    """

    url: str
    write: Engine
    read: Engine
    light: Engine
    """Writes whose loss in a power cut is harmless (request nonces, auth events):
    committed without waiting for the disk (a crashed process still loses nothing)."""
    write_lock: WriterLock = field(default_factory=WriterLock)

    @classmethod
    def connect(cls, url: str) -> Database:
        url = normalise_url(url)
        if is_sqlite(url):
            if url.startswith("sqlite:///") and ":memory:" not in url:
                Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            write = _sqlite_engine(url, immediate=True)
            read = _sqlite_engine(url, immediate=False)
            light = _sqlite_engine(url, immediate=True, synchronous="NORMAL")
            lock_file = None
            if url.startswith("sqlite:///") and ":memory:" not in url:
                lock_file = Path(url[len("sqlite:///") :].split("?")[0] + "-writer.lock")
            return cls(url, write, read, light, WriterLock(lock_file))
        engine = create_engine(url, pool_size=20, max_overflow=40, pool_pre_ping=True)
        light = create_engine(url, pool_size=5, max_overflow=20, pool_pre_ping=True)

        @event.listens_for(light, "begin")
        def _async_commit(conn: Any) -> None:
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")

        return cls(url, engine, engine, light)

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    def checkpoint_wal(self) -> None:
        """SQLite: copy the write-ahead log into the database without blocking anyone
        (PASSIVE); the app calls this every second. No-op on PostgreSQL."""
        if not self.sqlite:
            return
        with self.read.connect() as conn:
            raw = conn.connection.dbapi_connection  # outside any transaction
            assert raw is not None
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def dispose(self) -> None:
        self.write.dispose()
        self.light.dispose()
        if self.read is not self.write:
            self.read.dispose()
        self.write_lock.close()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (Alembic upgrade)."""
    cfg = alembic_config()
    with db.write.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(db: Database) -> str | None:
    with db.read.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
