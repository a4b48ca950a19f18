"""GNSS fixes reported through the API, each checked against the chip's landmark round
trips and its facility: honest, spoofed, relayed with a truthful-looking fix, moved."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from pausebutton import errors
from pausebutton.geo.landmark import LandmarkCore
from pausebutton.geo.physics import destination, distance_km, fibre_rtt_ms
from pausebutton.geo.responder import SoftChip

SITE = (40.0, -100.0)  # dc1 in the api fixture
LANDMARKS = [(40.6, -100.0), (39.5, -99.4), (40.0, -100.8)]


def measure(api: Any, chip: Any, at: tuple[float, float], detour_km: float = 0.0) -> None:
    """Each landmark measures the chip, which really answers from ``at`` (through a relay
    ``detour_km`` long when a relay forwards the challenges)."""
    soft = SoftChip(chip.key)
    now = int(time.time())
    for j, (lat, lon) in enumerate(LANDMARKS):
        core = LandmarkCore(api.world.keys.key("landmark", j), lat, lon)
        nonce = os.urandom(32)
        challenge = core.challenge(soft.device_key, nonce)
        core.sent(nonce, 0)
        rtt_ms = fibre_rtt_ms(distance_km(lat, lon, *at) + detour_km) * 1.5 + 1.0
        data, _ = core.complete(soft.respond(challenge), int(rtt_ms * 1e6), now=now)
        api.admin.submit_measurement(data)


def fix(chip: Any, lat: float, lon: float, t: int | None = None) -> dict[str, Any]:
    return {
        "chip_id": chip.chip_id,
        "time": t or int(time.time()),
        "lat": lat,
        "lon": lon,
        "accuracy_m": 20.0,
    }


@pytest.fixture
def site(api: Any) -> Any:
    op = api.owner()
    api.facility()
    return op


def test_an_honest_fix_at_its_facility_is_consistent(api: Any, site: Any) -> None:
    (chip,) = api.chips(1)
    measure(api, chip, SITE)
    (r,) = site.post("/v1/location/fixes", {"fixes": [fix(chip, *SITE)]})
    assert r["verdict"] == "consistent" and r["alert_id"] is None
    assert len(r["result"]["evidence"]) == 3
    assert api.admin.get("/v1/location/fixes", chip_id=chip.chip_id) == [r]


def test_a_spoofed_fix_is_caught_by_light_speed(api: Any, site: Any) -> None:
    (chip,) = api.chips(1)
    measure(api, chip, SITE)
    spoofed = destination(*SITE, 45.0, 900.0)
    (r,) = site.post("/v1/location/fixes", {"fixes": [fix(chip, *spoofed)]})
    assert r["verdict"] == "spoofed" and "faster than light" in r["result"]["reason"]
    (alert,) = api.admin.get("/v1/alerts", kind="gnss_spoofed")
    assert alert["chip_id"] == chip.chip_id and alert["id"] == r["alert_id"]


def test_a_relayed_chip_with_a_truthful_looking_fix_is_caught(api: Any, site: Any) -> None:
    (chip,) = api.chips(1)
    # the chip runs 3,000 km away; a relay at the site forwards the challenges, and the
    # receiver is spoofed to say "the site"
    measure(api, chip, SITE, detour_km=2 * 3000.0)
    (r,) = site.post("/v1/location/fixes", {"fixes": [fix(chip, *SITE)]})
    assert r["verdict"] == "relayed" and "farther away" in r["result"]["reason"]
    assert api.admin.get("/v1/alerts", kind="gnss_relayed")


def test_a_moved_chip_is_off_site_and_the_engine_sees_it(api: Any, site: Any) -> None:
    (chip,) = api.chips(1)
    moved = destination(*SITE, 180.0, 60.0)
    measure(api, chip, moved)
    (r,) = site.post("/v1/location/fixes", {"fixes": [fix(chip, *moved)]})
    assert r["verdict"] == "off_site"
    api.admin.post("/v1/detection/runs")
    (finding,) = api.admin.get("/v1/findings", rule="location_inconsistent")
    assert finding["owner"] == "acme" and finding["chips"] == [
        api.admin.get("/v1/chips")[0]["serial"]
    ]


def test_fixes_are_all_or_nothing_and_only_for_own_chips(api: Any, site: Any) -> None:
    (chip,) = api.chips(1)
    other = api.owner("blue")
    with pytest.raises(errors.ForbiddenError):
        other.post("/v1/location/fixes", {"fixes": [fix(chip, *SITE)]})
    with pytest.raises(errors.NotFoundError):
        site.post(
            "/v1/location/fixes",
            {"fixes": [fix(chip, *SITE), {**fix(chip, *SITE, 5), "chip_id": "ab" * 32}]},
        )
    assert api.admin.get("/v1/location/fixes") == []
    with pytest.raises(errors.SchemaError):
        site.post("/v1/location/fixes", {"fixes": [{**fix(chip, *SITE), "lat": 95.0}]})
    site.post("/v1/location/fixes", {"fixes": [fix(chip, *SITE, 100)]})
    with pytest.raises(errors.ConflictError):  # the same fix again
        site.post("/v1/location/fixes", {"fixes": [fix(chip, *SITE, 100)]})
