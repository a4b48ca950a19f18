"""The registry: owners, facilities and chips (registered from their vendor-signed
DeviceCertificate and appended to the transparency log)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, func, insert, select, update

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    Caller,
    Result,
    Store,
    b64,
    check_country,
    check_id,
    check_text,
    from_row,
    owner_row,
    require,
    require_facility,
    retried,
)
from pausebutton.authority.services.custody import CustodyEvent, custody_events
from pausebutton.errors import (
    BadSignatureError,
    ConflictError,
    EncodingError,
    NotFoundError,
    SchemaError,
)
from pausebutton.protocol.envelope import decode_as
from pausebutton.protocol.messages import GENESIS_HASH, DeviceCertificate
from pausebutton.protocol.trustroot import TrustRoot


@dataclass(frozen=True, slots=True)
class Owner(Result):
    id: str
    name: str
    country: str


@dataclass(frozen=True, slots=True)
class OwnerDetail(Result):
    id: str
    name: str
    country: str
    chips: int
    """How many chips the owner holds."""


@dataclass(frozen=True, slots=True)
class Facility(Result):
    id: str
    name: str
    country: str
    latitude: float | None
    longitude: float | None
    power_mw: float | None
    owner_id: str | None
    verified: bool
    declared_chips: int | None
    chip_model: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class FacilityDetail(Facility):
    registered_chips: int


@dataclass(frozen=True, slots=True)
class Chip(Result):
    chip_id: str
    serial: str
    model: str
    vendor: str
    device_key: str
    """Hex."""
    firmware_floor: int
    peak_flops: str | None
    """Decimal text (may exceed 64 bits)."""
    owner_id: str | None
    facility_id: str | None
    status: str
    registered_at: int
    log_index: int | None
    last_report_sequence: int


@dataclass(frozen=True, slots=True)
class ChipDetail(Chip):
    certificate: str
    """Base64 of the vendor-signed DeviceCertificate envelope."""
    custody: list[CustodyEvent]


def _refuse_second_identity(conn: Connection, cert: DeviceCertificate) -> None:
    """ConflictError if another chip has this certificate's vendor serial or GPU UUID: one
    physical chip, one registration (a cloned or replayed identity is refused)."""
    same_serial = (t.chips.c.vendor == cert.vendor) & (t.chips.c.serial == cert.serial)
    other = conn.execute(select(t.chips.c.chip_id).where(same_serial).limit(1)).first()
    if other is not None:
        raise ConflictError(
            f"vendor {cert.vendor!r} serial {cert.serial!r} is already registered"
            f" as chip {other.chip_id}",
            field="certificate",
        )
    if cert.hardware_uuid is None:
        return
    same_uuid = t.chips.c.hardware_uuid == cert.hardware_uuid
    other = conn.execute(select(t.chips.c.chip_id).where(same_uuid).limit(1)).first()
    if other is not None:
        raise ConflictError(
            f"GPU UUID {cert.hardware_uuid!r} is already registered as chip {other.chip_id}",
            field="certificate",
        )


C = TypeVar("C", bound=Chip)
F = TypeVar("F", bound=Facility)


_CHIPS = select(t.chips, t.chain_heads.c.report_seq).join(
    t.chain_heads, t.chain_heads.c.chip_id == t.chips.c.chip_id
)
"""Chips with their report chain's head sequence."""


def _chip(cls: type[C], r: Any, **values: Any) -> C:
    """A chip result from its row (the device key in hex; the chain head's sequence)."""
    return from_row(
        cls, r, device_key=bytes(r.device_key).hex(), last_report_sequence=r.report_seq, **values
    )


def _facility(cls: type[F], r: Any, **values: Any) -> F:
    return from_row(cls, r, verified=bool(r.verified), **values)


def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _check_facility(
    latitude: float | None,
    longitude: float | None,
    power_mw: float | None,
    declared_chips: int | None,
) -> None:
    if latitude is not None and not -90 <= float(latitude) <= 90:
        raise SchemaError("latitude must be within [-90, 90]", field="latitude")
    if longitude is not None and not -180 <= float(longitude) <= 180:
        raise SchemaError("longitude must be within [-180, 180]", field="longitude")
    if power_mw is not None and not 0 <= float(power_mw) < 1e7:
        raise SchemaError("power_mw must be non-negative", field="power_mw")
    if declared_chips is not None and not 0 <= int(declared_chips) < 2**31:
        raise SchemaError("declared_chips must be non-negative", field="declared_chips")


class RegistryService:
    """Owners, facilities and chips."""

    def __init__(self, store: Store, root: TrustRoot) -> None:
        self.store = store
        self.root = root

    # -- owners ------------------------------------------------------------------------

    @retried
    def create_owner(self, caller: Caller | None, *, id: str, name: str, country: str) -> Owner:
        require(caller, ADMIN)
        check_id(id, "id")
        check_text(name, "name")
        check_country(country)
        with self.store.write() as conn:
            if conn.execute(select(t.owners.c.id).where(t.owners.c.id == id)).first():
                raise ConflictError(f"owner {id!r} exists", field="id")
            conn.execute(
                insert(t.owners).values(
                    id=id, name=name, country=country, created_at=self.store.now()
                )
            )
        return Owner(id, name, country)

    def list_owners(self) -> list[Owner]:
        with self.store.read() as conn:
            rows = conn.execute(select(t.owners).order_by(t.owners.c.id)).all()
        return [from_row(Owner, r) for r in rows]

    def get_owner(self, owner_id: str) -> OwnerDetail:
        with self.store.read() as conn:
            r = owner_row(conn, owner_id)
            chips = conn.execute(
                select(func.count()).select_from(t.chips).where(t.chips.c.owner_id == owner_id)
            ).scalar_one()
        return from_row(OwnerDetail, r, chips=int(chips))

    # -- facilities ----------------------------------------------------------------------

    @retried
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
    ) -> Facility:
        require(caller, ADMIN)
        check_id(id, "id")
        check_text(name, "name")
        check_country(country)
        _check_facility(latitude, longitude, power_mw, declared_chips)
        facility = Facility(
            id=id,
            name=name,
            country=country,
            latitude=_opt_float(latitude),
            longitude=_opt_float(longitude),
            power_mw=_opt_float(power_mw),
            owner_id=owner_id,
            verified=bool(verified),
            declared_chips=None if declared_chips is None else int(declared_chips),
            chip_model=chip_model,
            source=source,
        )
        with self.store.write() as conn:
            if owner_id is not None:
                owner_row(conn, owner_id)
            if conn.execute(select(t.facilities.c.id).where(t.facilities.c.id == id)).first():
                raise ConflictError(f"facility {id!r} exists", field="id")
            conn.execute(
                insert(t.facilities).values(
                    id=facility.id,
                    name=facility.name,
                    country=facility.country,
                    latitude=facility.latitude,
                    longitude=facility.longitude,
                    power_mw=facility.power_mw,
                    owner_id=facility.owner_id,
                    verified=facility.verified,
                    declared_chips=facility.declared_chips,
                    chip_model=facility.chip_model,
                    source=facility.source,
                    created_at=self.store.now(),
                )
            )
        return facility

    @retried
    def set_facility_verified(
        self, caller: Caller | None, facility_id: str, verified: bool
    ) -> FacilityDetail:
        require(caller, ADMIN)
        with self.store.write() as conn:
            res = conn.execute(
                update(t.facilities)
                .where(t.facilities.c.id == facility_id)
                .values(verified=verified)
            )
            if res.rowcount == 0:
                raise NotFoundError(f"no facility {facility_id!r}", field="facility_id")
        return self.get_facility(facility_id)

    def list_facilities(
        self, *, country: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[Facility]:
        stmt = select(t.facilities).order_by(t.facilities.c.id).limit(limit).offset(offset)
        if country:
            stmt = stmt.where(t.facilities.c.country == country)
        with self.store.read() as conn:
            return [_facility(Facility, r) for r in conn.execute(stmt).all()]

    def get_facility(self, facility_id: str) -> FacilityDetail:
        with self.store.read() as conn:
            r = conn.execute(select(t.facilities).where(t.facilities.c.id == facility_id)).first()
            if r is None:
                raise NotFoundError(f"no facility {facility_id!r}", field="facility_id")
            n = conn.execute(
                select(func.count())
                .select_from(t.chips)
                .where(t.chips.c.facility_id == facility_id)
            ).scalar_one()
        return _facility(FacilityDetail, r, registered_chips=int(n))

    # -- chips -------------------------------------------------------------------------------

    @retried
    def register_chip(
        self,
        caller: Caller | None,
        *,
        certificate: bytes,
        owner_id: str | None = None,
        facility_id: str | None = None,
    ) -> ChipDetail:
        """Register a chip from its vendor-signed DeviceCertificate (logged)."""
        require(caller, ADMIN)
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
        now = self.store.now()
        identity = [f"serial:{cert.vendor}:{cert.serial}"]
        if cert.hardware_uuid is not None:
            identity.append(f"gpu:{cert.hardware_uuid}")
        with self.store.write() as conn:
            # two registrations of one physical chip decide one at a time (step 1 of the
            # lock order): the second sees the first's row and is refused
            self.store.lock_keys(conn, *identity)
            if owner_id is not None:
                owner_row(conn, owner_id)
            if facility_id is not None:
                require_facility(conn, facility_id)
            if conn.execute(select(t.chips.c.chip_id).where(t.chips.c.chip_id == chip_id)).first():
                raise ConflictError(f"chip {chip_id} is already registered", field="certificate")
            _refuse_second_identity(conn, cert)
            idx = self.store.log.append(conn, "chip-registration", certificate, now)
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
                    hardware_uuid=cert.hardware_uuid,
                )
            )
            conn.execute(
                insert(t.chain_heads).values(
                    chip_id=chip_id, report_seq=0, report_hash=GENESIS_HASH
                )
            )
        return self.get_chip(chip_id)

    def get_chip(self, chip_id: str) -> ChipDetail:
        with self.store.read() as conn:
            r = conn.execute(_CHIPS.where(t.chips.c.chip_id == chip_id)).first()
            if r is None:
                raise NotFoundError(f"no chip {chip_id}", field="chip_id")
            return _chip(
                ChipDetail,
                r,
                certificate=b64(bytes(r.certificate)),
                custody=custody_events(conn, chip_id),
            )

    def list_chips(
        self,
        *,
        owner_id: str | None = None,
        facility_id: str | None = None,
        status: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Chip]:
        stmt = _CHIPS.order_by(t.chips.c.chip_id).limit(limit).offset(offset)
        if owner_id:
            stmt = stmt.where(t.chips.c.owner_id == owner_id)
        if facility_id:
            stmt = stmt.where(t.chips.c.facility_id == facility_id)
        if status:
            stmt = stmt.where(t.chips.c.status == status)
        with self.store.read() as conn:
            return [_chip(Chip, r) for r in conn.execute(stmt).all()]
