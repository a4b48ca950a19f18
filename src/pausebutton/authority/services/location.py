"""Location verification: landmarks' signed round-trip measurements, and the checks
of each chip's measurements against its declared facility (stored, logged, and
alerted when inconsistent)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import Result, Store, b64, from_row, page, retried
from pausebutton.errors import (
    ExpiredError,
    NotFoundError,
    NotYetValidError,
    OversizedError,
    ReplayError,
)
from pausebutton.geo.delay import DelayModel
from pausebutton.geo.landmark import MAX_WIRE_MESSAGE, verify_measurement
from pausebutton.geo.service import CLOCK_SKEW_S, LocationCheck, verify_chip_location
from pausebutton.geo.verdict import Claim, VerdictKind
from pausebutton.geo.verdict import Model as GeoModel
from pausebutton.geo.verdict import Policy as GeoPolicy
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PublicKey
from pausebutton.protocol.messages import Measurement

ALERTED = (VerdictKind.INCONSISTENT, VerdictKind.SUSPICIOUS)
"""Verdicts that raise an alert: inconsistent (``location_inconsistent``, high) and
suspicious (``location_suspicious``, medium: for inspection, not a conviction)."""


@dataclass(frozen=True, slots=True)
class MeasurementReceipt(Result):
    id: int
    chip_id: str
    landmark_id: str
    nonce: str
    rtt_ms: float
    time: int
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class StoredMeasurement(MeasurementReceipt):
    received_at: int
    envelope: str
    """Base64 of the landmark's signed Measurement envelope."""


@dataclass(frozen=True, slots=True)
class StoredCheck(Result):
    id: int
    chip_id: str
    facility_id: str
    time: int
    verdict: str
    landmarks: int
    least_distance_km: float
    log_index: int | None
    alert_id: int | None
    result: dict[str, Any]


def _last_covered(conn: Connection, chip_id: str) -> int:
    value = conn.execute(
        select(func.max(t.location_checks.c.newest_measurement)).where(
            t.location_checks.c.chip_id == chip_id
        )
    ).scalar()
    return int(value or 0)


def _log_record(
    chip_id: str, facility_id: str, check: LocationCheck, envelopes: Sequence[bytes], now: int
) -> dict[str, Any]:
    """The canonical record of a check appended to the transparency log."""
    v = check.verdict
    skipped = {i for i, _, _ in check.rejected}
    used = [
        Envelope.decode(e).open_as(Measurement) for i, e in enumerate(envelopes) if i not in skipped
    ]
    return {
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


class LocationService:
    """Measurements and location checks."""

    def __init__(
        self,
        store: Store,
        landmark_keys: Mapping[bytes, PublicKey],
        policy: GeoPolicy,
        max_age: int,
    ) -> None:
        self.store = store
        self.landmark_keys = landmark_keys
        self.policy = policy
        self.max_age = max_age
        self.delay: DelayModel | None = None
        if policy.model is GeoModel.STATISTICAL:
            from pausebutton.geo.wonderproxy import bundled_delay_model

            self.delay = bundled_delay_model()

    @retried
    def submit_measurement(self, data: bytes) -> MeasurementReceipt:
        """Store one landmark's signed Measurement (protocol step G5, the raw envelope).

        It must be signed by a landmark key of the trust root (``bad_signature``), embed
        the registered chip's own signed response (``not_found`` for an unknown chip,
        ``bad_signature``), be no older than ``max_age`` (``expired``) nor from the
        future (``not_yet_valid``), and carry a nonce not seen before (``replay``).
        Self-authenticating: no request signature is needed."""
        if len(data) > MAX_WIRE_MESSAGE:
            raise OversizedError(f"a measurement is at most {MAX_WIRE_MESSAGE} bytes", field="body")
        m = verify_measurement(data, self.landmark_keys)
        now = self.store.now()
        if m.time < now - self.max_age:
            raise ExpiredError(f"measured at {m.time}, older than {self.max_age} s", field="time")
        if m.time > now + CLOCK_SKEW_S:
            raise NotYetValidError(f"measured at {m.time}, in the future", field="time")
        cid = m.chip_id.hex()
        nonce = m.nonce.hex()
        try:
            with self.store.write() as conn:
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
                mid = conn.execute(
                    insert(t.location_measurements)
                    .values(
                        nonce=nonce,
                        chip_id=cid,
                        landmark_id=m.landmark_id.hex(),
                        rtt_ns=m.rtt_ns,
                        time=m.time,
                        lat_e6=m.lat_e6,
                        lon_e6=m.lon_e6,
                        envelope=data,
                        received_at=now,
                    )
                    .returning(t.location_measurements.c.id)
                ).scalar_one()
        except IntegrityError:  # another worker stored the same nonce meanwhile
            raise ReplayError(
                "a measurement with this nonce was already received", field="nonce"
            ) from None
        return MeasurementReceipt(
            id=int(mid),
            chip_id=cid,
            landmark_id=m.landmark_id.hex(),
            nonce=nonce,
            rtt_ms=m.rtt_ms,
            time=m.time,
            lat=m.lat_e6 / 1e6,
            lon=m.lon_e6 / 1e6,
        )

    def _due(self, since: int) -> tuple[set[str], list[Any]]:
        """Chips with measurements newer than their last check, and the checkable chips
        (registered or installed, at a facility with coordinates)."""
        lm, lc = t.location_measurements, t.location_checks
        with self.store.read() as conn:
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
                return due, []
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
        return due, list(chips)

    def run_location_checks(self, now: int) -> list[StoredCheck]:
        """Check every chip that has measurements newer than its last check against its
        declared facility's coordinates (``geo.service.verify_chip_location`` over the
        measurements of the last ``max_age`` seconds; landmark positions are the ones
        each landmark signed into its Measurement).

        Each result is stored and appended to the transparency log as the canonical
        CBOR record ``{"type": "location-check", "check": {...}}`` in one transaction;
        an ``inconsistent`` verdict also raises a ``location_inconsistent`` alert with
        the evidence, a ``suspicious`` one (statistical policy) a ``location_suspicious``
        alert of medium severity. ``insufficient_evidence`` is stored, not alerted. Chips without a
        facility with coordinates, and decommissioned or destroyed chips, are skipped."""
        since = now - self.max_age
        due, chips = self._due(since)
        out: list[StoredCheck] = []
        for chip in chips:
            cid = chip.chip_id
            if cid not in due:
                continue
            with self.store.read() as conn:
                rows = conn.execute(
                    select(t.location_measurements.c.id, t.location_measurements.c.envelope)
                    .where(
                        t.location_measurements.c.chip_id == cid,
                        t.location_measurements.c.time >= since,
                    )
                    .order_by(t.location_measurements.c.id)
                ).all()
                last = _last_covered(conn, cid)
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
                policy=self.policy,
                max_age_s=self.max_age,
                delay=self.delay,
            )
            saved = self._store_check(cid, chip.facility_id, check, envelopes, rows[-1].id, now)
            if saved is not None:
                out.append(saved)
        return out

    @retried
    def _store_check(
        self,
        chip_id: str,
        facility_id: str,
        check: LocationCheck,
        envelopes: Sequence[bytes],
        newest: int,
        now: int,
    ) -> StoredCheck | None:
        v = check.verdict
        record = _log_record(chip_id, facility_id, check, envelopes, now)
        result: dict[str, Any] = {
            **v.to_json(),
            "accepted": check.accepted,
            "rejected": [{"index": i, "error": c, "message": m} for i, c, m in check.rejected],
        }
        with self.store.write() as conn:
            # another worker may have checked the same measurements meanwhile
            conn.execute(self.store.lock_columns([t.chips.c.chip_id], t.chips.c.chip_id == chip_id))
            if _last_covered(conn, chip_id) >= newest:
                return None
            idx = self.store.log.append(conn, "location-check", encoding.encode(record), now)
            alert_id: int | None = None
            alert = check.alert  # the evidence: landmarks too slow/fast, least distance
            if alert is not None and v.verdict in ALERTED:
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
        return from_row(StoredCheck, row, id=int(check_id))

    def list_location_checks(
        self, *, chip_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[StoredCheck]:
        stmt = page(t.location_checks, after, limit, chip_id=chip_id)
        with self.store.read() as conn:
            return [from_row(StoredCheck, r) for r in conn.execute(stmt).all()]

    def list_location_measurements(
        self, chip_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[StoredMeasurement]:
        stmt = page(t.location_measurements, after, limit, chip_id=chip_id)
        with self.store.read() as conn:
            return [
                from_row(
                    StoredMeasurement,
                    r,
                    rtt_ms=r.rtt_ns / 1e6,
                    lat=r.lat_e6 / 1e6,
                    lon=r.lon_e6 / 1e6,
                    envelope=b64(bytes(r.envelope)),
                )
                for r in conn.execute(stmt).all()
            ]
