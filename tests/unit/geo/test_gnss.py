"""GNSS fixes against the speed of light: one case per test, honest and attacked."""

from __future__ import annotations

import pytest

from pausebutton.errors import DataError
from pausebutton.geo.gnss import Fix, FixPolicy, FixVerdict, Ping, check_fix
from pausebutton.geo.physics import destination, distance_km, fibre_rtt_ms

SITE = (52.37, 4.90)  # the registered facility
LANDMARKS = [("north", 53.22, 6.57), ("south", 51.44, 5.47), ("west", 52.07, 4.30)]


def pings_from(lat: float, lon: float, inflation: float = 1.6, stack_ms: float = 2.0) -> list[Ping]:
    """What the landmarks measure for a chip really at (lat, lon) on a plausible network."""
    return [
        Ping(name, la, lo, fibre_rtt_ms(distance_km(lat, lon, la, lo)) * inflation + stack_ms)
        for name, la, lo in LANDMARKS
    ]


def test_an_honest_fix_at_its_facility_is_consistent() -> None:
    check = check_fix(Fix(*SITE), pings_from(*SITE), SITE)
    assert check.verdict is FixVerdict.CONSISTENT
    assert check.distance_to_site_km is not None and check.distance_to_site_km < 0.01
    assert len(check.evidence) == 3


def test_an_honest_fix_on_a_slow_network_is_still_consistent() -> None:
    slow = pings_from(*SITE, inflation=2.5, stack_ms=15.0)
    assert check_fix(Fix(*SITE), slow, SITE).verdict is FixVerdict.CONSISTENT


def test_a_fix_beyond_a_landmarks_light_bound_is_spoofed() -> None:
    # the chip is at its facility; its receiver is fed a position 600 km east
    far = destination(*SITE, 90.0, 600.0)
    check = check_fix(Fix(*far), pings_from(*SITE), SITE)
    assert check.verdict is FixVerdict.SPOOFED
    assert "faster than light" in check.reason


def test_a_relayed_chip_with_a_truthful_looking_fix_is_relayed() -> None:
    # the chip runs 3,000 km away; a relay at the facility forwards the landmarks'
    # challenges and a spoofer makes its fix say "the facility"
    relayed = [
        Ping(p.landmark, p.lat, p.lon, p.rtt_ms + fibre_rtt_ms(3000.0) * 1.4)
        for p in pings_from(*SITE)
    ]
    check = check_fix(Fix(*SITE), relayed, SITE)
    assert check.verdict is FixVerdict.RELAYED and "farther away" in check.reason


def test_one_slow_landmark_convicts_nobody() -> None:
    pings = pings_from(*SITE)
    pings[0] = Ping(pings[0].landmark, pings[0].lat, pings[0].lon, 400.0)
    assert check_fix(Fix(*SITE), pings, SITE).verdict is FixVerdict.CONSISTENT


def test_a_chip_moved_off_its_site_is_off_site() -> None:
    moved = destination(*SITE, 0.0, 40.0)
    check = check_fix(Fix(*moved), pings_from(*moved), SITE)
    assert check.verdict is FixVerdict.OFF_SITE and "40.0 km" in check.reason


def test_the_site_extent_is_a_parameter() -> None:
    moved = destination(*SITE, 0.0, 40.0)
    wide = FixPolicy(site_km=50.0)
    assert check_fix(Fix(*moved), pings_from(*moved), SITE, wide).verdict is FixVerdict.CONSISTENT


def test_without_landmarks_the_fix_is_insufficient_evidence() -> None:
    assert check_fix(Fix(*SITE), [], SITE).verdict is FixVerdict.INSUFFICIENT
    moved = destination(*SITE, 0.0, 40.0)
    assert check_fix(Fix(*moved), [], SITE).verdict is FixVerdict.OFF_SITE


@pytest.mark.parametrize(
    ("lat", "lon", "accuracy"), [(91.0, 0.0, 10.0), (0.0, 181.0, 10.0), (0.0, 0.0, 0.0)]
)
def test_impossible_fixes_are_named_errors(lat: float, lon: float, accuracy: float) -> None:
    with pytest.raises(DataError):
        Fix(lat, lon, accuracy)


def test_pings_faster_than_light_are_named_errors() -> None:
    with pytest.raises(DataError):
        Ping("x", 0.0, 0.0, -1.0)
