"""Authority integration (pure): verify a chip against its declared facility from signed
Measurements. The authority (``Authority.location.run_location_checks``)
supplies the clock (``now``), the trusted landmark keys (trust-root role
``landmark``), the stored measurements and the registered facility; it stores each
result, logs it and raises the alert (docs/geo.md, "Authority integration").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pausebutton.errors import (
    ExpiredError,
    NotFoundError,
    NotYetValidError,
    PausebuttonError,
    ReplayError,
    WrongChipError,
)
from pausebutton.geo.calibration import Calibration
from pausebutton.geo.delay import DelayModel
from pausebutton.geo.landmark import verify_measurement
from pausebutton.geo.verdict import (
    DEFAULT_POLICY,
    Claim,
    Landmark,
    Policy,
    Verdict,
    VerdictKind,
    verify_claim,
)
from pausebutton.protocol.keys import PublicKey
from pausebutton.protocol.messages import MICRODEGREES, Measurement

DEFAULT_MAX_AGE_S = 24 * 3600
CLOCK_SKEW_S = 300


@dataclass(frozen=True)
class LocationCheck:
    chip_id: bytes
    time: int
    verdict: Verdict
    accepted: int
    rejected: tuple[tuple[int, str, str], ...]
    """(index, error code, message) of each measurement that was not used."""

    @property
    def alert(self) -> dict[str, object] | None:
        """Alert data when the chip is not shown to be at its facility, else None."""
        v = self.verdict
        if v.verdict is VerdictKind.CONSISTENT:
            return None
        kind, severity = {
            VerdictKind.INCONSISTENT: ("location_inconsistent", "high"),
            VerdictKind.SUSPICIOUS: ("location_suspicious", "medium"),
        }.get(v.verdict, ("location_unverified", "low"))
        return {
            "kind": kind,
            "severity": severity,
            "chip_id": self.chip_id.hex(),
            "time": self.time,
            "facility": {"lat": v.claim.lat, "lon": v.claim.lon, "radius_km": v.claim.radius_km},
            "least_distance_km": round(v.least_distance_km, 3),
            "basis": v.least_distance_basis,
            "error_probability": v.to_json()["error_probability"],
            "deciding_landmarks": list(v.deciding_landmarks),
            "landmarks": [
                e.to_json()
                for e in v.landmarks
                if e.status != "ok" or e.landmark_id in v.deciding_landmarks
            ],
            "reasons": list(v.reasons),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "chip_id": self.chip_id.hex(),
            "time": self.time,
            "accepted": self.accepted,
            "rejected": [{"index": i, "error": c, "message": m} for i, c, m in self.rejected],
            "result": self.verdict.to_json(),
            "alert": self.alert,
        }


def _site(m: Measurement, sites: Mapping[bytes, Landmark] | None) -> Landmark:
    if sites is not None:
        site = sites.get(m.landmark_id)
        if site is None:
            raise NotFoundError(f"landmark {m.landmark_id.hex()[:16]} is not registered")
        return site
    return Landmark(m.landmark_id.hex(), m.lat_e6 / MICRODEGREES, m.lon_e6 / MICRODEGREES)


def verify_chip_location(
    chip_id: bytes,
    facility: Claim,
    measurements: Sequence[bytes],
    landmark_keys: Mapping[bytes, PublicKey],
    *,
    now: int,
    chip_key: PublicKey | None = None,
    landmark_sites: Mapping[bytes, Landmark] | None = None,
    policy: Policy = DEFAULT_POLICY,
    calibrations: Mapping[str, Calibration] | None = None,
    max_age_s: int = DEFAULT_MAX_AGE_S,
    delay: DelayModel | None = None,
) -> LocationCheck:
    """Check signed Measurements of one chip against its declared facility.

    Each measurement must be signed by a trusted landmark (G6), be of this chip
    (and signed by ``chip_key`` if given), be no older than ``max_age_s`` and not
    from the future; the others are listed in ``rejected`` with their error code.
    Landmark positions come from ``landmark_sites`` (the registry, keyed by key id)
    or, if None, from the landmark-signed measurement itself. Calibrations are keyed
    by the landmark id used in the verdict (``landmark_sites[...].id`` or key id hex).
    ``delay`` is the statistical model (``policy.model`` statistical; the authority
    passes the one fitted on the shipped WonderProxy pings).
    """
    sites: dict[str, Landmark] = {}
    rows: list[tuple[str, float]] = []
    rejected: list[tuple[int, str, str]] = []
    nonces: set[bytes] = set()
    for i, data in enumerate(measurements):
        try:
            m = verify_measurement(data, landmark_keys, chip_key)
            if m.chip_id != chip_id:
                raise WrongChipError("the measurement is of another chip")
            if m.time < now - max_age_s:
                raise ExpiredError(f"measured at {m.time}, older than {max_age_s} s")
            if m.time > now + CLOCK_SKEW_S:
                raise NotYetValidError(f"measured at {m.time}, in the future")
            if m.nonce in nonces:
                raise ReplayError("the same measurement was submitted twice")
            site = _site(m, landmark_sites)
        except PausebuttonError as exc:
            rejected.append((i, exc.code, exc.message))
            continue
        nonces.add(m.nonce)
        sites[site.id] = site
        rows.append((site.id, m.rtt_ms))
    verdict = verify_claim(sites, rows, facility, policy, calibrations, delay=delay)
    return LocationCheck(chip_id, now, verdict, len(rows), tuple(rejected))
