"""Authority integration (pure): verify a chip against its declared facility from signed
Measurements, and schedule those checks. The authority service supplies the clock
(``now``), the trusted landmark keys (trust-root role ``landmark``), the registered
landmark positions and facility, stores results and raises alerts.

Wiring (docs/geo.md, "Authority"):

- ``POST /v1/location/measurements`` (body ``application/cbor``, as sent by
  ``pausebutton landmark serve --authority-url``) -> ``LocationScheduler.submit``.
- A periodic task -> ``LocationScheduler.run_due(now)``; each LocationCheck is
  logged, and ``check.alert`` (when not None) becomes an alert.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pausebutton.errors import (
    ExpiredError,
    NotFoundError,
    NotYetValidError,
    PausebuttonError,
    ReplayError,
    WrongChipError,
)
from pausebutton.geo.calibration import Calibration
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
        inconsistent = v.verdict is VerdictKind.INCONSISTENT
        return {
            "kind": "location_inconsistent" if inconsistent else "location_unverified",
            "severity": "high" if inconsistent else "low",
            "chip_id": self.chip_id.hex(),
            "time": self.time,
            "facility": {"lat": v.claim.lat, "lon": v.claim.lon, "radius_km": v.claim.radius_km},
            "least_distance_km": round(v.least_distance_km, 3),
            "basis": v.least_distance_basis,
            "landmarks": [e.to_json() for e in v.landmarks if e.status != "ok"],
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
) -> LocationCheck:
    """Check signed Measurements of one chip against its declared facility.

    Each measurement must be signed by a trusted landmark (G6), be of this chip
    (and signed by ``chip_key`` if given), be no older than ``max_age_s`` and not
    from the future; the others are listed in ``rejected`` with their error code.
    Landmark positions come from ``landmark_sites`` (the registry, keyed by key id)
    or, if None, from the landmark-signed measurement itself. Calibrations are keyed
    by the landmark id used in the verdict (``landmark_sites[...].id`` or key id hex).
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
    verdict = verify_claim(sites, rows, facility, policy, calibrations)
    return LocationCheck(chip_id, now, verdict, len(rows), tuple(rejected))


@dataclass
class _Enrolled:
    facility: Claim
    chip_key: PublicKey | None
    last_check: int | None = None
    window: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=256))


class LocationScheduler:
    """Which chips are due for a location check, their recent measurements, and the
    checks themselves. Holds no clock: every call takes ``now``."""

    def __init__(
        self,
        landmark_keys: Mapping[bytes, PublicKey],
        *,
        interval_s: int = 3600,
        max_age_s: int = DEFAULT_MAX_AGE_S,
        policy: Policy = DEFAULT_POLICY,
        landmark_sites: Mapping[bytes, Landmark] | None = None,
        calibrations: Mapping[str, Calibration] | None = None,
    ) -> None:
        self.landmark_keys = dict(landmark_keys)
        self.interval_s = interval_s
        self.max_age_s = max_age_s
        self.policy = policy
        self.landmark_sites = landmark_sites
        self.calibrations = calibrations
        self._chips: dict[bytes, _Enrolled] = {}

    def enroll(self, chip_id: bytes, facility: Claim, chip_key: PublicKey | None = None) -> None:
        """Register (or move) a chip's declared facility."""
        old = self._chips.get(chip_id)
        self._chips[chip_id] = _Enrolled(facility, chip_key)
        if old is not None and old.facility == facility:
            self._chips[chip_id].window = old.window

    def due(self, now: int) -> list[bytes]:
        """Chips never checked or last checked ``interval_s`` or more ago."""
        return sorted(
            cid
            for cid, e in self._chips.items()
            if e.last_check is None or now - e.last_check >= self.interval_s
        )

    def submit(self, data: bytes, now: int) -> Measurement:
        """Accept one signed Measurement (raises a named error if it is unusable)."""
        m = verify_measurement(data, self.landmark_keys)
        enrolled = self._chips.get(m.chip_id)
        if enrolled is None:
            raise NotFoundError(f"chip {m.chip_id.hex()[:16]} is not enrolled")
        if enrolled.chip_key is not None:
            verify_measurement(data, self.landmark_keys, enrolled.chip_key)
        if m.time > now + CLOCK_SKEW_S:
            raise NotYetValidError("measurement from the future")
        if any(d == data for _, d in enrolled.window):
            raise ReplayError("this measurement was already submitted")
        enrolled.window.append((m.time, data))
        return m

    def check(self, chip_id: bytes, now: int) -> LocationCheck:
        enrolled = self._chips.get(chip_id)
        if enrolled is None:
            raise NotFoundError(f"chip {chip_id.hex()[:16]} is not enrolled")
        fresh = [d for t, d in enrolled.window if t >= now - self.max_age_s]
        result = verify_chip_location(
            chip_id,
            enrolled.facility,
            fresh,
            self.landmark_keys,
            now=now,
            chip_key=enrolled.chip_key,
            landmark_sites=self.landmark_sites,
            policy=self.policy,
            calibrations=self.calibrations,
            max_age_s=self.max_age_s,
        )
        enrolled.last_check = now
        return result

    def run_due(self, now: int) -> list[LocationCheck]:
        return [self.check(cid, now) for cid in self.due(now)]
