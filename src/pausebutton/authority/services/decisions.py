"""The policy facts of licence applications, read for a whole batch at once.

A batch of applications (``LicensingService.apply`` commits concurrent ones together)
reads its facts in one round: the owners, the chips, the active pauses and the issued
budgets the applications add up with. Each application is then decided with the facts
as of its place in the batch: the budgets of the applications decided and issued
before it in the same batch count exactly as if they had been committed before it, so
a cap or a split window holds within a batch as it does between transactions.

Lock order (services/base.py): the policy keys of every owner in the batch (and of
its country when the policy caps it), then the chips' rows in chip id order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select

from pausebutton.authority import tables as t
from pausebutton.authority.policy import ChipFacts, Facts, Policy
from pausebutton.authority.services.base import Store
from pausebutton.protocol.messages import Scope
from pausebutton.protocol.scopes import scope_from_json


@dataclass(frozen=True, slots=True)
class Window:
    """What an application asks for (the facts of the policy's budget rules)."""

    owner_id: str
    run_id: str
    flop_budget: int
    not_before: int
    not_after: int


@dataclass(frozen=True, slots=True)
class ChipRow:
    """A chip's registry facts and what its licence carries from them."""

    facts: ChipFacts
    firmware_floor: int = 0
    facility_id: str | None = None
    country: str | None = None


_PAUSES = select(t.orders.c.sequence, t.orders.c.scope).where(
    t.orders.c.kind == "pause", t.orders.c.active.is_(True)
)
_OWNERS = select(t.owners.c.id, t.owners.c.country).where(
    t.owners.c.id.in_(bindparam("ids", expanding=True))
)
_SHARE_CHIPS = (
    select(t.chips.c.chip_id)
    .where(t.chips.c.chip_id.in_(bindparam("ids", expanding=True)))
    .order_by(t.chips.c.chip_id)
    .with_for_update(read=True)
)


def active_pauses(conn: Connection) -> list[tuple[int, Scope]]:
    """The active pause orders: (sequence, scope)."""
    return [(r.sequence, scope_from_json(r.scope)) for r in conn.execute(_PAUSES).all()]


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


_CHIPS = (
    select(
        t.chips.c.chip_id,
        t.chips.c.owner_id,
        t.chips.c.status,
        t.chips.c.facility_id,
        t.chips.c.model,
        t.chips.c.peak_flops,
        t.chips.c.firmware_floor,
        t.facilities.c.verified,
        t.facilities.c.country,
    )
    .select_from(t.chips.outerjoin(t.facilities))
    .where(t.chips.c.chip_id.in_(bindparam("ids", expanding=True)))
)


def chip_rows(store: Store, conn: Connection, chip_ids: Sequence[str]) -> dict[str, ChipRow]:
    """The chips' registry facts (a chip missing here is not registered); their rows stay
    as read until the transaction commits (FOR SHARE, in chip id order: step 3 of the
    lock order)."""
    ids = sorted(set(chip_ids))
    if not store.db.sqlite:  # SQLite's writer lock already keeps them as read
        conn.execute(_SHARE_CHIPS, {"ids": ids}).all()
    peaks: dict[tuple[str | None, str], int | None] = {}
    out = {}
    for r in conn.execute(_CHIPS, {"ids": ids}).all():
        key = (r.peak_flops, r.model)
        if key not in peaks:
            peaks[key] = hardware_peak(r.peak_flops, r.model)
        facts = ChipFacts(
            r.chip_id,
            registered=True,
            owner=r.owner_id,
            status=r.status,
            facility=r.facility_id,
            facility_verified=bool(r.verified),
            region=r.country,
            peak_flops=peaks[key],
        )
        out[r.chip_id] = ChipRow(facts, r.firmware_floor, r.facility_id, r.country)
    return out


_ISSUED = (
    "SELECT a.id, a.owner_id, a.run_id, a.flop_budget, a.not_before, a.not_after,"
    " a.decided_at, o.country"
    f" FROM {t.applications.name} a JOIN {t.owners.name} o ON o.id = a.owner_id"
    " WHERE a.status = 'issued' AND (a.owner_id IN ({owners}){countries})"
    " AND (a.decided_at >= {m} OR (a.not_after > {m} AND a.not_before < {m}))"
)
"""The issued applications whose budgets count towards a batch's decisions: those of
its owners (and of the capped countries among theirs) decided within the split window
or valid at some time of the batch's periods. It reads a row per issued application
(the split window's history), so it goes through the driver: no per-row objects."""


def _issued(
    conn: Connection,
    owners: Sequence[str],
    countries: Sequence[str],
    since: int,
    not_before: int,
    not_after: int,
) -> list[Any]:
    """The rows of ``_ISSUED`` (id, owner, run, budget, not_before, not_after,
    decided_at, country)."""
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marker is None:  # another driver: the same query, built portably
        a, o = t.applications, t.owners
        where: Any = a.c.owner_id.in_(owners)
        if countries:
            where = where | o.c.country.in_(countries)
        stmt = (
            select(
                a.c.id,
                a.c.owner_id,
                a.c.run_id,
                a.c.flop_budget,
                a.c.not_before,
                a.c.not_after,
                a.c.decided_at,
                o.c.country,
            )
            .select_from(a.join(o))
            .where(a.c.status == "issued", where)
            .where(
                (a.c.decided_at >= since)
                | ((a.c.not_after > not_before) & (a.c.not_before < not_after))
            )
        )
        return list(conn.execute(stmt).all())
    sql = _ISSUED.format(
        owners=", ".join([marker] * len(owners)),
        countries=f" OR o.country IN ({', '.join([marker] * len(countries))})" if countries else "",
        m=marker,
    )
    params = (*owners, *countries, since, not_before, not_after)
    return list(conn.exec_driver_sql(sql, params).fetchall())


_Issued = tuple[str, str, int, int, int, int, str]
"""An issued application's (owner, run, budget, not_before, not_after, decided_at,
country): plain tuples, one per issued application of the split window."""


@dataclass
class Ledger:
    """The budgets already issued that a batch's decisions add up: those read from the
    database, and those the batch issues as it goes (:meth:`add`)."""

    since: int
    """The start of the split window."""
    read: list[_Issued]
    added: list[_Issued] = field(default_factory=list)
    _window: dict[str, int] = field(default_factory=dict)
    _runs: dict[tuple[str, str], int] = field(default_factory=dict)
    _active: dict[tuple[int, str, int, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        window, runs, since = self._window, self._runs, self.since
        for owner, run, budget, _, _, decided, _ in self.read:
            if decided >= since:
                window[owner] = window.get(owner, 0) + budget
                runs[owner, run] = runs.get((owner, run), 0) + budget

    def _overlapping(self, column: int, name: str, w: Window) -> int:
        """Budgets read with validity overlapping ``w``'s period, of an owner (column 0)
        or a country (column 6); memoised: a batch's applications ask for few periods."""
        key = (column, name, w.not_before, w.not_after)
        total = self._active.get(key)
        if total is None:
            nb, na = w.not_before, w.not_after
            total = sum(a[2] for a in self.read if a[column] == name and a[4] > nb and a[3] < na)
            self._active[key] = total
        return total

    def totals(self, w: Window, country: str, capped: bool) -> tuple[int, int, int, int]:
        """FLOP already licensed: (owner in the split window, run in the split window,
        owner overlapping the period, the owner's country overlapping the period: counted
        only when the policy caps that country, else 0)."""
        owner_window = self._window.get(w.owner_id, 0)
        run_window = self._runs.get((w.owner_id, w.run_id), 0)
        owner_active = self._overlapping(0, w.owner_id, w)
        country_active = self._overlapping(6, country, w) if capped else 0
        for owner, run, budget, nb, na, decided, where in self.added:
            overlaps = na > w.not_before and nb < w.not_after
            if owner == w.owner_id:
                if decided >= self.since:
                    owner_window += budget
                    if run == w.run_id:
                        run_window += budget
                if overlaps:
                    owner_active += budget
            if capped and where == country and overlaps:
                country_active += budget
        return owner_window, run_window, owner_active, country_active

    def add(self, w: Window, country: str, decided_at: int) -> None:
        """An application of this batch issued: the ones after it count its budget."""
        self.added.append(
            (w.owner_id, w.run_id, w.flop_budget, w.not_before, w.not_after, decided_at, country)
        )


@dataclass
class BatchFacts:
    """What a batch of applications is decided on, read in one round."""

    policy: Policy
    now: int
    countries: dict[str, str]
    """Each known owner's country (an owner missing here does not exist)."""
    chips: dict[str, ChipRow]
    pauses: list[tuple[int, Scope]]
    ledger: Ledger

    def facts(self, w: Window, chip_ids: Sequence[str]) -> Facts:
        """One application's facts as of its place in the batch (its owner must exist)."""
        country = self.countries[w.owner_id]
        chip_facts = tuple(
            row.facts if (row := self.chips.get(cid)) else ChipFacts(cid, registered=False)
            for cid in chip_ids
        )
        owner_window, run_window, owner_active, country_active = self.ledger.totals(
            w, country, country in self.policy.country_caps
        )
        paused = [
            seq
            for seq, scope in self.pauses
            if any(
                scope.applies_to(bytes.fromhex(c.chip_id), c.region, c.owner)
                for c in chip_facts
                if c.registered
            )
        ]
        return Facts(
            owner=w.owner_id,
            owner_country=country,
            run_id=w.run_id,
            flop_budget=w.flop_budget,
            not_before=w.not_before,
            not_after=w.not_after,
            now=self.now,
            chips=chip_facts,
            owner_window_total=owner_window,
            run_window_total=run_window,
            owner_active_total=owner_active,
            country_active_total=country_active,
            paused_by=tuple(paused),
        )


def policy_keys(policy: Policy, owner_id: str, country: str) -> list[str]:
    """The policy keys a decision for this owner locks (step 1 of the lock order): the
    owner's (its caps, its split window and every run of it: a run's totals are a part
    of its owner's), and its country's when the policy caps that country."""
    keys = [f"owner:{owner_id}"]
    if country in policy.country_caps:
        keys.append(f"country:{country}")
    return keys


def gather(
    store: Store,
    conn: Connection,
    policy: Policy,
    asks: Sequence[tuple[Window, Sequence[str]]],
    now: int,
    *,
    exclude: int | None = None,
) -> BatchFacts:
    """The facts of a batch of applications (window, chip ids), read in one round and
    locked for its decisions (``exclude``: an application whose own budget is not to be
    counted, the one being approved)."""
    owners = sorted({w.owner_id for w, _ in asks})
    countries: dict[str, str] = {
        r.id: r.country for r in conn.execute(_OWNERS, {"ids": owners}).all()
    }
    # the totals below read other decisions' budgets: lock them for these decisions
    store.lock_keys(conn, *(k for o, c in countries.items() for k in policy_keys(policy, o, c)))
    chips = chip_rows(store, conn, [cid for _, ids in asks for cid in ids])
    since = now - policy.split_window
    known = [w for w, _ in asks if w.owner_id in countries]
    read: list[_Issued] = []
    if known:
        capped = sorted({countries[w.owner_id] for w in known} & set(policy.country_caps))
        rows = _issued(
            conn,
            sorted(countries),
            capped,
            since,
            min(w.not_before for w in known),
            max(w.not_after for w in known),
        )
        read = [
            (owner, run, int(budget), nb, na, decided or 0, country)
            for app_id, owner, run, budget, nb, na, decided, country in rows
            if app_id != exclude
        ]
    return BatchFacts(policy, now, countries, chips, active_pauses(conn), Ledger(since, read))
