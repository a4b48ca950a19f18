"""The supply chain from fab to rack: parties (fabs with their lithography tools, HBM
suppliers, packaging sites, vendors, exporters, importers, integrators, customs
offices), export licences, and custody events signed by the party that performs them.

Each party may hold a request-signing key (role ``party``). A party signs the custody
events of its own step (:data:`STEPS`): a fab fabricates, a packaging site packages, a
vendor boards, an exporter exports under an export licence, an importer imports in its
own country, an integrator builds servers and racks them at a facility. A party acts
only on a chip it holds: the holder is the party the chip's last signed event handed
it to (or the signer, when it kept it); the first signed event is the fabrication.
Every event goes through the custody service's one append (locked, time-ordered,
logged).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    PARTY,
    Caller,
    Result,
    Store,
    check_country,
    check_id,
    check_text,
    check_time,
    from_row,
    parse_hex,
    require,
    retried,
)
from pausebutton.authority.services.custody import (
    CustodyEvent,
    CustodyRecord,
    CustodyService,
    Event,
    check_event,
)
from pausebutton.authority.services.keys import register_key
from pausebutton.errors import ConflictError, ForbiddenError, NotFoundError, SchemaError
from pausebutton.protocol.keys import PUBLIC_KEY_SIZE, PublicKey, key_id

PARTY_KINDS = (
    "fab",
    "lithography",
    "hbm",
    "packaging",
    "vendor",
    "exporter",
    "importer",
    "integrator",
    "customs",
)
STEPS: dict[str, frozenset[str]] = {
    "fabrication": frozenset({"fab"}),
    "packaging": frozenset({"packaging"}),
    "board": frozenset({"vendor"}),
    "export": frozenset({"vendor", "exporter"}),
    "import": frozenset({"importer", "customs"}),
    "sale": frozenset({"vendor", "exporter", "importer", "integrator"}),
    "transfer": frozenset({"vendor", "exporter", "importer", "integrator"}),
    "server": frozenset({"integrator", "vendor"}),
    "rack": frozenset({"integrator"}),
}
"""Which kinds of party may sign which custody step."""


@dataclass(frozen=True, slots=True)
class Party(Result):
    id: str
    kind: str
    name: str
    country: str
    key_id: str | None
    """The party's request-signing key (None: it signs nothing itself)."""
    source: str | None


@dataclass(frozen=True, slots=True)
class FabTool(Result):
    fab_id: str
    maker_id: str
    tool: str
    """e.g. ``EUV`` or ``DUV immersion``."""
    count: int | None


@dataclass(frozen=True, slots=True)
class ExportLicence(Result):
    id: str
    exporter_id: str
    importer_id: str
    country: str
    quantity: int
    not_before: int
    not_after: int
    used: int
    """Chips exported under it so far."""


def _party(conn: Connection, party_id: str, field: str) -> Party:
    row = conn.execute(select(t.supply_parties).where(t.supply_parties.c.id == party_id)).first()
    if row is None:
        raise NotFoundError(f"no supply-chain party {party_id!r}", field=field)
    return from_row(Party, row)


def holder(history: list[CustodyEvent]) -> str | None:
    """The party holding a chip after ``history`` (None before any signed event)."""
    for ev in reversed(history):
        if ev.party_id is not None:
            return ev.to_party or ev.party_id
    return None


class SupplyService:
    """Parties, fab tools, export licences, and custody events signed by parties."""

    def __init__(self, store: Store, custody: CustodyService) -> None:
        self.store = store
        self.custody = custody

    @retried
    def add_party(
        self,
        caller: Caller | None,
        *,
        id: str,
        kind: str,
        name: str,
        country: str,
        public_key: str | None = None,
        source: str | None = None,
    ) -> Party:
        """Register a party (admin), with the key it signs its custody events with."""
        require(caller, ADMIN)
        check_id(id, "id")
        if kind not in PARTY_KINDS:
            raise SchemaError(f"kind must be one of {', '.join(PARTY_KINDS)}", field="kind")
        check_text(name, "name", 256)
        check_country(country)
        if source is not None:
            check_text(source, "source")
        raw = parse_hex(public_key, PUBLIC_KEY_SIZE, "public_key") if public_key else None
        kid = None
        if raw is not None:
            PublicKey.from_bytes(raw)
            kid = key_id(raw).hex()
        now = self.store.now()
        with self.store.write() as conn:
            known = conn.execute(select(t.supply_parties.c.id).where(t.supply_parties.c.id == id))
            if known.first() is not None:
                raise ConflictError(f"party {id} is already registered", field="id")
            if kid is not None and raw is not None:
                register_key(conn, kid, raw, PARTY, None, name, now)
            conn.execute(
                insert(t.supply_parties).values(
                    id=id,
                    kind=kind,
                    name=name,
                    country=country,
                    key_id=kid,
                    source=source,
                    created_at=now,
                )
            )
        return Party(id, kind, name, country, kid, source)

    def parties(self, kind: str | None = None) -> list[Party]:
        stmt = select(t.supply_parties).order_by(t.supply_parties.c.id)
        if kind:
            stmt = stmt.where(t.supply_parties.c.kind == kind)
        with self.store.read() as conn:
            return [from_row(Party, r) for r in conn.execute(stmt)]

    @retried
    def add_tool(
        self, caller: Caller | None, fab_id: str, *, maker_id: str, tool: str, count: int | None
    ) -> FabTool:
        """Record lithography tools at a fab (admin): the maker and the kind of tool."""
        require(caller, ADMIN)
        check_text(tool, "tool", 64)
        if count is not None and not 0 < count < 100_000:
            raise SchemaError("count must be 1 to 99999", field="count")
        with self.store.write() as conn:
            if _party(conn, fab_id, "fab_id").kind != "fab":
                raise SchemaError(f"{fab_id} is not a fab", field="fab_id")
            if _party(conn, maker_id, "maker_id").kind != "lithography":
                raise SchemaError(f"{maker_id} is not a lithography maker", field="maker_id")
            key = (
                (t.fab_tools.c.fab_id == fab_id)
                & (t.fab_tools.c.maker_id == maker_id)
                & (t.fab_tools.c.tool == tool)
            )
            if conn.execute(select(t.fab_tools.c.tool).where(key)).first() is not None:
                raise ConflictError(f"{fab_id} already lists {tool} tools of {maker_id}")
            conn.execute(
                insert(t.fab_tools).values(fab_id=fab_id, maker_id=maker_id, tool=tool, count=count)
            )
        return FabTool(fab_id, maker_id, tool, count)

    def tools(self, fab_id: str | None = None) -> list[FabTool]:
        stmt = select(t.fab_tools).order_by(t.fab_tools.c.fab_id, t.fab_tools.c.maker_id)
        if fab_id:
            stmt = stmt.where(t.fab_tools.c.fab_id == fab_id)
        with self.store.read() as conn:
            return [from_row(FabTool, r) for r in conn.execute(stmt)]

    @retried
    def add_export_licence(
        self,
        caller: Caller | None,
        *,
        id: str,
        exporter_id: str,
        importer_id: str,
        country: str,
        quantity: int,
        not_before: int,
        not_after: int,
    ) -> ExportLicence:
        """Record an export licence (admin): who may ship how many chips to whom, when."""
        require(caller, ADMIN)
        check_id(id, "id")
        check_country(country)
        check_time(not_before, "not_before")
        check_time(not_after, "not_after")
        if not_after <= not_before:
            raise SchemaError("not_after must be after not_before", field="not_after")
        if not 0 < quantity <= 10_000_000:
            raise SchemaError("quantity must be 1 to 10000000", field="quantity")
        with self.store.write() as conn:
            if _party(conn, exporter_id, "exporter_id").kind not in ("exporter", "vendor"):
                raise SchemaError(f"{exporter_id} is no exporter", field="exporter_id")
            importer = _party(conn, importer_id, "importer_id")
            if importer.kind not in ("importer", "customs", "integrator"):
                raise SchemaError(f"{importer_id} is no importer", field="importer_id")
            if importer.country != country:
                raise SchemaError(
                    f"{importer_id} is in {importer.country}, not {country}", field="country"
                )
            found = conn.execute(
                select(t.export_licences.c.id).where(t.export_licences.c.id == id)
            ).first()
            if found is not None:
                raise ConflictError(f"export licence {id} exists", field="id")
            conn.execute(
                insert(t.export_licences).values(
                    id=id,
                    exporter_id=exporter_id,
                    importer_id=importer_id,
                    country=country,
                    quantity=quantity,
                    not_before=not_before,
                    not_after=not_after,
                    created_at=self.store.now(),
                )
            )
        return ExportLicence(
            id, exporter_id, importer_id, country, quantity, not_before, not_after, 0
        )

    def export_licences(self) -> list[ExportLicence]:
        used = (
            select(func.count())
            .where(t.custody_events.c.export_licence == t.export_licences.c.id)
            .scalar_subquery()
        )
        with self.store.read() as conn:
            rows = conn.execute(
                select(t.export_licences, used.label("used")).order_by(t.export_licences.c.id)
            ).all()
        return [from_row(ExportLicence, r) for r in rows]

    @retried
    def sign_custody(self, caller: Caller | None, event: Event) -> CustodyRecord:
        """Append a custody event signed by the party performing it (see the module)."""
        c = require(caller, PARTY)
        with self.store.read() as conn:
            row = conn.execute(
                select(t.supply_parties).where(t.supply_parties.c.key_id == c.key_id)
            ).first()
        if row is None:
            raise ForbiddenError("this key belongs to no supply-chain party", field="keyid")
        party = from_row(Party, row)
        check_event(
            event.kind,
            event.at,
            party.name,
            event.owner_id,
            event.facility_id,
            event.country,
            event.note,
        )
        allowed = STEPS.get(event.kind, frozenset())
        if party.kind not in allowed:
            raise ForbiddenError(
                f"a {party.kind} may not sign a {event.kind} event"
                f" ({' or '.join(sorted(allowed)) or 'an admin'} does)",
                field="kind",
            )
        signed = Event(
            event.chip_id,
            event.kind,
            event.at,
            party.name,
            event.owner_id,
            event.facility_id,
            event.country,
            event.note,
            party.id,
            event.to_party,
            event.export_licence,
        )

        def rules(conn: Connection, history: list[CustodyEvent]) -> None:
            held_by = holder(history)
            if event.kind == "fabrication":
                if held_by is not None or any(e.kind == "fabrication" for e in history):
                    raise ConflictError("the chip was fabricated already", field="kind")
            elif held_by != party.id:
                raise ConflictError(
                    f"{party.id} does not hold this chip"
                    + (f" ({held_by} does)" if held_by else " (no party holds it yet)"),
                    field="chip_id",
                )
            if event.to_party is not None:
                _party(conn, event.to_party, "to_party")
            if event.kind == "export":
                _check_export(self.store, conn, party, signed)
            if event.kind == "import" and event.country != party.country:
                raise ConflictError(
                    f"{party.id} imports into {party.country}, not {event.country}",
                    field="country",
                )

        return self.custody.append(c, signed, rules)


def _check_export(store: Store, conn: Connection, party: Party, event: Event) -> None:
    """An export names a licence of this exporter, to this country and importer, valid
    at the event's time, with chips left under it. The licence row stays locked until the
    event commits (after the chip's: the lock order), so concurrent exports under one
    licence cannot overrun its quantity."""
    if event.export_licence is None:
        raise SchemaError("an export event names its export licence", field="export_licence")
    lic = conn.execute(
        store.lock(t.export_licences, t.export_licences.c.id == event.export_licence)
    ).first()
    if lic is None:
        raise NotFoundError(f"no export licence {event.export_licence}", field="export_licence")
    problems = []
    if lic.exporter_id != party.id:
        problems.append(f"it is {lic.exporter_id}'s")
    if lic.country != event.country:
        problems.append(f"it covers {lic.country}, not {event.country}")
    if event.to_party != lic.importer_id:
        problems.append(f"it ships to {lic.importer_id}, not {event.to_party}")
    if not lic.not_before <= event.at <= lic.not_after:
        problems.append("it is not valid at that time")
    used = conn.execute(
        select(func.count()).where(t.custody_events.c.export_licence == lic.id)
    ).scalar_one()
    if used >= lic.quantity:
        problems.append(f"its {lic.quantity} chips are used up")
    if problems:
        raise ConflictError(
            f"export licence {lic.id} does not allow this export: {'; '.join(problems)}",
            field="export_licence",
        )
