"""The authority's service layer: registry, licensing, pause workflow, ingestion.

No HTTP here. Every method takes the authenticated :class:`Caller` (or none for
reads), validates its input, and either commits everything it does in one
database transaction or raises a named error and changes nothing. Every
registration, custody event, licence and order is appended to the
transparency log (:mod:`pausebutton.authority.log`) in that same transaction.

Times come from the injected ``clock`` (tests pass a fake one).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Row, Select, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from pausebutton.authority import tables as t
from pausebutton.authority.counters import ensure_counters, next_value
from pausebutton.authority.db import Database
from pausebutton.authority.log import LogSink, TranslogSink
from pausebutton.authority.policy import (
    APPROVED,
    NEEDS_APPROVAL,
    REFUSE,
    ChipFacts,
    Decision,
    Facts,
    Policy,
    evaluate,
)
from pausebutton.errors import (
    BadSignatureError,
    ConflictError,
    DataError,
    EncodingError,
    ExpiredError,
    ForbiddenError,
    NotFoundError,
    NotYetValidError,
    OversizedError,
    PausebuttonError,
    ReplayError,
    RollbackError,
    SchemaError,
    ServiceError,
    VerificationError,
)
from pausebutton.geo.landmark import MAX_WIRE_MESSAGE, verify_measurement
from pausebutton.geo.service import (
    CLOCK_SKEW_S,
    DEFAULT_MAX_AGE_S,
    LocationCheck,
    verify_chip_location,
)
from pausebutton.geo.verdict import Claim, Model, VerdictKind
from pausebutton.geo.verdict import Policy as GeoPolicy
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope, Signature, decode_as, signing_input
from pausebutton.protocol.keys import KEY_ID_SIZE, PUBLIC_KEY_SIZE, PrivateKey, PublicKey, key_id
from pausebutton.protocol.messages import (
    GENESIS_HASH,
    DeviceCertificate,
    License,
    Measurement,
    PauseOrder,
    ProhibitedArtifacts,
    ResumeOrder,
    Scope,
    ScopeKind,
    TimeToken,
    UsageReport,
    report_hash,
)
from pausebutton.protocol.trustroot import TrustRoot

OPERATOR = "operator"
MEMBER = "member"
ADMIN = "admin"
ROLES = (OPERATOR, MEMBER, ADMIN)

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
    "decommissioning",
    "destruction",
]
CUSTODY_KINDS: tuple[str, ...] = get_args(CustodyKind)
MAX_BATCH = 10_000
MAX_REPORT_SIZE = 4096
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")


@dataclass(frozen=True)
class Caller:
    """An authenticated request's principal."""

    key_id: str
    role: str
    name: str
    owner_id: str | None = None


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


def scope_to_json(scope: Scope) -> dict[str, Any]:
    return {
        "kind": scope.kind.value,
        "regions": list(scope.regions),
        "owners": list(scope.owners),
        "chips": [c.hex() for c in scope.chips],
    }


def scope_from_json(data: Any, field: str = "scope") -> Scope:
    if not isinstance(data, dict):
        raise SchemaError("scope must be an object", field=field)
    try:
        kind = ScopeKind(data.get("kind"))
    except ValueError:
        raise SchemaError(
            "scope.kind must be one of global, region, owner, chips", field=f"{field}.kind"
        ) from None
    regions = data.get("regions") or []
    owners = data.get("owners") or []
    chips = data.get("chips") or []
    for name, values in (("regions", regions), ("owners", owners), ("chips", chips)):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SchemaError(f"scope.{name} must be a list of text", field=f"{field}.{name}")
    scope = Scope(
        kind,
        tuple(regions),
        tuple(owners),
        tuple(parse_hex(c, KEY_ID_SIZE, f"{field}.chips") for c in chips),
    )
    scope.validate()
    return scope


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


def _int_text(value: int) -> str:
    return str(int(value))


def _page(table: Table, after: int, limit: int, **equal: str | None) -> Select[Any]:
    """Rows with id > ``after`` in id order (keyset paging), filtered on the given
    columns whose value is set."""
    stmt = select(table).where(table.c.id > after).order_by(table.c.id).limit(limit)
    for column, value in equal.items():
        if value:
            stmt = stmt.where(table.c[column] == value)
    return stmt


class AuthorityService:
    """The licensing authority, over one database."""

    def __init__(
        self,
        db: Database,
        root: TrustRoot,
        licensing_key: PrivateKey,
        *,
        policy: Policy | None = None,
        log: LogSink | None = None,
        clock: Callable[[], float] = time.time,
        time_key: PrivateKey | None = None,
        location_policy: GeoPolicy | None = None,
        location_max_age: int = DEFAULT_MAX_AGE_S,
    ) -> None:
        self.db = db
        self.root = root
        self.licensing_key = licensing_key
        if licensing_key.public not in root.role_keys("licensing"):
            raise DataError("the licensing key is not in the trust root's licensing role")
        if time_key is not None and time_key.public not in root.role_keys("time"):
            raise DataError("the time key is not in the trust root's time role")
        self.time_key = time_key
        self.policy = policy or Policy()
        self.log: LogSink = log or TranslogSink()
        self.clock = clock
        self.pause_keys = {k.key_id: k for k in root.role_keys("pause")}
        self.pause_threshold = root.role("pause").threshold
        self.landmark_keys = {k.key_id: k for k in root.role_keys("landmark")}
        self.location_policy = location_policy or GeoPolicy(model=Model.FIBRE)
        self.location_max_age = location_max_age
        self.members = {key_id(m.key).hex(): m for m in root.members}
        self._local = threading.local()
        self._device_keys: dict[str, PublicKey] = {}
        self._verify_threads = max(1, min(4, os.cpu_count() or 1))
        """Threads verifying report signatures beside the decoding thread."""
        self._pool: ThreadPoolExecutor | None = None
        ensure_counters(db.write)

    # -- helpers -----------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        outer = getattr(self._local, "conn", None)
        if outer is not None:
            yield outer
            return
        with self._write_lock(), self.db.write.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _light_write(self) -> Iterator[Connection]:
        with self._write_lock(), self.db.light.begin() as conn:
            yield conn

    def _write_lock(self) -> contextlib.AbstractContextManager[Any]:
        return self.db.write_lock if self.db.sqlite else contextlib.nullcontext()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        outer = getattr(self._local, "conn", None)
        if outer is not None:
            yield outer
            return
        with self.db.read.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Run several service calls in this thread as one transaction (all or nothing)."""
        with self._write_lock(), self.db.write.begin() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def now(self) -> int:
        return int(self.clock())

    @property
    def approvals_required(self) -> int:
        return self.policy.approvals_required or self.pause_threshold

    def _lock(self, table: Any, *where: Any) -> Any:
        """SELECT rows to change (FOR UPDATE on PostgreSQL; SQLite's writer lock is held)."""
        stmt = select(table).where(*where)
        if not self.db.sqlite:
            stmt = stmt.with_for_update()
        return stmt

    def _lock_columns(self, columns: Sequence[Any], *where: Any) -> Any:
        stmt = select(*columns).where(*where)
        if not self.db.sqlite:
            stmt = stmt.with_for_update()
        return stmt

    @staticmethod
    def _require(caller: Caller | None, *roles: str) -> Caller:
        if caller is None:
            raise ForbiddenError("this operation needs a signed request")
        if caller.role not in roles:
            raise ForbiddenError(
                f"role {caller.role} may not do this (needs {' or '.join(roles)})",
                role=caller.role,
            )
        return caller

    # -- principals -----------------------------------------------------------------

    def principal(self, kid: str) -> tuple[Caller, PublicKey] | None:
        """The caller and public key for a request key id (member keys come from the root)."""
        member = self.members.get(kid)
        if member is not None:
            return Caller(kid, MEMBER, member.name), PublicKey.from_bytes(member.key)
        with self._read() as conn:
            row = conn.execute(select(t.api_keys).where(t.api_keys.c.key_id == kid)).first()
        if row is None or row.revoked:
            return None
        return (
            Caller(kid, row.role, row.name, row.owner_id),
            PublicKey.from_bytes(bytes(row.public_key)),
        )

    def add_key(
        self,
        caller: Caller | None,
        *,
        public_key: str,
        role: str,
        name: str,
        owner_id: str | None = None,
    ) -> dict[str, Any]:
        """Bind a request-signing key to a role (operator keys to an owner)."""
        self._require(caller, ADMIN)
        raw = parse_hex(public_key, PUBLIC_KEY_SIZE, "public_key")
        PublicKey.from_bytes(raw)
        if role not in (OPERATOR, ADMIN):
            raise SchemaError(
                "role must be operator or admin (members are in the root)", field="role"
            )
        check_text(name, "name", 256)
        if role == OPERATOR:
            if owner_id is None:
                raise SchemaError("an operator key needs an owner", field="owner_id")
            check_id(owner_id, "owner_id")
        elif owner_id is not None:
            raise SchemaError("only operator keys have an owner", field="owner_id")
        kid = key_id(raw).hex()
        if kid in self.members:
            raise ConflictError("this key is a member key of the trust root", field="public_key")
        now = self.now()
        with self._write() as conn:
            if owner_id is not None:
                self._owner_row(conn, owner_id)
            if self._key_exists(conn, kid):
                raise ConflictError(f"key {kid} is already registered", field="public_key")
            self._insert_key(conn, kid, raw, role, owner_id, name, now)
        return {"key_id": kid, "role": role, "name": name, "owner_id": owner_id}

    @staticmethod
    def _key_exists(conn: Connection, kid: str) -> bool:
        query = select(t.api_keys.c.key_id).where(t.api_keys.c.key_id == kid)
        return conn.execute(query).first() is not None

    @staticmethod
    def _insert_key(
        conn: Connection,
        kid: str,
        raw: bytes,
        role: str,
        owner_id: str | None,
        name: str,
        now: int,
    ) -> None:
        conn.execute(
            insert(t.api_keys).values(
                key_id=kid,
                public_key=raw,
                role=role,
                owner_id=owner_id,
                name=name,
                created_at=now,
                revoked=False,
            )
        )

    def bootstrap_admin(self, public_key: bytes, name: str = "admin") -> str:
        """Register an admin key directly (server start-up; idempotent, also when
        several workers start at once on one database)."""
        kid = key_id(public_key).hex()
        try:
            with self._write() as conn:
                if self._key_exists(conn, kid):
                    return kid
                self._insert_key(conn, kid, public_key, ADMIN, None, name, self.now())
        except IntegrityError:
            # another worker registered it between our check and our insert
            with self._read() as conn:
                row = conn.execute(
                    select(t.api_keys.c.role).where(t.api_keys.c.key_id == kid)
                ).first()
            if row is None or row.role != ADMIN:
                raise
        return kid

    def revoke_key(self, caller: Caller | None, kid: str) -> dict[str, Any]:
        self._require(caller, ADMIN)
        with self._write() as conn:
            res = conn.execute(
                update(t.api_keys).where(t.api_keys.c.key_id == kid).values(revoked=True)
            )
            if res.rowcount == 0:
                raise NotFoundError(f"no key {kid}", field="key_id")
        return {"key_id": kid, "revoked": True}

    def list_keys(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(select(t.api_keys).order_by(t.api_keys.c.created_at)).all()
        out = [
            {
                "key_id": r.key_id,
                "role": r.role,
                "name": r.name,
                "owner_id": r.owner_id,
                "revoked": bool(r.revoked),
            }
            for r in rows
        ]
        out.extend(
            {"key_id": k, "role": MEMBER, "name": m.name, "owner_id": None, "revoked": False}
            for k, m in self.members.items()
        )
        return out

    def record_auth_event(
        self, *, status: int, key_id: str | None, method: str, path: str, reason: str
    ) -> None:
        with self._light_write() as conn:
            conn.execute(
                insert(t.auth_events).values(
                    at=self.now(),
                    status=status,
                    key_id=key_id[:128] if key_id else None,
                    method=method[:16],
                    path=path[:1024],
                    reason=reason[:2000],
                )
            )

    def use_nonce(self, kid: str, nonce: str, expires_at: int) -> bool:
        """Record a request nonce; False if it was already used (a replay)."""
        now = self.now()
        try:
            with self._light_write() as conn:
                conn.execute(
                    insert(t.nonces).values(key_id=kid, nonce=nonce, expires_at=expires_at)
                )
                if now % 64 == 0:
                    conn.execute(t.nonces.delete().where(t.nonces.c.expires_at < now))
        except IntegrityError:
            return False
        return True

    def auth_events(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(t.auth_events).order_by(t.auth_events.c.id.desc()).limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    # -- owners and facilities ------------------------------------------------------

    @staticmethod
    def _owner_row(conn: Connection, owner_id: str) -> Row[Any]:
        row = conn.execute(select(t.owners).where(t.owners.c.id == owner_id)).first()
        if row is None:
            raise NotFoundError(f"no owner {owner_id!r}", field="owner_id")
        return row

    def create_owner(
        self, caller: Caller | None, *, id: str, name: str, country: str
    ) -> dict[str, Any]:
        self._require(caller, ADMIN)
        check_id(id, "id")
        check_text(name, "name")
        check_country(country)
        with self._write() as conn:
            if conn.execute(select(t.owners.c.id).where(t.owners.c.id == id)).first():
                raise ConflictError(f"owner {id!r} exists", field="id")
            conn.execute(
                insert(t.owners).values(id=id, name=name, country=country, created_at=self.now())
            )
        return {"id": id, "name": name, "country": country}

    def list_owners(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(select(t.owners).order_by(t.owners.c.id)).all()
        return [{"id": r.id, "name": r.name, "country": r.country} for r in rows]

    def get_owner(self, owner_id: str) -> dict[str, Any]:
        with self._read() as conn:
            r = self._owner_row(conn, owner_id)
            chips = conn.execute(
                select(func.count()).select_from(t.chips).where(t.chips.c.owner_id == owner_id)
            ).scalar_one()
        return {"id": r.id, "name": r.name, "country": r.country, "chips": int(chips)}

    def create_facility(
        self,
        caller: Caller | None,
        *,
        id: str,
        name: str,
        country: str,
        latitude: float | None = None,
        longitude: float | None = None,
        power_mw: float | None = None,
        owner_id: str | None = None,
        verified: bool = False,
        declared_chips: int | None = None,
        chip_model: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        self._require(caller, ADMIN)
        with self._write() as conn:
            out = self._insert_facility(
                conn,
                id=id,
                name=name,
                country=country,
                latitude=latitude,
                longitude=longitude,
                power_mw=power_mw,
                owner_id=owner_id,
                verified=verified,
                declared_chips=declared_chips,
                chip_model=chip_model,
                source=source,
            )
        return out

    def _insert_facility(self, conn: Connection, **v: Any) -> dict[str, Any]:
        check_id(v["id"], "id")
        check_text(v["name"], "name")
        check_country(v["country"])
        lat, lon = v.get("latitude"), v.get("longitude")
        if lat is not None and not -90 <= float(lat) <= 90:
            raise SchemaError("latitude must be within [-90, 90]", field="latitude")
        if lon is not None and not -180 <= float(lon) <= 180:
            raise SchemaError("longitude must be within [-180, 180]", field="longitude")
        power = v.get("power_mw")
        if power is not None and not 0 <= float(power) < 1e7:
            raise SchemaError("power_mw must be non-negative", field="power_mw")
        chips = v.get("declared_chips")
        if chips is not None and not 0 <= int(chips) < 2**31:
            raise SchemaError("declared_chips must be non-negative", field="declared_chips")
        if v.get("owner_id") is not None:
            self._owner_row(conn, v["owner_id"])
        if conn.execute(select(t.facilities.c.id).where(t.facilities.c.id == v["id"])).first():
            raise ConflictError(f"facility {v['id']!r} exists", field="id")
        row = {
            "id": v["id"],
            "name": v["name"],
            "country": v["country"],
            "latitude": None if lat is None else float(lat),
            "longitude": None if lon is None else float(lon),
            "power_mw": None if power is None else float(power),
            "owner_id": v.get("owner_id"),
            "verified": bool(v.get("verified", False)),
            "declared_chips": None if chips is None else int(chips),
            "chip_model": v.get("chip_model"),
            "source": v.get("source"),
        }
        conn.execute(insert(t.facilities).values(**row, created_at=self.now()))
        return row

    def set_facility_verified(
        self, caller: Caller | None, facility_id: str, verified: bool
    ) -> dict[str, Any]:
        self._require(caller, ADMIN)
        with self._write() as conn:
            res = conn.execute(
                update(t.facilities)
                .where(t.facilities.c.id == facility_id)
                .values(verified=verified)
            )
            if res.rowcount == 0:
                raise NotFoundError(f"no facility {facility_id!r}", field="facility_id")
        return self.get_facility(facility_id)

    @staticmethod
    def _facility_json(r: Any) -> dict[str, Any]:
        return {
            "id": r.id,
            "name": r.name,
            "country": r.country,
            "latitude": r.latitude,
            "longitude": r.longitude,
            "power_mw": r.power_mw,
            "owner_id": r.owner_id,
            "verified": bool(r.verified),
            "declared_chips": r.declared_chips,
            "chip_model": r.chip_model,
            "source": r.source,
        }

    def list_facilities(
        self, *, country: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[dict[str, Any]]:
        stmt = select(t.facilities).order_by(t.facilities.c.id).limit(limit).offset(offset)
        if country:
            stmt = stmt.where(t.facilities.c.country == country)
        with self._read() as conn:
            return [self._facility_json(r) for r in conn.execute(stmt).all()]

    def get_facility(self, facility_id: str) -> dict[str, Any]:
        with self._read() as conn:
            r = conn.execute(select(t.facilities).where(t.facilities.c.id == facility_id)).first()
            if r is None:
                raise NotFoundError(f"no facility {facility_id!r}", field="facility_id")
            n = conn.execute(
                select(func.count())
                .select_from(t.chips)
                .where(t.chips.c.facility_id == facility_id)
            ).scalar_one()
        return {**self._facility_json(r), "registered_chips": int(n)}

    # -- chips and custody ----------------------------------------------------------

    def register_chip(
        self,
        caller: Caller | None,
        *,
        certificate: bytes,
        owner_id: str | None = None,
        facility_id: str | None = None,
    ) -> dict[str, Any]:
        """Register a chip from its vendor-signed DeviceCertificate (logged)."""
        self._require(caller, ADMIN)
        try:
            env, cert = decode_as(certificate, DeviceCertificate, max_size=8192)
        except EncodingError as exc:
            exc.details.setdefault("field", "certificate")
            raise
        result = self.root.verify_role(env, "vendor")
        if not result.ok:
            raise BadSignatureError(
                "certificate is not signed by the trust root's vendor role", field="certificate"
            )
        chip_id = cert.chip_id.hex()
        now = self.now()
        with self._write() as conn:
            if owner_id is not None:
                self._owner_row(conn, owner_id)
            if (
                facility_id is not None
                and conn.execute(
                    select(t.facilities.c.id).where(t.facilities.c.id == facility_id)
                ).first()
                is None
            ):
                raise NotFoundError(f"no facility {facility_id!r}", field="facility_id")
            if conn.execute(select(t.chips.c.chip_id).where(t.chips.c.chip_id == chip_id)).first():
                raise ConflictError(f"chip {chip_id} is already registered", field="certificate")
            idx = self.log.append(conn, "chip-registration", certificate, now)
            conn.execute(
                insert(t.chips).values(
                    chip_id=chip_id,
                    serial=cert.serial,
                    model=cert.model,
                    vendor=cert.vendor,
                    device_key=cert.device_key,
                    certificate=certificate,
                    firmware_floor=cert.firmware_floor,
                    peak_flops=None if cert.peak_flops is None else str(cert.peak_flops),
                    owner_id=owner_id,
                    facility_id=facility_id,
                    status="installed" if facility_id else "registered",
                    registered_at=now,
                    log_index=idx,
                    report_seq=0,
                    report_hash=GENESIS_HASH,
                )
            )
        return self.get_chip(chip_id)

    @staticmethod
    def _chip_json(r: Any) -> dict[str, Any]:
        return {
            "chip_id": r.chip_id,
            "serial": r.serial,
            "model": r.model,
            "vendor": r.vendor,
            "device_key": bytes(r.device_key).hex(),
            "firmware_floor": r.firmware_floor,
            "peak_flops": r.peak_flops,
            "owner_id": r.owner_id,
            "facility_id": r.facility_id,
            "status": r.status,
            "registered_at": r.registered_at,
            "log_index": r.log_index,
            "last_report_sequence": r.report_seq,
        }

    def get_chip(self, chip_id: str, *, custody: bool = True) -> dict[str, Any]:
        with self._read() as conn:
            r = conn.execute(select(t.chips).where(t.chips.c.chip_id == chip_id)).first()
            if r is None:
                raise NotFoundError(f"no chip {chip_id}", field="chip_id")
            out = self._chip_json(r)
            out["certificate"] = b64(bytes(r.certificate))
            if custody:
                out["custody"] = self._custody(conn, chip_id)
        return out

    def list_chips(
        self,
        *,
        owner_id: str | None = None,
        facility_id: str | None = None,
        status: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        stmt = select(t.chips).order_by(t.chips.c.chip_id).limit(limit).offset(offset)
        if owner_id:
            stmt = stmt.where(t.chips.c.owner_id == owner_id)
        if facility_id:
            stmt = stmt.where(t.chips.c.facility_id == facility_id)
        if status:
            stmt = stmt.where(t.chips.c.status == status)
        with self._read() as conn:
            return [self._chip_json(r) for r in conn.execute(stmt).all()]

    @staticmethod
    def _custody(conn: Connection, chip_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(t.custody_events)
            .where(t.custody_events.c.chip_id == chip_id)
            .order_by(t.custody_events.c.seq)
        ).all()
        return [
            {
                "seq": r.seq,
                "kind": r.kind,
                "at": r.at,
                "actor": r.actor,
                "owner_id": r.owner_id,
                "facility_id": r.facility_id,
                "country": r.country,
                "note": r.note,
                "recorded_at": r.recorded_at,
                "log_index": r.log_index,
            }
            for r in rows
        ]

    def custody(self, chip_id: str) -> list[dict[str, Any]]:
        self.get_chip(chip_id, custody=False)
        with self._read() as conn:
            return self._custody(conn, chip_id)

    def add_custody_event(
        self,
        caller: Caller | None,
        chip_id: str,
        *,
        kind: str,
        at: int,
        actor: str,
        owner_id: str | None = None,
        facility_id: str | None = None,
        country: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Append one custody event (append-only; logged) and apply its effect on the chip."""
        c = self._require(caller, ADMIN)
        if kind not in CUSTODY_KINDS:
            raise SchemaError(f"kind must be one of {', '.join(CUSTODY_KINDS)}", field="kind")
        if isinstance(at, bool) or not isinstance(at, int) or at < 0:
            raise SchemaError("at must be a Unix time", field="at")
        check_text(actor, "actor")
        if country is not None:
            check_country(country)
        if note is not None:
            check_text(note, "note", 4096, empty=True)
        if kind in ("sale", "transfer") and owner_id is None:
            raise SchemaError(f"a {kind} event needs the new owner_id", field="owner_id")
        if kind == "installation" and facility_id is None:
            raise SchemaError("an installation event needs facility_id", field="facility_id")
        if kind in ("export", "import") and country is None:
            raise SchemaError(f"an {kind} event needs a country", field="country")
        now = self.now()
        with self._write() as conn:
            chip = conn.execute(self._lock(t.chips, t.chips.c.chip_id == chip_id)).first()
            if chip is None:
                raise NotFoundError(f"no chip {chip_id}", field="chip_id")
            if chip.status == "destroyed":
                raise ConflictError(f"chip {chip_id} was destroyed", field="chip_id")
            if owner_id is not None:
                self._owner_row(conn, owner_id)
            if facility_id is not None:
                fac = conn.execute(
                    select(t.facilities).where(t.facilities.c.id == facility_id)
                ).first()
                if fac is None:
                    raise NotFoundError(f"no facility {facility_id!r}", field="facility_id")
            seq = (
                conn.execute(
                    select(func.max(t.custody_events.c.seq)).where(
                        t.custody_events.c.chip_id == chip_id
                    )
                ).scalar()
                or 0
            ) + 1
            record = {
                "chip_id": chip_id,
                "seq": seq,
                "kind": kind,
                "at": at,
                "actor": actor,
                "owner_id": owner_id,
                "facility_id": facility_id,
                "country": country,
                "note": note,
            }
            body = encoding.encode(
                {
                    "type": "custody-event",
                    "event": {k: v for k, v in record.items() if v is not None},
                }
            )
            idx = self.log.append(conn, "custody-event", body, now)
            conn.execute(
                insert(t.custody_events).values(
                    **record, recorded_at=now, recorded_by=c.key_id, log_index=idx
                )
            )
            changes: dict[str, Any] = {}
            if kind in ("sale", "transfer"):
                changes["owner_id"] = owner_id
            if kind == "installation":
                changes.update(facility_id=facility_id, status="installed")
            if kind == "decommissioning":
                changes["status"] = "decommissioned"
            if kind == "destruction":
                changes["status"] = "destroyed"
            if changes:
                conn.execute(update(t.chips).where(t.chips.c.chip_id == chip_id).values(**changes))
        return {**record, "recorded_at": now, "log_index": idx}

    # -- licensing ------------------------------------------------------------------

    def _active_pauses(self, conn: Connection) -> list[tuple[int, Scope]]:
        rows = conn.execute(
            select(t.orders.c.sequence, t.orders.c.scope).where(
                t.orders.c.kind == "pause", t.orders.c.active.is_(True)
            )
        ).all()
        return [(r.sequence, scope_from_json(r.scope)) for r in rows]

    def _facts(
        self,
        conn: Connection,
        *,
        owner_id: str,
        run_id: str,
        flop_budget: int,
        not_before: int,
        not_after: int,
        chip_ids: Sequence[str],
        exclude: int | None,
        now: int,
    ) -> Facts:
        owner = self._owner_row(conn, owner_id)
        rows = {
            r.chip_id: r
            for r in conn.execute(
                select(
                    t.chips.c.chip_id,
                    t.chips.c.owner_id,
                    t.chips.c.status,
                    t.chips.c.facility_id,
                    t.facilities.c.verified,
                    t.facilities.c.country,
                )
                .select_from(t.chips.outerjoin(t.facilities))
                .where(t.chips.c.chip_id.in_(list(chip_ids)))
            ).all()
        }
        chip_facts = []
        for cid in chip_ids:
            r = rows.get(cid)
            if r is None:
                chip_facts.append(ChipFacts(cid, registered=False))
            else:
                chip_facts.append(
                    ChipFacts(
                        cid,
                        registered=True,
                        owner=r.owner_id,
                        status=r.status,
                        facility=r.facility_id,
                        facility_verified=bool(r.verified),
                        region=r.country,
                    )
                )
        since = now - self.policy.split_window
        issued = conn.execute(
            select(
                t.applications.c.id,
                t.applications.c.owner_id,
                t.applications.c.run_id,
                t.applications.c.flop_budget,
                t.applications.c.not_before,
                t.applications.c.not_after,
                t.applications.c.decided_at,
                t.owners.c.country,
            )
            .select_from(t.applications.join(t.owners))
            .where(t.applications.c.status == "issued")
            .where((t.applications.c.owner_id == owner_id) | (t.owners.c.country == owner.country))
            .where(
                (t.applications.c.decided_at >= since)
                | (
                    (t.applications.c.not_after > not_before)
                    & (t.applications.c.not_before < not_after)
                )
            )
        ).all()
        owner_window = run_window = owner_active = country_active = 0
        for a in issued:
            if a.id == exclude:
                continue
            budget = int(a.flop_budget)
            overlaps = a.not_after > not_before and a.not_before < not_after
            if a.owner_id == owner_id:
                if (a.decided_at or 0) >= since:
                    owner_window += budget
                    if a.run_id == run_id:
                        run_window += budget
                if overlaps:
                    owner_active += budget
            if a.country == owner.country and overlaps:
                country_active += budget
        paused = []
        for seq, scope in self._active_pauses(conn):
            if any(
                scope.applies_to(bytes.fromhex(c.chip_id), c.region, c.owner)
                for c in chip_facts
                if c.registered
            ):
                paused.append(seq)
        return Facts(
            owner=owner_id,
            owner_country=owner.country,
            run_id=run_id,
            flop_budget=flop_budget,
            not_before=not_before,
            not_after=not_after,
            now=now,
            chips=tuple(chip_facts),
            owner_window_total=owner_window,
            run_window_total=run_window,
            owner_active_total=owner_active,
            country_active_total=country_active,
            paused_by=tuple(paused),
        )

    def apply(
        self,
        caller: Caller | None,
        *,
        chips: Sequence[str],
        flop_budget: int,
        not_before: int,
        not_after: int,
        run_id: str,
        purpose: str,
        owner_id: str | None = None,
    ) -> dict[str, Any]:
        """An operator applies for licences; the policy decides (issued, pending or refused)."""
        c = self._require(caller, OPERATOR, ADMIN)
        owner = c.owner_id if c.role == OPERATOR else owner_id
        if owner is None:
            raise SchemaError("owner_id is needed when an admin applies", field="owner_id")
        if c.role == OPERATOR and owner_id not in (None, c.owner_id):
            raise ForbiddenError("an operator applies only for its own owner", field="owner_id")
        if not isinstance(chips, (list, tuple)) or not chips:
            raise SchemaError("chips must be a non-empty list of chip ids", field="chips")
        if len(chips) > self.policy.max_chips:
            raise SchemaError(f"at most {self.policy.max_chips} chips", field="chips")
        chip_ids = []
        for cid in chips:
            chip_ids.append(parse_hex(cid, KEY_ID_SIZE, "chips").hex())
        if len(set(chip_ids)) != len(chip_ids):
            raise SchemaError("chips lists a chip twice", field="chips")
        if isinstance(flop_budget, bool) or not isinstance(flop_budget, int) or flop_budget <= 0:
            raise SchemaError("flop_budget must be a positive integer", field="flop_budget")
        if flop_budget >= 2**128:
            raise SchemaError("flop_budget is beyond 2**128", field="flop_budget")
        for name, v in (("not_before", not_before), ("not_after", not_after)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**62:
                raise SchemaError(f"{name} must be a Unix time", field=name)
        if not_after <= not_before:
            raise SchemaError("not_after must be later than not_before", field="not_after")
        check_text(run_id, "run_id")
        check_text(purpose, "purpose", 4096)
        now = self.now()
        with self._write() as conn:
            facts = self._facts(
                conn,
                owner_id=owner,
                run_id=run_id,
                flop_budget=flop_budget,
                not_before=not_before,
                not_after=not_after,
                chip_ids=chip_ids,
                exclude=None,
                now=now,
            )
            decision = evaluate(self.policy, facts)
            status = {APPROVED: "approved", NEEDS_APPROVAL: "pending", REFUSE: "refused"}[
                decision.outcome
            ]
            app_id = conn.execute(
                insert(t.applications)
                .values(
                    owner_id=owner,
                    run_id=run_id,
                    purpose=purpose,
                    flop_budget=_int_text(flop_budget),
                    not_before=not_before,
                    not_after=not_after,
                    chips=chip_ids,
                    status=status,
                    decision=decision.to_dict(),
                    created_at=now,
                    decided_at=None if status == "pending" else now,
                    applicant_key=c.key_id,
                )
                .returning(t.applications.c.id)
            ).scalar_one()
            if status == "approved":
                self._issue(conn, app_id, now)
        return self.get_application(app_id)

    def _issue(self, conn: Connection, app_id: int, now: int) -> list[int]:
        app = conn.execute(select(t.applications).where(t.applications.c.id == app_id)).one()
        chip_ids = sorted(app.chips)
        rows = {
            r.chip_id: r
            for r in conn.execute(
                select(
                    t.chips.c.chip_id,
                    t.chips.c.firmware_floor,
                    t.chips.c.facility_id,
                    t.facilities.c.country,
                )
                .select_from(t.chips.outerjoin(t.facilities))
                .where(t.chips.c.chip_id.in_(chip_ids))
            ).all()
        }
        n = len(chip_ids)
        budget = int(app.flop_budget)
        share, extra = divmod(budget, n)
        last = next_value(conn, "license_id", n)
        ids = list(range(last - n + 1, last + 1))
        for i, (lid, cid) in enumerate(zip(ids, chip_ids, strict=True)):
            chip = rows[cid]
            lic = License(
                license_id=lid,
                chip_id=bytes.fromhex(cid),
                not_before=app.not_before,
                not_after=app.not_after,
                flop_budget=share + (1 if i < extra else 0),
                max_offline=self.policy.max_offline,
                firmware_floor=chip.firmware_floor,
                owner=app.owner_id,
                facility=chip.facility_id,
                region=chip.country,
                run_id=app.run_id,
            )
            lic.validate()
            env = Envelope.create(lic, [self.licensing_key]).encode()
            idx = self.log.append(conn, "license", env, now)
            conn.execute(
                insert(t.licenses).values(
                    license_id=lid,
                    chip_id=cid,
                    application_id=app_id,
                    owner_id=app.owner_id,
                    run_id=app.run_id,
                    flop_budget=_int_text(lic.flop_budget),
                    not_before=app.not_before,
                    not_after=app.not_after,
                    envelope=env,
                    issued_at=now,
                    log_index=idx,
                )
            )
        conn.execute(
            update(t.applications)
            .where(t.applications.c.id == app_id)
            .values(status="issued", decided_at=now)
        )
        return ids

    def approve(self, caller: Caller | None, app_id: int) -> dict[str, Any]:
        """A member approves a pending application; at K approvals the licences are issued."""
        c = self._require(caller, MEMBER)
        now = self.now()
        with self._write() as conn:
            app = conn.execute(self._lock(t.applications, t.applications.c.id == app_id)).first()
            if app is None:
                raise NotFoundError(f"no application {app_id}", field="application_id")
            if app.status != "pending":
                raise ConflictError(
                    f"application {app_id} is {app.status}, not pending", status=app.status
                )
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(t.approvals).values(
                            application_id=app_id, member_key=c.key_id, member=c.name, at=now
                        )
                    )
            except IntegrityError:
                raise ConflictError(f"{c.name} already approved application {app_id}") from None
            count = conn.execute(
                select(func.count())
                .select_from(t.approvals)
                .where(t.approvals.c.application_id == app_id)
            ).scalar_one()
            if count >= self.approvals_required:
                facts = self._facts(
                    conn,
                    owner_id=app.owner_id,
                    run_id=app.run_id,
                    flop_budget=int(app.flop_budget),
                    not_before=app.not_before,
                    not_after=app.not_after,
                    chip_ids=list(app.chips),
                    exclude=app_id,
                    now=now,
                )
                decision: Decision = evaluate(self.policy, facts)
                record = decision.to_dict()
                record["approvals"] = int(count)
                if decision.outcome == REFUSE:
                    conn.execute(
                        update(t.applications)
                        .where(t.applications.c.id == app_id)
                        .values(status="refused", decision=record, decided_at=now)
                    )
                else:
                    conn.execute(
                        update(t.applications)
                        .where(t.applications.c.id == app_id)
                        .values(decision=record)
                    )
                    self._issue(conn, app_id, now)
        return self.get_application(app_id)

    def get_application(self, app_id: int) -> dict[str, Any]:
        with self._read() as conn:
            app = conn.execute(select(t.applications).where(t.applications.c.id == app_id)).first()
            if app is None:
                raise NotFoundError(f"no application {app_id}", field="application_id")
            approvals = conn.execute(
                select(t.approvals.c.member)
                .where(t.approvals.c.application_id == app_id)
                .order_by(t.approvals.c.at)
            ).all()
            lids = conn.execute(
                select(t.licenses.c.license_id)
                .where(t.licenses.c.application_id == app_id)
                .order_by(t.licenses.c.license_id)
            ).all()
        decision = dict(app.decision)
        return {
            "id": app.id,
            "owner_id": app.owner_id,
            "run_id": app.run_id,
            "purpose": app.purpose,
            "flop_budget": app.flop_budget,
            "not_before": app.not_before,
            "not_after": app.not_after,
            "chips": list(app.chips),
            "status": app.status,
            "decision": decision,
            "reasons": [
                f["reason"] for f in decision.get("findings", []) if f["outcome"] != APPROVED
            ],
            "approvals": [a.member for a in approvals],
            "approvals_required": self.approvals_required,
            "license_ids": [r.license_id for r in lids],
            "created_at": app.created_at,
            "decided_at": app.decided_at,
        }

    def list_applications(
        self, *, owner_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        stmt = select(t.applications.c.id).order_by(t.applications.c.id.desc()).limit(limit)
        if owner_id:
            stmt = stmt.where(t.applications.c.owner_id == owner_id)
        if status:
            stmt = stmt.where(t.applications.c.status == status)
        with self._read() as conn:
            ids = [r.id for r in conn.execute(stmt).all()]
        return [self.get_application(i) for i in ids]

    @staticmethod
    def _license_json(r: Any) -> dict[str, Any]:
        return {
            "license_id": r.license_id,
            "chip_id": r.chip_id,
            "application_id": r.application_id,
            "owner_id": r.owner_id,
            "run_id": r.run_id,
            "flop_budget": r.flop_budget,
            "not_before": r.not_before,
            "not_after": r.not_after,
            "issued_at": r.issued_at,
            "log_index": r.log_index,
            "envelope": b64(bytes(r.envelope)),
        }

    def list_licenses(
        self,
        *,
        chip_id: str | None = None,
        owner_id: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        stmt = (
            select(t.licenses)
            .where(t.licenses.c.license_id > after)
            .order_by(t.licenses.c.license_id)
            .limit(limit)
        )
        if chip_id:
            stmt = stmt.where(t.licenses.c.chip_id == chip_id)
        if owner_id:
            stmt = stmt.where(t.licenses.c.owner_id == owner_id)
        with self._read() as conn:
            return [self._license_json(r) for r in conn.execute(stmt).all()]

    def get_license(self, license_id: int) -> dict[str, Any]:
        with self._read() as conn:
            r = conn.execute(
                select(t.licenses).where(t.licenses.c.license_id == license_id)
            ).first()
        if r is None:
            raise NotFoundError(f"no license {license_id}", field="license_id")
        return self._license_json(r)

    # -- pause and resume -----------------------------------------------------------

    def propose(
        self,
        caller: Caller | None,
        *,
        kind: str,
        scope: Scope | None,
        reason: str,
        effective_at: int | None = None,
        lifts: int | None = None,
    ) -> dict[str, Any]:
        """A member proposes a pause (or a resume of pause ``lifts``); members then sign it."""
        c = self._require(caller, MEMBER)
        check_text(reason, "reason")
        now = self.now()
        if effective_at is not None and (
            isinstance(effective_at, bool) or not isinstance(effective_at, int) or effective_at < 0
        ):
            raise SchemaError("effective_at must be a Unix time", field="effective_at")
        with self._write() as conn:
            if kind == "pause":
                if scope is None:
                    raise SchemaError("a pause needs a scope", field="scope")
                seq = next_value(conn, "order_sequence")
                payload: PauseOrder | ResumeOrder = PauseOrder(
                    sequence=seq,
                    scope=scope,
                    effective_at=effective_at if effective_at is not None else now,
                    issued_at=now,
                    reason=reason,
                )
            elif kind == "resume":
                if lifts is None or isinstance(lifts, bool) or not isinstance(lifts, int):
                    raise SchemaError("a resume names the pause it lifts", field="lifts")
                paused = conn.execute(
                    select(t.orders).where(t.orders.c.sequence == lifts, t.orders.c.kind == "pause")
                ).first()
                if paused is None:
                    raise NotFoundError(f"no pause order {lifts}", field="lifts")
                if not paused.active:
                    raise ConflictError(f"pause order {lifts} is already lifted", field="lifts")
                seq = next_value(conn, "order_sequence")
                payload = ResumeOrder(
                    sequence=seq,
                    lifts=lifts,
                    scope=scope or scope_from_json(paused.scope),
                    effective_at=effective_at if effective_at is not None else now,
                    issued_at=now,
                    reason=reason,
                )
            else:
                raise SchemaError("kind must be pause or resume", field="kind")
            payload.validate()
            pid = conn.execute(
                insert(t.proposals)
                .values(
                    kind=kind,
                    sequence=seq,
                    payload=payload.encode(),
                    payload_type=payload.TYPE,
                    status="open",
                    proposer=c.name,
                    created_at=now,
                )
                .returning(t.proposals.c.id)
            ).scalar_one()
        return self.get_proposal(pid)

    def sign_proposal(
        self, caller: Caller | None, proposal_id: int, *, key_id_hex: str, sig_hex: str
    ) -> dict[str, Any]:
        """Add a member's signature over the order's signing input; assemble at K.

        Exactly one order is assembled per proposal, even with concurrent
        signers on several workers: signers serialise on the proposal row, and
        the order row is unique per proposal.
        """
        self._require(caller, MEMBER)
        kid = parse_hex(key_id_hex, KEY_ID_SIZE, "key_id")
        sig = parse_hex(sig_hex, 64, "sig")
        pub = self.pause_keys.get(kid)
        if pub is None:
            raise ForbiddenError("key_id is not a key of the pause role", field="key_id")
        member = self.members.get(kid.hex())
        now = self.now()
        with self._write() as conn:
            prop = conn.execute(self._lock(t.proposals, t.proposals.c.id == proposal_id)).first()
            if prop is None:
                raise NotFoundError(f"no proposal {proposal_id}", field="proposal_id")
            message = signing_input(prop.payload_type, 1, bytes(prop.payload))
            if not pub.is_valid(message, sig):
                raise BadSignatureError(
                    "signature does not verify over the order's signing input", field="sig"
                )
            if prop.status != "open":
                return {**self._proposal_json(conn, prop), "assembled_now": False}
            exists = conn.execute(
                select(t.proposal_signatures.c.key_id).where(
                    t.proposal_signatures.c.proposal_id == proposal_id,
                    t.proposal_signatures.c.key_id == kid,
                )
            ).first()
            if exists is None:
                conn.execute(
                    insert(t.proposal_signatures).values(
                        proposal_id=proposal_id,
                        key_id=kid,
                        sig=sig,
                        member=member.name if member else kid.hex()[:16],
                        at=now,
                    )
                )
            assembled = self._maybe_assemble(conn, prop, now)
            out = self._proposal_json(
                conn, conn.execute(select(t.proposals).where(t.proposals.c.id == proposal_id)).one()
            )
        return {**out, "assembled_now": assembled}

    def _maybe_assemble(self, conn: Connection, prop: Any, now: int) -> bool:
        sigs = conn.execute(
            select(t.proposal_signatures).where(t.proposal_signatures.c.proposal_id == prop.id)
        ).all()
        env = Envelope(
            prop.payload_type,
            1,
            bytes(prop.payload),
            tuple(
                sorted(
                    (Signature(bytes(s.key_id), bytes(s.sig)) for s in sigs),
                    key=lambda s: s.key_id,
                )
            ),
        )
        if not self.root.verify_role(env, "pause").ok:
            return False
        res = conn.execute(
            update(t.proposals)
            .where(t.proposals.c.id == prop.id, t.proposals.c.status == "open")
            .values(status="assembled")
        )
        if res.rowcount != 1:
            return False
        order = env.open()
        assert isinstance(order, (PauseOrder, ResumeOrder))
        data = env.encode()
        idx = self.log.append(conn, prop.payload_type, data, now)
        conn.execute(
            insert(t.orders).values(
                sequence=prop.sequence,
                kind=prop.kind,
                proposal_id=prop.id,
                envelope=data,
                scope=scope_to_json(order.scope),
                lifts=getattr(order, "lifts", None),
                active=prop.kind == "pause",
                assembled_at=now,
                log_index=idx,
            )
        )
        if isinstance(order, ResumeOrder):
            conn.execute(
                update(t.orders).where(t.orders.c.sequence == order.lifts).values(active=False)
            )
        return True

    def _proposal_json(self, conn: Connection, prop: Any) -> dict[str, Any]:
        sigs = conn.execute(
            select(t.proposal_signatures.c.member, t.proposal_signatures.c.key_id)
            .where(t.proposal_signatures.c.proposal_id == prop.id)
            .order_by(t.proposal_signatures.c.at)
        ).all()
        payload = bytes(prop.payload)
        env = Envelope(prop.payload_type, 1, payload)
        from pausebutton.protocol.jsonview import to_json

        return {
            "id": prop.id,
            "kind": prop.kind,
            "sequence": prop.sequence,
            "status": prop.status,
            "proposer": prop.proposer,
            "created_at": prop.created_at,
            "payload_type": prop.payload_type,
            "payload": to_json(env.open()),
            "envelope": b64(env.encode()),
            "signing_input": env.signing_input().hex(),
            "signed_by": [s.member for s in sigs],
            "threshold": self.pause_threshold,
            "missing": max(0, self.pause_threshold - len(sigs)),
        }

    def get_proposal(self, proposal_id: int) -> dict[str, Any]:
        with self._read() as conn:
            prop = conn.execute(select(t.proposals).where(t.proposals.c.id == proposal_id)).first()
            if prop is None:
                raise NotFoundError(f"no proposal {proposal_id}", field="proposal_id")
            return self._proposal_json(conn, prop)

    def list_proposals(
        self, *, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        stmt = select(t.proposals).order_by(t.proposals.c.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(t.proposals.c.status == status)
        with self._read() as conn:
            return [self._proposal_json(conn, p) for p in conn.execute(stmt).all()]

    @staticmethod
    def _order_json(r: Any) -> dict[str, Any]:
        return {
            "sequence": r.sequence,
            "kind": r.kind,
            "proposal_id": r.proposal_id,
            "scope": r.scope,
            "lifts": r.lifts,
            "active": bool(r.active),
            "assembled_at": r.assembled_at,
            "log_index": r.log_index,
            "envelope": b64(bytes(r.envelope)),
        }

    def orders(
        self, *, after: int = 0, active: bool | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        stmt = (
            select(t.orders)
            .where(t.orders.c.sequence > after)
            .order_by(t.orders.c.sequence)
            .limit(limit)
        )
        if active is not None:
            stmt = stmt.where(t.orders.c.active.is_(active))
        with self._read() as conn:
            return [self._order_json(r) for r in conn.execute(stmt).all()]

    def get_order(self, sequence: int) -> dict[str, Any]:
        with self._read() as conn:
            r = conn.execute(select(t.orders).where(t.orders.c.sequence == sequence)).first()
        if r is None:
            raise NotFoundError(f"no order {sequence}", field="sequence")
        return self._order_json(r)

    def last_order_sequence(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.max(t.orders.c.sequence))).scalar() or 0)

    # -- usage reports -------------------------------------------------------------

    def _device_key_map(self, chip_ids: Iterable[str]) -> dict[str, tuple[PublicKey, str | None]]:
        """Device keys (immutable, cached) and current owners of these chips."""
        wanted = list(set(chip_ids))
        with self._read() as conn:
            rows = conn.execute(
                select(t.chips.c.chip_id, t.chips.c.device_key, t.chips.c.owner_id).where(
                    t.chips.c.chip_id.in_(wanted)
                )
            ).all()
        out = {}
        for r in rows:
            pub = self._device_keys.get(r.chip_id)
            if pub is None:
                pub = PublicKey.from_bytes(bytes(r.device_key))
                if len(self._device_keys) < 1_000_000:
                    self._device_keys[r.chip_id] = pub
            out[r.chip_id] = (pub, r.owner_id)
        return out

    @staticmethod
    def _check_signatures(chunk: Sequence[tuple[Envelope, PublicKey]]) -> list[bool]:
        """Is each envelope signed by its key? (libsodium runs without the GIL)."""
        out = []
        for env, pub in chunk:
            kid = pub.key_id
            msg = env.signing_input()
            out.append(any(s.key_id == kid and pub.is_valid(msg, s.sig) for s in env.signatures))
        return out

    def _verifier_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._verify_threads, thread_name_prefix="pb-verify")
        return self._pool

    def ingest(self, caller: Caller | None, items: Sequence[bytes]) -> dict[str, Any]:
        """Verify and store a batch of signed usage reports; acknowledge only after commit.

        Per report: the envelope is a UsageReport signed by the chip's registered
        device key; sequence/prev_hash chain onto what is stored. A duplicate of a
        stored report is acknowledged again (idempotent). Alerts: gap (sequence
        skips ahead), replay (a different report at a stored sequence), chain
        (prev_hash does not match), over_license (more FLOP used than licensed),
        outside_license_period (full-rate work reported outside the licence's
        validity), unknown_license, unknown_chip, bad_signature.
        """
        c = self._require(caller, OPERATOR, ADMIN)
        if len(items) > MAX_BATCH:
            raise SchemaError(f"at most {MAX_BATCH} reports per batch", field="reports")
        now = self.now()
        rejected: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        # Pipeline: this thread decodes chunk k+1 (Python, holds the GIL) while
        # verifier threads check the signatures of chunk k (libsodium, no GIL).
        chunk_size = 250
        jobs: list[tuple[list[tuple[int, bytes, UsageReport]], Future[list[bool]]]] = []
        for start in range(0, len(items), chunk_size):
            parsed: list[tuple[int, bytes, Envelope, UsageReport]] = []
            for i in range(start, min(start + chunk_size, len(items))):
                data = items[i]
                if not isinstance(data, bytes) or len(data) > MAX_REPORT_SIZE:
                    rejected.append(
                        {
                            "index": i,
                            "error": "oversized",
                            "field": f"reports[{i}]",
                            "message": "too large",
                        }
                    )
                    continue
                try:
                    env, rep = decode_as(data, UsageReport, max_size=MAX_REPORT_SIZE)
                except PausebuttonError as exc:
                    rejected.append(
                        {
                            "index": i,
                            "error": exc.code,
                            "field": f"reports[{i}]",
                            "message": exc.message,
                        }
                    )
                    continue
                parsed.append((i, data, env, rep))
            keys = self._device_key_map(rep.chip_id.hex() for _, _, _, rep in parsed)
            candidates: list[tuple[int, bytes, UsageReport]] = []
            to_check: list[tuple[Envelope, PublicKey]] = []
            for i, data, env, rep in parsed:
                cid = rep.chip_id.hex()
                entry = keys.get(cid)
                if entry is None:
                    rejected.append(
                        {
                            "index": i,
                            "error": "not_found",
                            "field": f"reports[{i}].chip_id",
                            "message": f"chip {cid} is not registered",
                        }
                    )
                    alerts.append(
                        {
                            "kind": "unknown_chip",
                            "chip_id": cid,
                            "severity": "high",
                            "detail": {"sequence": rep.sequence},
                        }
                    )
                    continue
                pub, owner = entry
                if c.role == OPERATOR and owner != c.owner_id:
                    rejected.append(
                        {
                            "index": i,
                            "error": "forbidden",
                            "field": f"reports[{i}].chip_id",
                            "message": f"chip {cid} is not owned by {c.owner_id}",
                        }
                    )
                    continue
                candidates.append((i, data, rep))
                to_check.append((env, pub))
            if len(items) <= chunk_size:
                done: Future[list[bool]] = Future()
                done.set_result(self._check_signatures(to_check))
                jobs.append((candidates, done))
            else:
                jobs.append(
                    (candidates, self._verifier_pool().submit(self._check_signatures, to_check))
                )
        verified: list[tuple[int, bytes, UsageReport]] = []
        for candidates, fut in jobs:
            for (i, data, rep), ok in zip(candidates, fut.result(), strict=True):
                if not ok:
                    rejected.append(
                        {
                            "index": i,
                            "error": "bad_signature",
                            "field": f"reports[{i}]",
                            "message": "not signed by the chip's device key",
                        }
                    )
                    alerts.append(
                        {
                            "kind": "bad_signature",
                            "chip_id": rep.chip_id.hex(),
                            "severity": "high",
                            "detail": {"sequence": rep.sequence},
                        }
                    )
                    continue
                verified.append((i, data, rep))
        verified.sort(key=lambda x: (x[2].chip_id, x[2].sequence))
        accepted = duplicates = 0
        with self._write() as conn:
            chip_ids = sorted({rep.chip_id.hex() for _, _, rep in verified})
            heads = (
                {
                    r.chip_id: (int(r.report_seq), bytes(r.report_hash))
                    for r in conn.execute(
                        self._lock_columns(
                            (t.chips.c.chip_id, t.chips.c.report_seq, t.chips.c.report_hash),
                            t.chips.c.chip_id.in_(chip_ids),
                        ).order_by(t.chips.c.chip_id)
                    ).all()
                }
                if chip_ids
                else {}
            )
            lic_ids = {rep.license_id for _, _, rep in verified if rep.license_id is not None}
            lics = (
                {
                    r.license_id: (r.chip_id, int(r.flop_budget), r.not_before, r.not_after)
                    for r in conn.execute(
                        select(
                            t.licenses.c.license_id,
                            t.licenses.c.chip_id,
                            t.licenses.c.flop_budget,
                            t.licenses.c.not_before,
                            t.licenses.c.not_after,
                        ).where(t.licenses.c.license_id.in_(list(lic_ids)))
                    ).all()
                }
                if lic_ids
                else {}
            )
            stored: dict[tuple[str, int], bytes] = {}
            back = [
                (rep.chip_id.hex(), rep.sequence)
                for _, _, rep in verified
                if rep.sequence <= heads[rep.chip_id.hex()][0]
            ]
            for cid, seq in back:
                r = conn.execute(
                    select(t.reports.c.hash).where(
                        t.reports.c.chip_id == cid, t.reports.c.sequence == seq
                    )
                ).first()
                if r is not None:
                    stored[(cid, seq)] = bytes(r.hash)
            rows = []
            new_heads: dict[str, tuple[int, bytes]] = {}
            for i, data, rep in verified:
                cid = rep.chip_id.hex()
                h = report_hash(data)
                head_seq, head_hash = new_heads.get(cid, heads[cid])
                if rep.sequence <= head_seq:
                    prior = stored.get((cid, rep.sequence))
                    if prior == h:
                        duplicates += 1
                        continue
                    if prior is not None:
                        rejected.append(
                            {
                                "index": i,
                                "error": "replay",
                                "field": f"reports[{i}].sequence",
                                "message": f"a different report {rep.sequence} is stored",
                            }
                        )
                        alerts.append(
                            {
                                "kind": "replay",
                                "chip_id": cid,
                                "severity": "high",
                                "detail": {"sequence": rep.sequence},
                            }
                        )
                        continue
                    # a late report filling an earlier gap: stored, head unchanged
                elif rep.sequence == head_seq + 1:
                    if rep.prev_hash != head_hash:
                        rejected.append(
                            {
                                "index": i,
                                "error": "chain",
                                "field": f"reports[{i}].prev_hash",
                                "message": "prev_hash does not match the stored chain",
                            }
                        )
                        alerts.append(
                            {
                                "kind": "chain",
                                "chip_id": cid,
                                "severity": "high",
                                "detail": {"sequence": rep.sequence},
                            }
                        )
                        continue
                    new_heads[cid] = (rep.sequence, h)
                else:
                    alerts.append(
                        {
                            "kind": "gap",
                            "chip_id": cid,
                            "severity": "medium",
                            "detail": {
                                "missing_from": head_seq + 1,
                                "missing_to": rep.sequence - 1,
                            },
                        }
                    )
                    new_heads[cid] = (rep.sequence, h)
                stored[(cid, rep.sequence)] = h
                if rep.license_id is not None:
                    lic = lics.get(rep.license_id)
                    if lic is None or lic[0] != cid:
                        alerts.append(
                            {
                                "kind": "unknown_license",
                                "chip_id": cid,
                                "severity": "high",
                                "detail": {"sequence": rep.sequence, "license_id": rep.license_id},
                            }
                        )
                    elif rep.license_flop_used is not None and rep.license_flop_used > lic[1]:
                        alerts.append(
                            {
                                "kind": "over_license",
                                "chip_id": cid,
                                "severity": "high",
                                "detail": {
                                    "sequence": rep.sequence,
                                    "license_id": rep.license_id,
                                    "used": str(rep.license_flop_used),
                                    "budget": str(lic[1]),
                                },
                            }
                        )
                    if (
                        lic is not None
                        and lic[0] == cid
                        and rep.state == "licensed"
                        and not lic[2] <= rep.time < lic[3]
                    ):
                        alerts.append(
                            {
                                "kind": "outside_license_period",
                                "chip_id": cid,
                                "severity": "high",
                                "detail": {
                                    "sequence": rep.sequence,
                                    "license_id": rep.license_id,
                                    "time": rep.time,
                                },
                            }
                        )
                rows.append(
                    {
                        "chip_id": cid,
                        "sequence": rep.sequence,
                        "hash": h,
                        "time": rep.time,
                        "flop_full": str(rep.flop_full),
                        "license_id": rep.license_id,
                        "license_flop_used": None
                        if rep.license_flop_used is None
                        else str(rep.license_flop_used),
                        "state": rep.state,
                        "envelope": data,
                        "received_at": now,
                    }
                )
                accepted += 1
            if rows:
                insert_many(conn, t.reports, rows)
            if new_heads:
                conn.execute(
                    update(t.chips)
                    .where(t.chips.c.chip_id == bindparam("cid"))
                    .values(report_seq=bindparam("seq"), report_hash=bindparam("head")),
                    [{"cid": k, "seq": v[0], "head": v[1]} for k, v in new_heads.items()],
                )
            if alerts:
                conn.execute(
                    insert(t.alerts),
                    [{**a, "created_at": now} for a in alerts],
                )
        rejected.sort(key=lambda r: r["index"])
        return {
            "received": len(items),
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": rejected,
            "alerts": alerts,
        }

    def list_reports(
        self, chip_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(t.reports)
                .where(t.reports.c.chip_id == chip_id, t.reports.c.sequence > after)
                .order_by(t.reports.c.sequence)
                .limit(limit)
            ).all()
        return [
            {
                "chip_id": r.chip_id,
                "sequence": r.sequence,
                "hash": bytes(r.hash).hex(),
                "time": r.time,
                "flop_full": r.flop_full,
                "license_id": r.license_id,
                "license_flop_used": r.license_flop_used,
                "state": r.state,
                "received_at": r.received_at,
                "envelope": b64(bytes(r.envelope)),
            }
            for r in rows
        ]

    def count_reports(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.reports)).scalar_one())

    def list_alerts(
        self,
        *,
        after: int = 0,
        kind: str | None = None,
        chip_id: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        stmt = _page(t.alerts, after, limit, kind=kind, chip_id=chip_id)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt).all()]

    # -- time tokens -----------------------------------------------------------------

    def time_token(self, chip_id: str | None = None) -> dict[str, Any]:
        """A TimeToken signed by the time role: the server's time and the next value of
        the ``time_sequence`` counter (strictly increasing across workers and restarts).
        The time is read while the counter row is locked, so a higher sequence never
        carries an earlier time (a chip would refuse it as a rollback)."""
        if self.time_key is None:
            raise ServiceError(
                "this authority serves no time tokens: it was started without the time key"
                " (DIR/keys/time-0.key)",
                field="time_key",
            )
        cid = parse_hex(chip_id, KEY_ID_SIZE, "chip_id") if chip_id is not None else None
        with self._write() as conn:
            seq = next_value(conn, "time_sequence")
            now = self.now()
        token = TimeToken(time=now, sequence=seq, chip_id=cid)
        env = Envelope.create(token, [self.time_key]).encode()
        return {
            "time": now,
            "sequence": seq,
            "chip_id": chip_id,
            "envelope": b64(env),
        }

    # -- prohibited artifacts ------------------------------------------------------------

    def publish_prohibited(self, caller: Caller | None, data: bytes) -> dict[str, Any]:
        """Store and log a ProhibitedArtifacts list signed by the pause role's K of N.

        Named errors: an unreadable envelope (``malformed``, ``schema``...), too few
        pause signatures (``below_threshold``), a sequence below the newest list
        (``rollback``) or equal to it with other content (``replay``). Publishing the
        newest list again is acknowledged (``duplicate``) and changes nothing."""
        c = self._require(caller, MEMBER)
        env, plist = decode_as(data, ProhibitedArtifacts)
        self.root.require_role(env, "pause")
        data = env.encode()  # canonical bytes (decode refuses non-canonical input)
        now = self.now()
        with self._write() as conn:
            newest = conn.execute(
                self._lock(t.prohibited_lists)
                .order_by(t.prohibited_lists.c.sequence.desc())
                .limit(1)
            ).first()
            if newest is not None and plist.sequence <= newest.sequence:
                if plist.sequence == newest.sequence and bytes(newest.envelope) == data:
                    return {**self._prohibited_json(newest), "duplicate": True}
                if plist.sequence == newest.sequence:
                    raise ReplayError(
                        f"a different prohibited-artifacts list {plist.sequence} is already"
                        " published",
                        field="sequence",
                    )
                raise RollbackError(
                    f"prohibited-artifacts list {plist.sequence} is older than the published"
                    f" list {newest.sequence}",
                    field="sequence",
                )
            idx = self.log.append(conn, ProhibitedArtifacts.TYPE, data, now)
            row = {
                "sequence": plist.sequence,
                "issued_at": plist.issued_at,
                "artifacts": len(plist.artifacts),
                "envelope": data,
                "log_index": idx,
                "published_by": c.name,
                "received_at": now,
            }
            conn.execute(insert(t.prohibited_lists).values(**row))
        return {**self._prohibited_json(row), "duplicate": False}

    @staticmethod
    def _prohibited_json(r: Any) -> dict[str, Any]:
        m = r if isinstance(r, dict) else r._mapping
        return {
            "sequence": m["sequence"],
            "issued_at": m["issued_at"],
            "artifacts": m["artifacts"],
            "log_index": m["log_index"],
            "published_by": m["published_by"],
            "received_at": m["received_at"],
            "envelope": b64(bytes(m["envelope"])),
        }

    def newest_prohibited(self) -> dict[str, Any]:
        with self._read() as conn:
            row = conn.execute(
                select(t.prohibited_lists).order_by(t.prohibited_lists.c.sequence.desc()).limit(1)
            ).first()
        if row is None:
            raise NotFoundError("no prohibited-artifacts list is published yet")
        return self._prohibited_json(row)

    def report_artifacts(self, caller: Caller | None, items: Sequence[Any]) -> dict[str, Any]:
        """Store refused-load reports from node agents (each ``{"id": 64 hex, "report":
        {...}}``; the id makes a retry harmless) and raise a ``prohibited_artifact``
        alert for each new one. All or nothing."""
        c = self._require(caller, OPERATOR, ADMIN)
        if not isinstance(items, (list, tuple)) or len(items) > 1000:
            raise SchemaError("reports must be a list of at most 1000 items", field="reports")
        parsed: list[tuple[str, dict[str, Any]]] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or set(item) != {"id", "report"}:
                raise SchemaError(f"reports[{i}] must be {{id, report}}", field=f"reports.{i}")
            rid = item["id"]
            if not isinstance(rid, str) or not re.fullmatch("[0-9a-f]{64}", rid):
                raise SchemaError(f"reports[{i}].id must be 64 hex digits", field=f"reports.{i}.id")
            if not isinstance(item["report"], dict):
                raise SchemaError(
                    f"reports[{i}].report must be an object", field=f"reports.{i}.report"
                )
            parsed.append((rid, item["report"]))
        now = self.now()
        accepted = 0
        duplicates = 0
        alerts: list[int] = []
        with self._write() as conn:
            seen: set[str] = set()
            if parsed:
                seen = {
                    r[0]
                    for r in conn.execute(
                        select(t.artifact_reports.c.report_id).where(
                            t.artifact_reports.c.report_id.in_([rid for rid, _ in parsed])
                        )
                    ).all()
                }
            for rid, report in parsed:
                if rid in seen:
                    duplicates += 1
                    continue
                seen.add(rid)
                hits = report.get("hits")
                first = hits[0] if isinstance(hits, list) and hits else {}
                seq = report.get("list_sequence")
                detail = {
                    "report_id": rid,
                    "owner_id": c.owner_id,
                    "key": c.name,
                    "what": str(report.get("what", ""))[:1024],
                    "gpu": str(report.get("gpu", ""))[:128],
                    "list_sequence": seq if isinstance(seq, int) else None,
                    "hits": len(hits) if isinstance(hits, list) else 0,
                    "artifact": str(first.get("sha256", ""))[:64]
                    if isinstance(first, dict)
                    else "",
                }
                alert_id = conn.execute(
                    insert(t.alerts)
                    .values(
                        kind="prohibited_artifact",
                        chip_id=None,
                        severity="high",
                        detail=detail,
                        created_at=now,
                    )
                    .returning(t.alerts.c.id)
                ).scalar_one()
                conn.execute(
                    insert(t.artifact_reports).values(
                        report_id=rid,
                        key_id=c.key_id,
                        owner_id=c.owner_id,
                        list_sequence=detail["list_sequence"],
                        report=report,
                        alert_id=alert_id,
                        received_at=now,
                    )
                )
                alerts.append(int(alert_id))
                accepted += 1
        return {"accepted": accepted, "duplicates": duplicates, "alerts": alerts}

    def list_artifact_reports(
        self, *, owner_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        stmt = _page(t.artifact_reports, after, limit, owner_id=owner_id)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt).all()]

    # -- location verification ----------------------------------------------------------

    def submit_measurement(self, data: bytes) -> dict[str, Any]:
        """Store one landmark's signed Measurement (protocol step G5, the raw envelope).

        It must be signed by a landmark key of the trust root (``bad_signature``), embed
        the registered chip's own signed response (``not_found`` for an unknown chip,
        ``bad_signature``), be no older than ``location_max_age`` (``expired``) nor from
        the future (``not_yet_valid``), and carry a nonce not seen before (``replay``).
        Self-authenticating: no request signature is needed."""
        if len(data) > MAX_WIRE_MESSAGE:
            raise OversizedError(f"a measurement is at most {MAX_WIRE_MESSAGE} bytes", field="body")
        m = verify_measurement(data, self.landmark_keys)
        now = self.now()
        if m.time < now - self.location_max_age:
            raise ExpiredError(
                f"measured at {m.time}, older than {self.location_max_age} s", field="time"
            )
        if m.time > now + CLOCK_SKEW_S:
            raise NotYetValidError(f"measured at {m.time}, in the future", field="time")
        cid = m.chip_id.hex()
        nonce = m.nonce.hex()
        try:
            with self._write() as conn:
                chip = conn.execute(
                    select(t.chips.c.device_key).where(t.chips.c.chip_id == cid)
                ).first()
                if chip is None:
                    raise NotFoundError(f"no chip {cid}", field="chip_id")
                verify_measurement(data, self.landmark_keys, PublicKey.from_bytes(bytes(chip[0])))
                seen = conn.execute(
                    select(t.location_measurements.c.id).where(
                        t.location_measurements.c.nonce == nonce
                    )
                ).first()
                if seen is not None:
                    raise ReplayError(
                        "a measurement with this nonce was already received", field="nonce"
                    )
                row = {
                    "nonce": nonce,
                    "chip_id": cid,
                    "landmark_id": m.landmark_id.hex(),
                    "rtt_ns": m.rtt_ns,
                    "time": m.time,
                    "lat_e6": m.lat_e6,
                    "lon_e6": m.lon_e6,
                    "envelope": data,
                    "received_at": now,
                }
                mid = conn.execute(
                    insert(t.location_measurements)
                    .values(**row)
                    .returning(t.location_measurements.c.id)
                ).scalar_one()
        except IntegrityError:  # another worker stored the same nonce meanwhile
            raise ReplayError(
                "a measurement with this nonce was already received", field="nonce"
            ) from None
        return {
            "id": int(mid),
            "chip_id": cid,
            "landmark_id": row["landmark_id"],
            "nonce": nonce,
            "rtt_ms": m.rtt_ms,
            "time": m.time,
            "lat": m.lat_e6 / 1e6,
            "lon": m.lon_e6 / 1e6,
        }

    def run_location_checks(self, now: int) -> list[dict[str, Any]]:
        """Check every chip that has measurements newer than its last check against its
        declared facility's coordinates (``geo.service.verify_chip_location`` over the
        measurements of the last ``location_max_age`` seconds; landmark positions are
        the ones each landmark signed into its Measurement).

        Each result is stored and appended to the transparency log as the canonical
        CBOR record ``{"type": "location-check", "check": {...}}`` in one transaction;
        an ``inconsistent`` verdict also raises a ``location_inconsistent`` alert with
        the evidence. ``insufficient_evidence`` is stored, not alerted. Chips without a
        facility with coordinates, and decommissioned or destroyed chips, are skipped."""
        since = now - self.location_max_age
        lm, lc = t.location_measurements, t.location_checks
        with self._read() as conn:
            newest = dict(
                conn.execute(
                    select(lm.c.chip_id, func.max(lm.c.id))
                    .where(lm.c.time >= since)
                    .group_by(lm.c.chip_id)
                ).all()
            )
            covered = dict(
                conn.execute(
                    select(lc.c.chip_id, func.max(lc.c.newest_measurement)).group_by(lc.c.chip_id)
                ).all()
            )
            due = {c for c, top in newest.items() if top > covered.get(c, 0)}
            if not due:
                return []
            chips = conn.execute(
                select(
                    t.chips.c.chip_id,
                    t.chips.c.device_key,
                    t.chips.c.facility_id,
                    t.facilities.c.latitude,
                    t.facilities.c.longitude,
                )
                .join(t.facilities, t.facilities.c.id == t.chips.c.facility_id)
                .where(
                    t.chips.c.status.in_(("registered", "installed")),
                    t.facilities.c.latitude.is_not(None),
                    t.facilities.c.longitude.is_not(None),
                )
                .order_by(t.chips.c.chip_id)
            ).all()
        out: list[dict[str, Any]] = []
        for chip in chips:
            cid = chip.chip_id
            if cid not in due:
                continue
            with self._read() as conn:
                rows = conn.execute(
                    select(t.location_measurements.c.id, t.location_measurements.c.envelope)
                    .where(
                        t.location_measurements.c.chip_id == cid,
                        t.location_measurements.c.time >= since,
                    )
                    .order_by(t.location_measurements.c.id)
                ).all()
                last = self._last_covered(conn, cid)
            if not rows or rows[-1].id <= last:
                continue
            envelopes = [bytes(r.envelope) for r in rows]
            check = verify_chip_location(
                bytes.fromhex(cid),
                Claim(chip.latitude, chip.longitude),
                envelopes,
                self.landmark_keys,
                now=now,
                chip_key=PublicKey.from_bytes(bytes(chip.device_key)),
                policy=self.location_policy,
                max_age_s=self.location_max_age,
            )
            saved = self._store_check(cid, chip.facility_id, check, envelopes, rows[-1].id, now)
            if saved is not None:
                out.append(saved)
        return out

    @staticmethod
    def _last_covered(conn: Connection, chip_id: str) -> int:
        value = conn.execute(
            select(func.max(t.location_checks.c.newest_measurement)).where(
                t.location_checks.c.chip_id == chip_id
            )
        ).scalar()
        return int(value or 0)

    def _store_check(
        self,
        chip_id: str,
        facility_id: str,
        check: LocationCheck,
        envelopes: Sequence[bytes],
        newest: int,
        now: int,
    ) -> dict[str, Any] | None:
        v = check.verdict
        skipped = {i for i, _, _ in check.rejected}
        used = [
            Envelope.decode(e).open_as(Measurement)
            for i, e in enumerate(envelopes)
            if i not in skipped
        ]
        record = {
            "type": "location-check",
            "check": {
                "chip_id": chip_id,
                "facility_id": facility_id,
                "time": now,
                "verdict": v.verdict.value,
                "facility": {
                    "lat_e6": round(v.claim.lat * 1e6),
                    "lon_e6": round(v.claim.lon * 1e6),
                },
                "measurements": [m.nonce.hex() for m in used],
                "landmarks": [
                    {
                        "landmark_id": e.landmark_id,
                        "rtt_ns": round(e.rtt_ms * 1e6),
                        "status": e.status,
                    }
                    for e in v.landmarks
                ],
                "least_distance_m": round(v.least_distance_km * 1000),
            },
        }
        result: dict[str, Any] = {
            **v.to_json(),
            "accepted": check.accepted,
            "rejected": [{"index": i, "error": c, "message": m} for i, c, m in check.rejected],
        }
        with self._write() as conn:
            # another worker may have checked the same measurements meanwhile
            conn.execute(self._lock_columns([t.chips.c.chip_id], t.chips.c.chip_id == chip_id))
            if self._last_covered(conn, chip_id) >= newest:
                return None
            idx = self.log.append(conn, "location-check", encoding.encode(record), now)
            alert_id: int | None = None
            alert = check.alert  # the evidence: landmarks too slow/fast, least distance
            if alert is not None and v.verdict is VerdictKind.INCONSISTENT:
                kind, severity = alert.pop("kind"), alert.pop("severity")
                alert.pop("chip_id")
                alert_id = int(
                    conn.execute(
                        insert(t.alerts)
                        .values(
                            kind=kind,
                            chip_id=chip_id,
                            severity=severity,
                            detail={**alert, "facility_id": facility_id, "log_index": idx},
                            created_at=now,
                        )
                        .returning(t.alerts.c.id)
                    ).scalar_one()
                )
            row = {
                "chip_id": chip_id,
                "facility_id": facility_id,
                "time": now,
                "verdict": v.verdict.value,
                "landmarks": len(v.landmarks),
                "least_distance_km": round(v.least_distance_km, 3),
                "newest_measurement": newest,
                "result": result,
                "log_index": idx,
                "alert_id": alert_id,
            }
            check_id = conn.execute(
                insert(t.location_checks).values(**row).returning(t.location_checks.c.id)
            ).scalar_one()
        return self._check_json({**row, "id": int(check_id)})

    @staticmethod
    def _check_json(r: Any) -> dict[str, Any]:
        m = r if isinstance(r, dict) else dict(r._mapping)
        return {
            "id": m["id"],
            "chip_id": m["chip_id"],
            "facility_id": m["facility_id"],
            "time": m["time"],
            "verdict": m["verdict"],
            "landmarks": m["landmarks"],
            "least_distance_km": m["least_distance_km"],
            "log_index": m["log_index"],
            "alert_id": m["alert_id"],
            "result": m["result"],
        }

    def list_location_checks(
        self, *, chip_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        stmt = _page(t.location_checks, after, limit, chip_id=chip_id)
        with self._read() as conn:
            return [self._check_json(r) for r in conn.execute(stmt).all()]

    def list_location_measurements(
        self, chip_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        stmt = _page(t.location_measurements, after, limit, chip_id=chip_id)
        with self._read() as conn:
            return [
                {
                    "id": r.id,
                    "chip_id": r.chip_id,
                    "landmark_id": r.landmark_id,
                    "nonce": r.nonce,
                    "rtt_ms": r.rtt_ns / 1e6,
                    "time": r.time,
                    "lat": r.lat_e6 / 1e6,
                    "lon": r.lon_e6 / 1e6,
                    "received_at": r.received_at,
                    "envelope": b64(bytes(r.envelope)),
                }
                for r in conn.execute(stmt).all()
            ]

    # -- log -------------------------------------------------------------------------

    def log_entries(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        with self._read() as conn:
            size = self.log.size(conn)
            stop = size if end is None else min(end, size, start + 1000)
            out = self.log.entries(conn, start, stop)
        return [{**e, "data": b64(e["data"])} for e in out]

    def log_size(self) -> int:
        with self._read() as conn:
            return self.log.size(conn)

    def stats(self) -> dict[str, int]:
        with self._read() as conn:

            def count(table: Any, *where: Any) -> int:
                stmt = select(func.count()).select_from(table)
                if where:
                    stmt = stmt.where(and_(*where))
                return int(conn.execute(stmt).scalar_one())

            return {
                "owners": count(t.owners),
                "facilities": count(t.facilities),
                "chips": count(t.chips),
                "licenses": count(t.licenses),
                "orders": count(t.orders),
                "active_pauses": count(t.orders, t.orders.c.active.is_(True)),
                "reports": count(t.reports),
                "alerts": count(t.alerts),
                "log_size": self.log.size(conn),
            }


__all__ = [
    "ADMIN",
    "MEMBER",
    "OPERATOR",
    "AuthorityService",
    "Caller",
    "VerificationError",
]
