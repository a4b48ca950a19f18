"""GNSS position fixes: node agents report where their chips' receivers say they are,
and each fix is checked at once against the chip's landmark round trips and its
registered facility (``geo.gnss``). A fix that light speed, the delays or the site
contradict raises an alert; every fix is stored with its check, and the verification
engine reads them as location evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    OPERATOR,
    Caller,
    Result,
    Store,
    check_time,
    from_row,
    page,
    require,
    retried,
)
from pausebutton.errors import ConflictError, ForbiddenError, NotFoundError, SchemaError
from pausebutton.geo.gnss import Fix, FixCheck, FixPolicy, FixVerdict, Ping, check_fix

MAX_FIXES = 1000
ALERTS = {
    FixVerdict.SPOOFED: ("gnss_spoofed", "high"),
    FixVerdict.RELAYED: ("gnss_relayed", "high"),
    FixVerdict.OFF_SITE: ("gnss_off_site", "medium"),
}


@dataclass(frozen=True, slots=True)
class StoredFix(Result):
    id: int
    chip_id: str
    time: int
    lat: float
    lon: float
    accuracy_m: float
    facility_id: str | None
    verdict: str
    """consistent, spoofed, relayed, off_site or insufficient_evidence."""
    alert_id: int | None
    result: dict[str, Any]
    """The check's reason and, per landmark, distance, light bound and round trips."""


class GnssService:
    """Fixes reported by agents, each checked against light speed and the facility."""

    def __init__(self, store: Store, max_age: int, policy: FixPolicy | None = None) -> None:
        self.store = store
        self.max_age = max_age
        """Landmark measurements older than this (seconds) before the fix are not used."""
        self.policy = policy or FixPolicy()

    @retried
    def submit(self, caller: Caller | None, fixes: list[dict[str, Any]]) -> list[StoredFix]:
        """Check and store a batch of fixes (all or nothing); an operator only for its
        own chips."""
        c = require(caller, OPERATOR, ADMIN)
        if not 0 < len(fixes) <= MAX_FIXES:
            raise SchemaError(f"send 1 to {MAX_FIXES} fixes", field="fixes")
        parsed = []
        for i, f in enumerate(fixes):
            check_time(f["time"], f"fixes[{i}].time")
            parsed.append((f["chip_id"], int(f["time"]), Fix(f["lat"], f["lon"], f["accuracy_m"])))
        now = self.store.now()
        out: list[StoredFix] = []
        with self.store.write() as conn:
            for chip_id, when, fix in parsed:
                out.append(self._one(conn, c, chip_id, when, fix, now))
        return out

    def _one(self, conn: Any, c: Caller, chip_id: str, when: int, fix: Fix, now: int) -> StoredFix:
        chip = conn.execute(select(t.chips).where(t.chips.c.chip_id == chip_id)).first()
        if chip is None:
            raise NotFoundError(f"no chip {chip_id}", field="chip_id")
        if c.role == OPERATOR and chip.owner_id != c.owner_id:
            raise ForbiddenError(f"chip {chip_id} is not {c.owner_id}'s", field="chip_id")
        site = None
        if chip.facility_id is not None:
            fac = conn.execute(
                select(t.facilities.c.latitude, t.facilities.c.longitude).where(
                    t.facilities.c.id == chip.facility_id
                )
            ).first()
            if fac is not None and fac.latitude is not None and fac.longitude is not None:
                site = (float(fac.latitude), float(fac.longitude))
        lm = t.location_measurements
        rows = conn.execute(
            select(lm.c.landmark_id, lm.c.lat_e6, lm.c.lon_e6, lm.c.rtt_ns)
            .where(lm.c.chip_id == chip_id, lm.c.time >= when - self.max_age)
            .where(lm.c.time <= when + self.max_age)
            .order_by(lm.c.id.desc())
            .limit(64)
        ).all()
        pings = [
            Ping(r.landmark_id[:16], r.lat_e6 / 1e6, r.lon_e6 / 1e6, r.rtt_ns / 1e6) for r in rows
        ]
        check = check_fix(fix, pings, site, self.policy)
        known = conn.execute(
            select(t.gnss_fixes.c.id).where(
                t.gnss_fixes.c.chip_id == chip_id, t.gnss_fixes.c.time == when
            )
        ).first()
        if known is not None:
            raise ConflictError(f"chip {chip_id} already reported a fix at {when}", field="time")
        alert_id = self._alert(conn, chip_id, chip.facility_id, when, fix, check, now)
        row = {
            "chip_id": chip_id,
            "time": when,
            "lat": fix.lat,
            "lon": fix.lon,
            "accuracy_m": fix.accuracy_m,
            "facility_id": chip.facility_id,
            "verdict": check.verdict.value,
            "result": check.to_json(),
            "alert_id": alert_id,
            "received_at": now,
        }
        fid = conn.execute(
            insert(t.gnss_fixes).values(**row).returning(t.gnss_fixes.c.id)
        ).scalar_one()
        return from_row(StoredFix, row, id=int(fid))

    @staticmethod
    def _alert(
        conn: Any,
        chip_id: str,
        facility_id: str | None,
        when: int,
        fix: Fix,
        check: FixCheck,
        now: int,
    ) -> int | None:
        if check.verdict not in ALERTS:
            return None
        kind, severity = ALERTS[check.verdict]
        detail = {
            "reason": check.reason,
            "fix": {"lat": fix.lat, "lon": fix.lon, "accuracy_m": fix.accuracy_m, "time": when},
            "facility_id": facility_id,
            "landmarks": check.evidence,
        }
        return int(
            conn.execute(
                insert(t.alerts)
                .values(
                    kind=kind, chip_id=chip_id, severity=severity, detail=detail, created_at=now
                )
                .returning(t.alerts.c.id)
            ).scalar_one()
        )

    def list_fixes(
        self, chip_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[StoredFix]:
        with self.store.read() as conn:
            rows = conn.execute(page(t.gnss_fixes, after, limit, chip_id=chip_id)).all()
        return [from_row(StoredFix, r) for r in rows]
