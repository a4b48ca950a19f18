"""The feasible region: where the chip can be, given every landmark's distance bound
(pure).

The region is the intersection of geodesic disks ("within ``r_i`` km of landmark
``i``"). We sample it on a polar grid around the landmark with the smallest disk
and keep the points inside every other disk. Why a grid with a geodesic test and
not shapely polygons: shapely works in a plane, and a disk of thousands of km is
not a circle in any map projection; disks also cross the antimeridian and cover
poles. A grid point tested with the true geodesic distance is exact wherever it
lies, and the only error is the grid spacing, which is added to the reported
radius. A vectorised spherical distance (numpy) decides every point that is
clearly inside or outside (more than 0.6 % + 1 km from the edge; the sphere and
WGS84 differ by under 0.6 %); geographiclib decides the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pausebutton.geo.physics import destination, distance_km

SPHERE_RADIUS_KM = 6371.0088
_SPHERE_SLACK = 0.006
RINGS = 24
BEARINGS = 72


@dataclass(frozen=True)
class Disk:
    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True)
class Estimate:
    """The centre of the feasible region and the radius that covers all of it."""

    lat: float
    lon: float
    radius_km: float
    points: int
    """How many grid points fell inside the region."""


def _sphere_km(lat0: float, lon0: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    p1, p2 = math.radians(lat0), np.radians(lats)
    dl = np.radians(lons) - math.radians(lon0)
    dp = p2 - p1
    h = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    result: np.ndarray = 2 * SPHERE_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return result


def grid_points(
    disks: Sequence[Disk], *, rings: int = RINGS, bearings: int = BEARINGS
) -> tuple[list[tuple[float, float]], float]:
    """Grid points inside every disk, and the grid spacing in km."""
    if not disks:
        return [], 0.0
    base = min(disks, key=lambda d: d.radius_km)
    step = base.radius_km / rings
    candidates: list[tuple[float, float]] = [(base.lat, base.lon)]
    for i in range(1, rings + 1):
        radius = step * i
        for j in range(bearings):
            candidates.append(destination(base.lat, base.lon, 360.0 * j / bearings, radius))
    lats = np.array([p[0] for p in candidates])
    lons = np.array([p[1] for p in candidates])
    keep = np.ones(len(candidates), dtype=bool)
    for disk in disks:
        if disk is base:
            continue
        sph = _sphere_km(disk.lat, disk.lon, lats, lons)
        margin = disk.radius_km * _SPHERE_SLACK + 1.0
        keep &= sph <= disk.radius_km + margin
        unsure = np.nonzero(keep & (sph > disk.radius_km - margin))[0]
        for k in unsure:
            if distance_km(disk.lat, disk.lon, lats[k], lons[k]) > disk.radius_km:
                keep[k] = False
    inside = [candidates[k] for k in np.nonzero(keep)[0]]
    spacing = max(step, 2.0 * math.pi * base.radius_km / bearings)
    return inside, spacing


def centroid(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The normalised mean of the points' unit vectors (a spherical centroid)."""
    lat = np.radians([p[0] for p in points])
    lon = np.radians([p[1] for p in points])
    x = float(np.mean(np.cos(lat) * np.cos(lon)))
    y = float(np.mean(np.cos(lat) * np.sin(lon)))
    z = float(np.mean(np.sin(lat)))
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def estimate(disks: Sequence[Disk]) -> Estimate | None:
    """Centre and covering radius of the intersection of ``disks``; None if empty."""
    inside, spacing = grid_points(disks)
    if not inside:
        return None
    lat, lon = centroid(inside)
    radius = max(distance_km(lat, lon, p[0], p[1]) for p in inside) + spacing
    base = min(d.radius_km for d in disks)
    return Estimate(lat, lon, min(radius, 2.0 * base), len(inside))
