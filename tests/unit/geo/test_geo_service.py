"""Authority integration: verify_chip_location (pure, explicit ``now``), fed with real
signed Measurements from LandmarkCore."""

from __future__ import annotations

import os

from pausebutton.geo import Claim, Landmark, Model, Policy
from pausebutton.geo.landmark import LandmarkCore
from pausebutton.geo.physics import distance_km, fibre_rtt_ms
from pausebutton.geo.responder import SoftChip
from pausebutton.geo.service import verify_chip_location
from pausebutton.protocol.keys import PrivateKey

SITES = {"ams": (52.3676, 4.9041), "bru": (50.8503, 4.3517), "dus": (51.2277, 6.7735)}
EIN = (51.4416, 5.4697)
NOW = 1_800_000_000
LM = {name: PrivateKey.from_seed_material(name.encode()) for name in SITES}
KEYS = {k.key_id: k.public for k in LM.values()}
CHIP = PrivateKey.from_seed_material(b"svc-chip")
POLICY = Policy(model=Model.FIBRE)


def measure(chip: SoftChip, at: tuple[float, float], extra_ms: float = 0.0, when: int = NOW):
    out = []
    for name, (lat, lon) in SITES.items():
        core = LandmarkCore(LM[name], lat, lon)
        nonce = os.urandom(32)
        ch = core.challenge(chip.device_key, nonce)
        core.sent(nonce, 0)
        rtt_ms = fibre_rtt_ms(distance_km(lat, lon, *at)) * 1.3 + 0.3 + extra_ms
        data, _ = core.complete(chip.respond(ch), int(rtt_ms * 1e6), now=when)
        out.append(data)
    return out


def test_honest_chip_consistent_no_alert():
    chip = SoftChip(CHIP)
    check = verify_chip_location(
        CHIP.key_id,
        Claim(*EIN),
        measure(chip, EIN),
        KEYS,
        now=NOW,
        chip_key=CHIP.public,
        policy=POLICY,
    )
    assert check.verdict.consistent and check.alert is None and check.accepted == 3


def test_relayed_chip_raises_alert_with_evidence():
    chip = SoftChip(CHIP)
    check = verify_chip_location(
        CHIP.key_id, Claim(*EIN), measure(chip, EIN, extra_ms=8.0), KEYS, now=NOW, policy=POLICY
    )
    alert = check.alert
    assert alert is not None
    assert alert["kind"] == "location_inconsistent" and alert["severity"] == "high"
    assert alert["basis"] == "model" and alert["least_distance_km"] > 100
    assert len(alert["landmarks"]) == 3


def test_untrusted_stale_and_foreign_measurements_are_rejected_by_name():
    chip = SoftChip(CHIP)
    good = measure(chip, EIN)
    stale = measure(chip, EIN, when=NOW - 10 * 24 * 3600)
    other = measure(SoftChip(PrivateKey.from_seed_material(b"other")), EIN)
    untrusted = {k: v for k, v in KEYS.items() if k != LM["ams"].key_id}
    check = verify_chip_location(
        CHIP.key_id,
        Claim(*EIN),
        [*good, *stale, *other, good[0]],
        untrusted,
        now=NOW,
        policy=POLICY,
    )
    codes = [code for _, code, _ in check.rejected]
    assert codes.count("expired") == 2  # ams's stale one fails its signature check first
    assert codes.count("wrong_chip") == 2
    assert codes.count("bad_signature") == 4  # ams: good, stale, other, repeat
    assert check.accepted == 2
    assert check.verdict.verdict.value == "insufficient_evidence"
    assert check.alert is not None and check.alert["kind"] == "location_unverified"


def test_registered_sites_override_and_unknown_landmark():
    chip = SoftChip(CHIP)
    sites = {LM[n].key_id: Landmark(n, *SITES[n]) for n in ("ams", "bru")}
    check = verify_chip_location(
        CHIP.key_id,
        Claim(*EIN),
        measure(chip, EIN),
        KEYS,
        now=NOW,
        landmark_sites=sites,
        policy=Policy(model=Model.FIBRE, min_landmarks=2),
    )
    assert [c for _, c, _ in check.rejected] == ["not_found"]
    assert {e.landmark_id for e in check.verdict.landmarks} == {"ams", "bru"}
    assert check.verdict.consistent
