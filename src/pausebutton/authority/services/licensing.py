"""Licensing: applications, the policy's decision, members' approvals, and the
licences issued (signed by the licensing key, appended to the transparency log)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from pausebutton.authority import tables as t
from pausebutton.authority.counters import next_value
from pausebutton.authority.policy import (
    APPROVED,
    NEEDS_APPROVAL,
    REFUSE,
    Decision,
    Policy,
    evaluate,
)
from pausebutton.authority.services.base import (
    ADMIN,
    MEMBER,
    OPERATOR,
    Caller,
    Result,
    Store,
    b64,
    check_text,
    from_row,
    insert_rows,
    int_text,
    parse_hex,
    require,
    retried,
)
from pausebutton.authority.services.decisions import (
    ChipRow,
    Window,
    gather,
    hardware_peak,
    policy_keys,
)
from pausebutton.authority.services.groupcommit import GroupCommit
from pausebutton.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PausebuttonError,
    SchemaError,
)
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import KEY_ID_SIZE, PrivateKey
from pausebutton.protocol.messages import License

__all__ = ["Application", "IssuedLicense", "LicensingService", "hardware_peak"]

_STATUS = {APPROVED: "approved", NEEDS_APPROVAL: "pending", REFUSE: "refused"}
_LICENSE_COLUMNS = (
    "license_id",
    "chip_id",
    "application_id",
    "owner_id",
    "run_id",
    "flop_budget",
    "not_before",
    "not_after",
    "envelope",
    "issued_at",
    "log_index",
)


@dataclass(frozen=True, slots=True)
class Application(Result):
    id: int
    owner_id: str
    run_id: str
    purpose: str
    flop_budget: str
    """Decimal text (may exceed 64 bits)."""
    not_before: int
    not_after: int
    chips: list[str]
    status: str
    decision: dict[str, Any]
    reasons: list[str]
    approvals: list[str]
    approvals_required: int
    license_ids: list[int]
    created_at: int
    decided_at: int | None


@dataclass(frozen=True, slots=True)
class IssuedLicense(Result):
    license_id: int
    chip_id: str
    application_id: int
    owner_id: str
    run_id: str
    flop_budget: str
    not_before: int
    not_after: int
    issued_at: int
    log_index: int | None
    envelope: str
    """Base64 of the signed License envelope."""


@dataclass(frozen=True, slots=True)
class _Ask:
    """One well-formed application waiting for its batch."""

    applicant_key: str
    window: Window
    chip_ids: tuple[str, ...]
    purpose: str


def _reasons(decision: dict[str, Any]) -> list[str]:
    """The reasons of an application's decision that did not approve."""
    return [f["reason"] for f in decision.get("findings", []) if f["outcome"] != APPROVED]


def _license(r: Any) -> IssuedLicense:
    return from_row(IssuedLicense, r, envelope=b64(bytes(r.envelope)))


def _check_application(
    policy: Policy, chips: Sequence[str], flop_budget: int, not_before: int, not_after: int
) -> list[str]:
    """The chip ids (normalised hex) of a well-formed application."""
    if not isinstance(chips, (list, tuple)) or not chips:
        raise SchemaError("chips must be a non-empty list of chip ids", field="chips")
    if len(chips) > policy.max_chips:
        raise SchemaError(f"at most {policy.max_chips} chips", field="chips")
    chip_ids = [parse_hex(cid, KEY_ID_SIZE, "chips").hex() for cid in chips]
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
    return chip_ids


class LicensingService:
    """Applications, approvals and licences."""

    def __init__(
        self,
        store: Store,
        licensing_key: PrivateKey,
        policy: Policy,
        pause_threshold: int,
        revoked: Callable[[Connection | None], frozenset[bytes]] | None = None,
    ) -> None:
        self.store = store
        self.revoked = revoked or (lambda conn: frozenset())
        """Key ids of revoked member keys (their approvals do not count)."""
        self.licensing_key = licensing_key
        self.policy = policy
        self.pause_threshold = pause_threshold
        # the capacity rule reads Epoch AI's hardware table (hardware_peak): load it with
        # the service, not in the first application's batch (the import takes ~0.2 s)
        from pausebutton.detect.io import bundled_hardware

        bundled_hardware()
        self.applications: GroupCommit[_Ask, Application] = GroupCommit(
            store, self._decide, "licence applications"
        )
        """This process's concurrent applications, committed in batches."""

    @property
    def approvals_required(self) -> int:
        return self.policy.approvals_required or self.pause_threshold

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
    ) -> Application:
        """An operator applies for licences; the policy decides (issued, pending or refused).

        A well-formed application joins the next batch of this process's concurrent
        applications (:class:`GroupCommit`): one transaction decides them in order, each
        with the facts as of its place in the batch, and issues the approved ones' licences
        with one run of the licence sequence and one log append."""
        ask = self._ask(
            caller, chips, flop_budget, not_before, not_after, run_id, purpose, owner_id
        )
        return self.applications.submit(ask)

    async def apply_async(
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
    ) -> Application:
        """:meth:`apply` for the event loop: the application waits for its batch on a
        future, holding no worker thread (the checks before are in memory)."""
        ask = self._ask(
            caller, chips, flop_budget, not_before, not_after, run_id, purpose, owner_id
        )
        return await self.applications.submit_async(ask)

    def _ask(
        self,
        caller: Caller | None,
        chips: Sequence[str],
        flop_budget: int,
        not_before: int,
        not_after: int,
        run_id: str,
        purpose: str,
        owner_id: str | None,
    ) -> _Ask:
        """A well-formed application by a caller allowed to make it (else a named error)."""
        c = require(caller, OPERATOR, ADMIN)
        owner = c.owner_id if c.role == OPERATOR else owner_id
        if owner is None:
            raise SchemaError("owner_id is needed when an admin applies", field="owner_id")
        if c.role == OPERATOR and owner_id not in (None, c.owner_id):
            raise ForbiddenError("an operator applies only for its own owner", field="owner_id")
        chip_ids = _check_application(self.policy, chips, flop_budget, not_before, not_after)
        check_text(run_id, "run_id")
        check_text(purpose, "purpose", 4096)
        window = Window(owner, run_id, flop_budget, not_before, not_after)
        return _Ask(c.key_id, window, tuple(chip_ids), purpose)

    def _decide(self, conn: Connection, asks: list[_Ask]) -> list[Application | PausebuttonError]:
        """Decide a batch of applications in ``conn``'s transaction, in order; write them
        and the licences of those approved. An application of an unknown owner gets its
        NotFoundError and writes nothing; the others are decided as if it were not there."""
        now = self.store.now()
        facts = gather(self.store, conn, self.policy, [(a.window, a.chip_ids) for a in asks], now)
        outcomes: list[Application | PausebuttonError | None] = []
        written: list[tuple[_Ask, str, dict[str, Any]]] = []
        for ask in asks:
            w = ask.window
            if w.owner_id not in facts.countries:
                outcomes.append(NotFoundError(f"no owner {w.owner_id!r}", field="owner_id"))
                continue
            decision = evaluate(self.policy, facts.facts(w, ask.chip_ids))
            status = _STATUS[decision.outcome]
            if status == "approved":
                facts.ledger.add(w, facts.countries[w.owner_id], now)
                status = "issued"  # its licences are issued below, in this transaction
            written.append((ask, status, decision.to_dict()))
            outcomes.append(None)
        if not written:
            return [o for o in outcomes if o is not None]
        app_ids = self._insert_applications(
            conn,
            [
                {
                    "owner_id": ask.window.owner_id,
                    "run_id": ask.window.run_id,
                    "purpose": ask.purpose,
                    "flop_budget": int_text(ask.window.flop_budget),
                    "not_before": ask.window.not_before,
                    "not_after": ask.window.not_after,
                    "chips": list(ask.chip_ids),
                    "status": status,
                    "decision": record,
                    "created_at": now,
                    "decided_at": None if status == "pending" else now,
                    "applicant_key": ask.applicant_key,
                }
                for ask, status, record in written
            ],
        )
        issued = [
            (app_id, ask.window, ask.chip_ids)
            for app_id, (ask, status, _) in zip(app_ids, written, strict=True)
            if status == "issued"
        ]
        license_ids = iter(self._issue_many(conn, issued, facts.chips, now))
        results = iter(zip(app_ids, written, strict=True))
        done: list[Application | PausebuttonError] = []
        for outcome in outcomes:
            if outcome is not None:
                done.append(outcome)
                continue
            app_id, (ask, status, record) = next(results)
            # what get_application would read back (no approvals yet), without a second
            # round of reads: the decision's record is plain JSON values (str, None,
            # lists, dicts), which the JSON column returns as they went in
            stored = record
            w = ask.window
            done.append(
                Application(
                    id=app_id,
                    owner_id=w.owner_id,
                    run_id=w.run_id,
                    purpose=ask.purpose,
                    flop_budget=int_text(w.flop_budget),
                    not_before=w.not_before,
                    not_after=w.not_after,
                    chips=list(ask.chip_ids),
                    status=status,
                    decision=stored,
                    reasons=_reasons(stored),
                    approvals=[],
                    approvals_required=self.approvals_required,
                    license_ids=next(license_ids) if status == "issued" else [],
                    created_at=now,
                    decided_at=None if status == "pending" else now,
                )
            )
        return done

    def _insert_applications(self, conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Insert a batch's applications; their ids, in order. PostgreSQL: one multi-row
        INSERT ... RETURNING in parameter order. SQLite would run that one row per
        statement, so there the ids are numbered after the highest (SQLite's own rule for
        a new row id; its writer lock is held) and the rows written in one executemany
        through the driver (the JSON columns encoded as the JSON type encodes them)."""
        if not self.store.db.sqlite:
            stmt = insert(t.applications).returning(
                t.applications.c.id, sort_by_parameter_order=True
            )
            return list(conn.execute(stmt, rows).scalars())
        top = conn.exec_driver_sql(f"SELECT max(id) FROM {t.applications.name}").scalar()
        first = int(top or 0) + 1
        ids = list(range(first, first + len(rows)))
        columns = ("id", *rows[0])
        encode = {"chips", "decision"}
        insert_rows(
            conn,
            t.applications,
            columns,
            [
                (i, *(json.dumps(v) if k in encode else v for k, v in row.items()))
                for i, row in zip(ids, rows, strict=True)
            ],
        )
        return ids

    def _issue_many(
        self,
        conn: Connection,
        apps: Sequence[tuple[int, Window, Sequence[str]]],
        chips: Mapping[str, ChipRow],
        now: int,
    ) -> list[list[int]]:
        """Issue the licences of approved applications (id, window, chip ids), inside the
        caller's transaction, with the chips' rows as read for the decision; the licence
        ids of each application.

        Everything that needs no licence id is built first; then, as the transaction's
        last statements, the hot part: the ids of all the licences are taken from the
        sequence at once, the licences signed, appended to the log in one append and
        stored. The sequence row and the log's size row, which every issuing transaction
        locks, are so held only from there to the commit."""
        terms: list[tuple[int, Window, str, dict[str, Any]]] = []
        for app_id, w, chip_ids in apps:
            ordered = sorted(chip_ids)
            share, extra = divmod(w.flop_budget, len(ordered))
            for i, cid in enumerate(ordered):
                row = chips[cid]
                fields: dict[str, Any] = dict(
                    chip_id=bytes.fromhex(cid),
                    not_before=w.not_before,
                    not_after=w.not_after,
                    flop_budget=share + (1 if i < extra else 0),
                    max_offline=self.policy.max_offline,
                    firmware_floor=row.firmware_floor,
                    owner=w.owner_id,
                    facility=row.facility_id,
                    region=row.country,
                    run_id=w.run_id,
                )
                terms.append((app_id, w, cid, fields))
        if not terms:
            return [[] for _ in apps]
        # the hot part: sequence, signatures, log append, licence rows
        n = len(terms)
        last = next_value(conn, "license_id", n)
        envelopes = []
        for lid, (_, _, _, fields) in zip(range(last - n + 1, last + 1), terms, strict=True):
            lic = License(license_id=lid, **fields)
            lic.validate()
            envelopes.append((lic, Envelope.create(lic, [self.licensing_key]).encode()))
        indices = self.store.log.append_all(conn, "license", [e for _, e in envelopes], now)
        insert_rows(
            conn,
            t.licenses,
            _LICENSE_COLUMNS,
            [
                (
                    lic.license_id,
                    cid,
                    app_id,
                    w.owner_id,
                    w.run_id,
                    int_text(lic.flop_budget),
                    w.not_before,
                    w.not_after,
                    env,
                    now,
                    idx,
                )
                for (lic, env), (app_id, w, cid, _), idx in zip(
                    envelopes, terms, indices, strict=True
                )
            ],
        )
        by_app: dict[int, list[int]] = {}
        for (lic, _), (app_id, _, _, _) in zip(envelopes, terms, strict=True):
            by_app.setdefault(app_id, []).append(lic.license_id)
        return [by_app.get(app_id, []) for app_id, _, _ in apps]

    @retried
    def approve(self, caller: Caller | None, app_id: int) -> Application:
        """A member approves a pending application; at K approvals the licences are issued."""
        c = require(caller, MEMBER)
        now = self.store.now()
        with self.store.write() as conn:
            # the policy keys come before the application's row (the lock order); an
            # application's owner never changes, so reading it first is safe
            found = conn.execute(
                select(t.applications.c.owner_id, t.owners.c.country)
                .select_from(t.applications.join(t.owners))
                .where(t.applications.c.id == app_id)
            ).first()
            if found is not None:
                self.store.lock_keys(conn, *policy_keys(self.policy, found.owner_id, found.country))
            app = conn.execute(
                self.store.lock(t.applications, t.applications.c.id == app_id)
            ).first()
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
            revoked = {k.hex() for k in self.revoked(conn)}
            approvers = conn.execute(
                select(t.approvals.c.member_key).where(t.approvals.c.application_id == app_id)
            ).scalars()
            count = sum(1 for k in approvers if k not in revoked)
            if count >= self.approvals_required:
                window = Window(
                    app.owner_id, app.run_id, int(app.flop_budget), app.not_before, app.not_after
                )
                chip_ids = list(app.chips)
                facts = gather(
                    self.store, conn, self.policy, [(window, chip_ids)], now, exclude=app_id
                )
                decision: Decision = evaluate(self.policy, facts.facts(window, chip_ids))
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
                        .values(status="issued", decision=record, decided_at=now)
                    )
                    self._issue_many(conn, [(app_id, window, chip_ids)], facts.chips, now)
        return self.get_application(app_id)

    def get_application(self, app_id: int) -> Application:
        with self.store.read() as conn:
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
        return Application(
            id=app.id,
            owner_id=app.owner_id,
            run_id=app.run_id,
            purpose=app.purpose,
            flop_budget=app.flop_budget,
            not_before=app.not_before,
            not_after=app.not_after,
            chips=list(app.chips),
            status=app.status,
            decision=decision,
            reasons=_reasons(decision),
            approvals=[a.member for a in approvals],
            approvals_required=self.approvals_required,
            license_ids=[r.license_id for r in lids],
            created_at=app.created_at,
            decided_at=app.decided_at,
        )

    def list_applications(
        self, *, owner_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Application]:
        stmt = select(t.applications.c.id).order_by(t.applications.c.id.desc()).limit(limit)
        if owner_id:
            stmt = stmt.where(t.applications.c.owner_id == owner_id)
        if status:
            stmt = stmt.where(t.applications.c.status == status)
        with self.store.read() as conn:
            ids = [r.id for r in conn.execute(stmt).all()]
        return [self.get_application(i) for i in ids]

    def list_licenses(
        self,
        *,
        chip_id: str | None = None,
        owner_id: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[IssuedLicense]:
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
        with self.store.read() as conn:
            return [_license(r) for r in conn.execute(stmt).all()]

    def get_license(self, license_id: int) -> IssuedLicense:
        with self.store.read() as conn:
            r = conn.execute(
                select(t.licenses).where(t.licenses.c.license_id == license_id)
            ).first()
        if r is None:
            raise NotFoundError(f"no license {license_id}", field="license_id")
        return _license(r)
