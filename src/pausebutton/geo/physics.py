"""Geodesy and the physics of round-trip times (pure).

Distances are geodesics on the WGS84 ellipsoid (geographiclib, Karney 2013),
in kilometres. A round-trip time bounds how far the answering chip can be from
the landmark: the signal went there and back, so the one-way path is at most
``speed * rtt / 2``.

- The *hard bound* uses the speed of light in vacuum, c = 299,792.458 km/s
  (= 299.792458 km/ms). No signal is faster, so a chip can never be farther
  than ``c * rtt / 2`` from the landmark: this bound is physics, not a model.
- The *fibre model* uses 2/3 c (light in glass, refractive index ~1.5): about
  200 km per ms one way, so 1 ms RTT puts the chip within ~100 km. Microwave
  and free-space links beat fibre, so this is a typical bound, not a hard one.
"""

from __future__ import annotations

import math

from geographiclib.geodesic import Geodesic

from pausebutton.errors import DataError

C_KM_PER_MS = 299.792458
"""Speed of light in vacuum, km per millisecond."""
FIBRE_KM_PER_MS = C_KM_PER_MS * 2.0 / 3.0
"""Speed of light in optical fibre (refractive index 1.5), km per millisecond."""
MAX_RTT_MS = 10_000.0
"""Round-trip times above this are absurd for a location challenge and are rejected."""
EARTH_HALF_CIRCUMFERENCE_KM = 20_003.93
"""No two points on Earth are farther apart along the surface than this."""

_WGS84 = Geodesic.WGS84


def check_coordinates(lat: float, lon: float, *, what: str = "point") -> None:
    """Raise DataError unless (lat, lon) are finite WGS84 degrees in range."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise DataError(f"{what}: coordinates must be finite numbers", field="lat/lon")
    if not -90.0 <= lat <= 90.0:
        raise DataError(f"{what}: latitude {lat} is outside [-90, 90]", field="lat")
    if not -180.0 <= lon <= 180.0:
        raise DataError(f"{what}: longitude {lon} is outside [-180, 180]", field="lon")


def check_rtt(rtt_ms: float, *, what: str = "rtt") -> None:
    """Raise DataError for a negative, zero, non-finite or absurd round-trip time."""
    if not math.isfinite(rtt_ms) or rtt_ms <= 0.0:
        raise DataError(f"{what}: round-trip time {rtt_ms} ms must be positive", field="rtt_ms")
    if rtt_ms > MAX_RTT_MS:
        raise DataError(
            f"{what}: round-trip time {rtt_ms} ms exceeds {MAX_RTT_MS:.0f} ms", field="rtt_ms"
        )


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on WGS84 in kilometres."""
    result = _WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)
    return float(result["s12"]) / 1000.0


def destination(lat: float, lon: float, bearing_deg: float, dist_km: float) -> tuple[float, float]:
    """The point ``dist_km`` from (lat, lon) along the initial bearing (degrees from north)."""
    result = _WGS84.Direct(
        lat, lon, bearing_deg, dist_km * 1000.0, Geodesic.LATITUDE | Geodesic.LONGITUDE
    )
    lon2 = (float(result["lon2"]) + 180.0) % 360.0 - 180.0
    return float(result["lat2"]), lon2


def hard_max_distance_km(rtt_ms: float) -> float:
    """The physical bound: the chip is at most c * rtt / 2 from the landmark."""
    return min(C_KM_PER_MS * rtt_ms / 2.0, EARTH_HALF_CIRCUMFERENCE_KM)


def fibre_max_distance_km(rtt_ms: float) -> float:
    """The fibre model: at most (2/3 c) * rtt / 2 (typical paths, not a hard bound)."""
    return min(FIBRE_KM_PER_MS * rtt_ms / 2.0, EARTH_HALF_CIRCUMFERENCE_KM)


def hard_min_rtt_ms(dist_km: float) -> float:
    """The fastest round trip physics allows over a distance (light in vacuum)."""
    return 2.0 * dist_km / C_KM_PER_MS


def fibre_rtt_ms(dist_km: float) -> float:
    """The round trip over a straight fibre of this length (no routing, no queues)."""
    return 2.0 * dist_km / FIBRE_KM_PER_MS
