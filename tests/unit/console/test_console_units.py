"""The console's pure pieces: challenges and session cookies, and a location check drawn
as landmarks, delay circles and the feasible region."""

from __future__ import annotations

import pytest
from shapely.geometry import Point, Polygon

from pausebutton import errors
from pausebutton.console.geometry import check_drawing
from pausebutton.console.session import Sessions, parse_signature

NOW = 1_800_000_000


def test_a_challenge_is_checked_for_its_tag_and_expiry() -> None:
    s = Sessions(b"secret")
    ch = s.challenge(NOW)
    nonce, expiry = s.check_challenge(ch, NOW + 10)
    assert len(nonce) == 32 and expiry == NOW + 300
    with pytest.raises(errors.ExpiredError, match="expired"):
        s.check_challenge(ch, NOW + 301)
    with pytest.raises(errors.AuthError, match="not issued"):
        Sessions(b"other").check_challenge(ch, NOW)
    with pytest.raises(errors.SchemaError):
        s.check_challenge("hello", NOW)


def test_a_session_cookie_expires_and_cannot_be_forged() -> None:
    s = Sessions(b"secret")
    cookie = s.cookie("ab" * 32, NOW)
    assert s.read_cookie(cookie, NOW + 60) == "ab" * 32
    assert s.read_cookie(cookie, NOW + 9 * 3600) is None
    kid, exp, tag = cookie.split(".")
    assert s.read_cookie(f"{'cd' * 32}.{exp}.{tag}", NOW) is None
    assert s.read_cookie(f"{kid}.{int(exp) + 999}.{tag}", NOW) is None
    assert s.read_cookie("garbage", NOW) is None


def test_signatures_parse_as_hex_or_base64_of_64_bytes() -> None:
    import base64

    raw = bytes(range(64))
    assert parse_signature(raw.hex()) == raw
    assert parse_signature(base64.b64encode(raw).decode()) == raw
    with pytest.raises(errors.SchemaError):
        parse_signature("abcd")


def _landmark(i: str, lat: float, lon: float, km: float) -> dict[str, object]:
    return {
        "landmark_id": i,
        "lat": lat,
        "lon": lon,
        "max_distance_km": km,
        "rtt_ms": 1.0,
        "status": "ok",
    }


def test_the_feasible_region_lies_inside_every_circle() -> None:
    # Amsterdam, Frankfurt, Paris; the chip in Brussels (50.85, 4.35)
    result = {
        "verdict": "consistent",
        "claim": {"lat": 50.85, "lon": 4.35, "radius_km": 0},
        "landmarks": [
            _landmark("ams", 52.37, 4.90, 250),
            _landmark("fra", 50.11, 8.68, 350),
            _landmark("par", 48.86, 2.35, 300),
        ],
    }
    d = check_drawing(result)
    assert [lm["id"] for lm in d["landmarks"]] == ["ams", "fra", "par"]
    region = Polygon([(lon, lat) for lat, lon in d["region"]])
    assert region.is_valid and region.contains(Point(4.35, 50.85))
    # every vertex is within the smallest disk (Amsterdam, 250 km ≈ 2.25° of latitude)
    assert all(abs(lat - 52.37) < 2.4 for lat, _ in d["region"])


def test_disjoint_circles_leave_no_region_and_bad_entries_are_skipped() -> None:
    result = {
        "landmarks": [
            _landmark("ams", 52.37, 4.90, 50),
            _landmark("tok", 35.68, 139.69, 50),
            {"landmark_id": "broken", "lat": None},
        ]
    }
    d = check_drawing(result)
    assert d["region"] == [] and len(d["landmarks"]) == 2
