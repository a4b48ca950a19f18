"""Licensing: applications, the policy's decision, members' approvals, and the
licences issued (signed by the licensing key, appended to the transparency log)."""

from __future__ import annotations

import json
import math
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from pausebutton.authority import tables as t
from pausebutton.authority.counters import next_value
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
    int_text,
    owner_row,
    parse_hex,
    require,
    retried,
)
from pausebutton.errors import ConflictError, ForbiddenError, NotFoundError, SchemaError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import KEY_ID_SIZE, PrivateKey
from pausebutton.protocol.messages import License, Scope
from pausebutton.protocol.scopes import scope_from_json


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
class _Window:
    """What an application asks for (the facts of the policy's budget rules)."""

    owner_id: str
    run_id: str
    flop_budget: int
    not_before: int
    not_after: int


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


def active_pauses(conn: Connection) -> list[tuple[int, Scope]]:
    """The active pause orders: (sequence, scope)."""
    rows = conn.execute(
        select(t.orders.c.sequence, t.orders.c.scope).where(
            t.orders.c.kind == "pause", t.orders.c.active.is_(True)
        )
    ).all()
    return [(r.sequence, scope_from_json(r.scope)) for r in rows]


def hardware_peak(certified: str | None, model: str) -> int | None:
    """A chip's dense peak FLOP/s: the one its vendor certificate states, else the highest
    rate Epoch AI's ML hardware table gives for a model of exactly that name (an upper
    bound, so no possible run is refused), else None (unknown)."""
    if certified is not None:
        return int(certified)
    from pausebutton.detect.io import bundled_hardware

    table = bundled_hardware()
    if model not in table:
        return None
    peaks = table.get(model).peaks.values()
    return math.ceil(max(peaks)) if peaks else None


def _chip_facts(store: Store, conn: Connection, chip_ids: Sequence[str]) -> list[ChipFacts]:
    """The chips' registry facts; their rows stay as read until the decision commits
    (FOR SHARE, in chip id order: step 3 of the lock order)."""
    if not store.db.sqlite:  # SQLite's writer lock already keeps them as read
        conn.execute(
            store.share_columns(
                [t.chips.c.chip_id], t.chips.c.chip_id.in_(list(chip_ids))
            ).order_by(t.chips.c.chip_id)
        ).all()
    rows = {
        r.chip_id: r
        for r in conn.execute(
            select(
                t.chips.c.chip_id,
                t.chips.c.owner_id,
                t.chips.c.status,
                t.chips.c.facility_id,
                t.chips.c.model,
                t.chips.c.peak_flops,
                t.facilities.c.verified,
                t.facilities.c.country,
            )
            .select_from(t.chips.outerjoin(t.facilities))
            .where(t.chips.c.chip_id.in_(list(chip_ids)))
        ).all()
    }
    out = []
    for cid in chip_ids:
        r = rows.get(cid)
        if r is None:
            out.append(ChipFacts(cid, registered=False))
        else:
            out.append(
                ChipFacts(
                    cid,
                    registered=True,
                    owner=r.owner_id,
                    status=r.status,
                    facility=r.facility_id,
                    facility_verified=bool(r.verified),
                    region=r.country,
                    peak_flops=hardware_peak(r.peak_flops, r.model),
                )
            )
    return out


_ISSUED_TOTALS = (
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
    .where(
        (t.applications.c.owner_id == bindparam("owner"))
        | (t.owners.c.country == bindparam("country"))
    )
    .where(
        (t.applications.c.decided_at >= bindparam("since"))
        | (
            (t.applications.c.not_after > bindparam("not_before"))
            & (t.applications.c.not_before < bindparam("not_after"))
        )
    )
)
"""The issued applications whose budgets count towards a decision's totals (built once:
the statement is the same for every decision, only its parameters change)."""


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

    @property
    def approvals_required(self) -> int:
        return self.policy.approvals_required or self.pause_threshold

    def _policy_keys(self, owner_id: str, country: str) -> list[str]:
        """The policy keys a decision for this owner locks (step 1 of the lock order):
        the owner's (its caps, its split window and every run of it: a run's totals are
        a part of its owner's), and its country's when the policy caps that country."""
        keys = [f"owner:{owner_id}"]
        if country in self.policy.country_caps:
            keys.append(f"country:{country}")
        return keys

    def _totals(
        self, conn: Connection, w: _Window, country: str, exclude: int | None, now: int
    ) -> tuple[int, int, int, int]:
        """FLOP already licensed: (owner in the split window, run in the split window,
        owner overlapping the period, owner's country overlapping the period)."""
        since = now - self.policy.split_window
        issued = conn.execute(
            _ISSUED_TOTALS,
            {
                "owner": w.owner_id,
                "country": country,
                "since": since,
                "not_before": w.not_before,
                "not_after": w.not_after,
            },
        ).all()
        owner_window = run_window = owner_active = country_active = 0
        for a in issued:
            if a.id == exclude:
                continue
            budget = int(a.flop_budget)
            overlaps = a.not_after > w.not_before and a.not_before < w.not_after
            if a.owner_id == w.owner_id:
                if (a.decided_at or 0) >= since:
                    owner_window += budget
                    if a.run_id == w.run_id:
                        run_window += budget
                if overlaps:
                    owner_active += budget
            if a.country == country and overlaps:
                country_active += budget
        return owner_window, run_window, owner_active, country_active

    def _facts(
        self,
        conn: Connection,
        w: _Window,
        chip_ids: Sequence[str],
        *,
        exclude: int | None,
        now: int,
    ) -> Facts:
        owner = owner_row(conn, w.owner_id)
        # the totals below read other decisions' budgets: lock them for this decision
        self.store.lock_keys(conn, *self._policy_keys(w.owner_id, owner.country))
        chip_facts = _chip_facts(self.store, conn, chip_ids)
        owner_window, run_window, owner_active, country_active = self._totals(
            conn, w, owner.country, exclude, now
        )
        paused = [
            seq
            for seq, scope in active_pauses(conn)
            if any(
                scope.applies_to(bytes.fromhex(c.chip_id), c.region, c.owner)
                for c in chip_facts
                if c.registered
            )
        ]
        return Facts(
            owner=w.owner_id,
            owner_country=owner.country,
            run_id=w.run_id,
            flop_budget=w.flop_budget,
            not_before=w.not_before,
            not_after=w.not_after,
            now=now,
            chips=tuple(chip_facts),
            owner_window_total=owner_window,
            run_window_total=run_window,
            owner_active_total=owner_active,
            country_active_total=country_active,
            paused_by=tuple(paused),
        )

    @retried
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
        """An operator applies for licences; the policy decides (issued, pending or refused)."""
        c = require(caller, OPERATOR, ADMIN)
        owner = c.owner_id if c.role == OPERATOR else owner_id
        if owner is None:
            raise SchemaError("owner_id is needed when an admin applies", field="owner_id")
        if c.role == OPERATOR and owner_id not in (None, c.owner_id):
            raise ForbiddenError("an operator applies only for its own owner", field="owner_id")
        chip_ids = _check_application(self.policy, chips, flop_budget, not_before, not_after)
        check_text(run_id, "run_id")
        check_text(purpose, "purpose", 4096)
        window = _Window(owner, run_id, flop_budget, not_before, not_after)
        now = self.store.now()
        with self.store.write() as conn:
            facts = self._facts(conn, window, chip_ids, exclude=None, now=now)
            decision = evaluate(self.policy, facts)
            status = {APPROVED: "approved", NEEDS_APPROVAL: "pending", REFUSE: "refused"}[
                decision.outcome
            ]
            record = decision.to_dict()
            app_id = conn.execute(
                insert(t.applications)
                .values(
                    owner_id=owner,
                    run_id=run_id,
                    purpose=purpose,
                    flop_budget=int_text(flop_budget),
                    not_before=not_before,
                    not_after=not_after,
                    chips=chip_ids,
                    status=status,
                    decision=record,
                    created_at=now,
                    decided_at=None if status == "pending" else now,
                    applicant_key=c.key_id,
                )
                .returning(t.applications.c.id)
            ).scalar_one()
            license_ids: list[int] = []
            if status == "approved":
                written = types.SimpleNamespace(
                    chips=chip_ids,
                    flop_budget=int_text(flop_budget),
                    not_before=not_before,
                    not_after=not_after,
                    owner_id=owner,
                    run_id=run_id,
                )
                license_ids = self._issue(conn, app_id, now, written)
                status = "issued"
        # what get_application would read back (no approvals yet; the decision as the
        # JSON column returns it), without a second round of reads
        stored = json.loads(json.dumps(record))
        return Application(
            id=app_id,
            owner_id=owner,
            run_id=run_id,
            purpose=purpose,
            flop_budget=int_text(flop_budget),
            not_before=not_before,
            not_after=not_after,
            chips=list(chip_ids),
            status=status,
            decision=stored,
            reasons=_reasons(stored),
            approvals=[],
            approvals_required=self.approvals_required,
            license_ids=license_ids,
            created_at=now,
            decided_at=None if status == "pending" else now,
        )

    def _issue(self, conn: Connection, app_id: int, now: int, app: Any = None) -> list[int]:
        """Issue the licences of an approved application, inside the caller's transaction.

        Everything that needs no licence id is read and built first (the application, the
        chips' floors and places, the licence payloads, the application marked issued);
        then, as the transaction's last statements, the hot part: the ids are taken from
        the sequence, the licences signed, appended to the log in one append and stored.
        The sequence row and the log's size row, which every issuing transaction locks,
        are so held only from there to the commit."""
        if app is None:  # ``apply`` passes what it has just written
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
        share, extra = divmod(int(app.flop_budget), n)
        terms = [
            dict(
                chip_id=bytes.fromhex(cid),
                not_before=app.not_before,
                not_after=app.not_after,
                flop_budget=share + (1 if i < extra else 0),
                max_offline=self.policy.max_offline,
                firmware_floor=rows[cid].firmware_floor,
                owner=app.owner_id,
                facility=rows[cid].facility_id,
                region=rows[cid].country,
                run_id=app.run_id,
            )
            for i, cid in enumerate(chip_ids)
        ]
        conn.execute(
            update(t.applications)
            .where(t.applications.c.id == app_id)
            .values(status="issued", decided_at=now)
        )
        # the hot part: sequence, signatures, log append, licence rows
        last = next_value(conn, "license_id", n)
        ids = list(range(last - n + 1, last + 1))
        licences = []
        for lid, fields in zip(ids, terms, strict=True):
            lic = License(license_id=lid, **fields)
            lic.validate()
            licences.append((lic, Envelope.create(lic, [self.licensing_key]).encode()))
        indices = [self.store.log.append(conn, "license", env, now) for _, env in licences]
        conn.execute(
            insert(t.licenses),
            [
                {
                    "license_id": lic.license_id,
                    "chip_id": cid,
                    "application_id": app_id,
                    "owner_id": app.owner_id,
                    "run_id": app.run_id,
                    "flop_budget": int_text(lic.flop_budget),
                    "not_before": app.not_before,
                    "not_after": app.not_after,
                    "envelope": env,
                    "issued_at": now,
                    "log_index": idx,
                }
                for (lic, env), cid, idx in zip(licences, chip_ids, indices, strict=True)
            ],
        )
        return ids

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
                self.store.lock_keys(conn, *self._policy_keys(found.owner_id, found.country))
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
                window = _Window(
                    app.owner_id, app.run_id, int(app.flop_budget), app.not_before, app.not_after
                )
                facts = self._facts(conn, window, list(app.chips), exclude=app_id, now=now)
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
