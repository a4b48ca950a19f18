"""A location check drawn on the map: its landmarks, their delay circles and the feasible
region (the grid of :mod:`pausebutton.geo.region`, outlined by its convex hull)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import MultiPoint, Polygon

from pausebutton.geo.region import Disk, grid_points


def check_drawing(result: dict[str, Any]) -> dict[str, Any]:
    """Landmarks with the radius the chip can be within (``max_distance_km`` under the
    check's delay model), the declared facility and the outline of the region where every
    disk overlaps (empty when they do not: the chip cannot be anywhere the model allows)."""
    landmarks = []
    disks = []
    for e in result.get("landmarks") or []:
        lat, lon, radius = e.get("lat"), e.get("lon"), e.get("max_distance_km")
        if not all(isinstance(v, (int, float)) for v in (lat, lon, radius)):
            continue
        landmarks.append(
            {
                "id": e.get("landmark_id"),
                "lat": lat,
                "lon": lon,
                "radius_km": radius,
                "rtt_ms": e.get("rtt_ms"),
                "status": e.get("status"),
            }
        )
        disks.append(Disk(float(lat), float(lon), float(radius)))
    region: list[list[float]] = []
    if disks:
        inside, _ = grid_points(disks)
        if len(inside) >= 3:
            hull = MultiPoint([(lon, lat) for lat, lon in inside]).convex_hull
            if isinstance(hull, Polygon):
                region = [[round(y, 4), round(x, 4)] for x, y in hull.exterior.coords]
        elif inside:
            region = [[round(a, 4), round(b, 4)] for a, b in inside]
    return {
        "verdict": result.get("verdict"),
        "claim": result.get("claim"),
        "landmarks": landmarks,
        "region": region,
        "estimate": result.get("estimate"),
        "reasons": result.get("reasons") or [],
    }
