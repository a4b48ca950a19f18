"""What every aggregate of the authority shares: the one :class:`Store` (database,
transactions, clock, transparency-log sink), the authenticated :class:`Caller`, the
roles, and the checks of input values.

No HTTP here. Every service method takes the authenticated caller (or none for
reads), validates its input, and either commits everything it does in one
database transaction or raises a named error and changes nothing.

Lock order (docs/authority.md, "Lock order"): every write transaction takes its locks
in one fixed order, so two writers never wait on each other in a cycle:

1. policy keys (:meth:`Store.lock_keys`): PostgreSQL advisory transaction locks on
   ``owner:<id>`` (which covers the owner's runs) and ``country:<CC>``, in sorted order;
2. the row the decision is about (an application, a proposal, the prohibited list);
3. chip rows, in ascending ``chip_id``;
4. counter rows (licence id, order sequence, time sequence);
5. the transparency log's size row (``translog_meta``): the log append comes last.

Row locks are ``FOR NO KEY UPDATE`` (or ``FOR SHARE`` for facts only read), never
``FOR UPDATE``, so inserting a row that references a locked chip (a licence, a report,
a custody event) does not wait for it. A write that still meets a deadlock or a
serialization failure is retried whole (:meth:`Store.retry`, :func:`retried`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Concatenate, Literal, ParamSpec, Protocol, TypeVar, get_args

from sqlalchemy import Connection, Row, Select, Table, func, insert, select
from sqlalchemy import exc as sa_exc

from pausebutton.authority import tables as t
from pausebutton.authority.counters import ensure_counters
from pausebutton.authority.db import Database
from pausebutton.authority.log import LogSink, TranslogSink
from pausebutton.errors import ForbiddenError, NotFoundError, SchemaError

OPERATOR = "operator"
MEMBER = "member"
ADMIN = "admin"
SOURCE = "source"
"""A verification engine's signal source (utility, customs, inspector, analyst)."""
PARTY = "party"
"""A supply-chain party (fab, packaging site, vendor, exporter, ...) signing custody."""
ROLES = (OPERATOR, MEMBER, ADMIN, SOURCE, PARTY)

CHIP_STATES = ("registered", "installed", "decommissioned", "destroyed")
CustodyKind = Literal[
    "fabrication",
    "packaging",
    "design",
    "export",
    "import",
    "sale",
    "installation",
    "transfer",
    "board",
    "server",
    "rack",
    "decommissioning",
    "destruction",
]
CUSTODY_KINDS: tuple[str, ...] = get_args(CustodyKind)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
log = logging.getLogger(__name__)

RETRY_SQLSTATES = frozenset({"40001", "40P01"})
"""PostgreSQL's serialization_failure and deadlock_detected: the transaction was rolled
back whole and may simply run again."""
RETRY_ATTEMPTS = 8
RETRY_BASE_S = 0.01
RETRY_CAP_S = 0.5


class Result:
    """The base of every service result: a frozen dataclass whose fields, in order, are
    the API's JSON answer. The HTTP layer declares the result class itself as the
    route's response model (one shape per answer), and pydantic reads the settings
    below from it: every answer is checked field by field again (``revalidate``), a
    field too many is refused, and each field's docstring documents it in
    ``/openapi.json``. An answer that does not fit is a server fault, never sent on."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]
    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "extra": "forbid",
        "revalidate_instances": "always",
        "use_attribute_docstrings": True,
    }


ResultT = TypeVar("ResultT", bound=Result)
_FIELDS: dict[type[Result], tuple[str, ...]] = {}


def from_row(cls: type[ResultT], row: Any, **values: Any) -> ResultT:
    """A result of ``cls`` read from a database row (or a mapping): each field is the
    column of the same name, except those given in ``values`` (converted or renamed)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    columns = getattr(row, "_mapping", row)
    return cls(**{n: values[n] if n in values else columns[n] for n in names})


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request's principal."""

    key_id: str
    role: str
    name: str
    owner_id: str | None = None


def require(caller: Caller | None, *roles: str) -> Caller:
    """The caller, if it holds one of ``roles`` (else ForbiddenError)."""
    if caller is None:
        raise ForbiddenError("this operation needs a signed request")
    if caller.role not in roles:
        raise ForbiddenError(
            f"role {caller.role} may not do this (needs {' or '.join(roles)})",
            role=caller.role,
        )
    return caller


# -- input checks ------------------------------------------------------------------------


def check_id(value: str, field: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise SchemaError(
            f"{field} must be 1-128 characters of letters, digits and ._:@/-", field=field
        )
    return value


def check_country(value: str, field: str = "country") -> str:
    if (
        not isinstance(value, str)
        or len(value) != 2
        or not value.isascii()
        or not value.isalpha()
        or not value.isupper()
    ):
        raise SchemaError(f"{field} must be an ISO 3166 alpha-2 code like 'US'", field=field)
    return value


def check_text(value: str, field: str, max_len: int = 1024, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_len or (not empty and not value):
        raise SchemaError(f"{field} must be text of 1-{max_len} characters", field=field)
    return value


def check_time(value: object, field: str) -> int:
    """A Unix time (a non-negative int, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f"{field} must be a Unix time", field=field)
    return value


def parse_hex(value: str, size: int, field: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (ValueError, TypeError):
        raise SchemaError(f"{field} must be hex", field=field) from None
    if len(raw) != size:
        raise SchemaError(f"{field} must be {size} bytes ({2 * size} hex digits)", field=field)
    return raw


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(value: str, field: str, max_size: int = 1 << 20) -> bytes:
    if not isinstance(value, str) or len(value) > max_size * 4 // 3 + 8:
        raise SchemaError(f"{field} must be base64 of at most {max_size} bytes", field=field)
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise SchemaError(f"{field} is not valid base64", field=field) from None


# -- query helpers -------------------------------------------------------------------------


def insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """A bulk INSERT through the driver's executemany (plain values: text, ints, bytes),
    skipping SQLAlchemy's per-value processing; other drivers take the portable path."""
    cols = list(rows[0])
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marker is None:
        conn.execute(insert(table), rows)
        return
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([marker] * len(cols))})"
    conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])


def insert_rows(
    conn: Connection, table: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """``insert_many`` for rows already built as tuples in ``columns`` order (the hot
    path of report ingestion builds no per-row dict)."""
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marker is None:
        conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)})"
        f" VALUES ({', '.join([marker] * len(columns))})"
    )
    conn.exec_driver_sql(sql, rows)


def int_text(value: int) -> str:
    """A big integer as stored (decimal text)."""
    return str(int(value))


def page(table: Table, after: int, limit: int, **equal: str | None) -> Select[Any]:
    """Rows with id > ``after`` in id order (keyset paging), filtered on the given
    columns whose value is set."""
    stmt = select(table).where(table.c.id > after).order_by(table.c.id).limit(limit)
    for column, value in equal.items():
        if value:
            stmt = stmt.where(table.c[column] == value)
    return stmt


def owner_row(conn: Connection, owner_id: str) -> Row[Any]:
    """The owner's row (NotFoundError if there is none)."""
    row = conn.execute(select(t.owners).where(t.owners.c.id == owner_id)).first()
    if row is None:
        raise NotFoundError(f"no owner {owner_id!r}", field="owner_id")
    return row


def require_facility(conn: Connection, facility_id: str) -> None:
    """NotFoundError unless the facility exists."""
    found = conn.execute(select(t.facilities.c.id).where(t.facilities.c.id == facility_id))
    if found.first() is None:
        raise NotFoundError(f"no facility {facility_id!r}", field="facility_id")


# -- retries -------------------------------------------------------------------------------


def transient(exc: BaseException) -> bool:
    """A database error after which the whole transaction may run again: a deadlock or
    a serialization failure (PostgreSQL; SQLite's writers queue instead)."""
    if not isinstance(exc, sa_exc.DBAPIError) or exc.connection_invalidated:
        return False
    return getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES


def lock_key(name: str) -> int:
    """A policy key as a signed 64-bit PostgreSQL advisory-lock id."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# -- the shared store ----------------------------------------------------------------------


T = TypeVar("T")


class Store:
    """The one database every aggregate works on, with its transaction helpers, the
    clock (tests pass a fake one) and the transparency-log sink that registrations,
    custody events, licences and orders are appended to in their own transaction."""

    def __init__(
        self,
        db: Database,
        *,
        log: LogSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.log: LogSink = log or TranslogSink()
        self.clock = clock
        self._local = threading.local()
        self.retries = 0
        """Write transactions run again after a deadlock or serialization failure."""
        self.on_retry: Callable[[], None] | None = None
        """Called at each retry (the API counts them in /metrics)."""
        ensure_counters(db.write)

    def now(self) -> int:
        return int(self.clock())

    def write_lock(self) -> contextlib.AbstractContextManager[Any]:
        """This process's SQLite writer lock (nothing on PostgreSQL)."""
        return self.db.write_lock if self.db.sqlite else contextlib.nullcontext()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (or the enclosing :meth:`batch`'s)."""
        outer: Connection | None = getattr(self._local, "conn", None)
        if outer is not None:
            yield outer
            return
        with self.write_lock(), self.db.write.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def light_write(self) -> Iterator[Connection]:
        """A small write on the light engine (auth events, nonces)."""
        with self.write_lock(), self.db.light.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read connection (or the enclosing :meth:`batch`'s transaction)."""
        outer: Connection | None = getattr(self._local, "conn", None)
        if outer is not None:
            yield outer
            return
        with self.db.read.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Run several service calls in this thread as one transaction (all or nothing)."""
        with self.write_lock(), self.db.write.begin() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def in_batch(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    def retry(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one whole write transaction and what it returns); when the
        database rolls it back for a deadlock or a serialization failure, run it again
        after a jittered exponential backoff, at most ``RETRY_ATTEMPTS`` times in all.
        Inside :meth:`batch` the enclosing transaction is the one to retry: no loop."""
        if self.in_batch():
            return fn()
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return fn()
            except sa_exc.DBAPIError as exc:
                if attempt == RETRY_ATTEMPTS or not transient(exc):
                    raise
                self.retries += 1
                if self.on_retry is not None:
                    self.on_retry()
                delay = random.uniform(0, min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt))
                log.info("write retried (attempt %d) in %.3f s: %s", attempt, delay, exc.orig)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def lock_keys(self, conn: Connection, *names: str) -> None:
        """Lock policy keys (``owner:acme``, ``country:US``, ...) until the transaction
        ends: PostgreSQL advisory transaction locks, taken in sorted order (step 1 of the
        lock order). SQLite needs none: its writers already queue on the database."""
        if self.db.sqlite:
            return
        for key in sorted({lock_key(n) for n in names}):
            conn.execute(select(func.pg_advisory_xact_lock(key)))

    def lock(self, table: Any, *where: Any) -> Select[Any]:
        """SELECT rows to change (FOR NO KEY UPDATE on PostgreSQL, so rows that reference
        them can still be inserted; SQLite's writer lock is held)."""
        stmt = select(table).where(*where)
        if not self.db.sqlite:
            stmt = stmt.with_for_update(key_share=True)
        return stmt

    def lock_columns(self, columns: Sequence[Any], *where: Any) -> Select[Any]:
        stmt = select(*columns).where(*where)
        if not self.db.sqlite:
            stmt = stmt.with_for_update(key_share=True)
        return stmt

    def share_columns(self, columns: Sequence[Any], *where: Any) -> Select[Any]:
        """SELECT facts a decision reads, kept from changing until it commits (FOR SHARE
        on PostgreSQL)."""
        stmt = select(*columns).where(*where)
        if not self.db.sqlite:
            stmt = stmt.with_for_update(read=True)
        return stmt


P = ParamSpec("P")
R = TypeVar("R")


class _HasStore(Protocol):
    store: Store


S = TypeVar("S", bound=_HasStore)


def retried(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """A service method whose write transaction runs again after a deadlock or a
    serialization failure (:meth:`Store.retry`). The method must do nothing outside
    its transaction that a second run would repeat wrongly."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.store.retry(lambda: method(self, *args, **kwargs))

    return wrapper
