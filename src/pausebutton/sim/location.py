"""Act 10: location verification; landmarks time signed challenges, and the speed of light
bounds where a chip can be (round trips simulated from distances, signatures real)."""

from __future__ import annotations

import time

from pausebutton.sim.results import StepResult, TableData, expect
from pausebutton.sim.world import SITES, Demo

LANDMARKS = (
    ("lm-brussels", 50.8503, 4.3517),
    ("lm-london", 51.5074, -0.1278),
    ("lm-hamburg", 53.5511, 9.9937),
    ("lm-paris", 48.8566, 2.3522),
)
ROUTE_INFLATION = 1.5
"""Simulated: honest internet routes are about 1.5x the great-circle fibre distance."""
STACK_MS = 0.3
RELAY_KM = 1000.0


def step_location(d: Demo, r: StepResult) -> None:
    import os

    from pausebutton.geo.physics import destination, distance_km, fibre_rtt_ms
    from pausebutton.geo.verdict import Claim, Landmark, Model, verify_claim
    from pausebutton.geo.verdict import Policy as GeoPolicy
    from pausebutton.protocol.envelope import Envelope
    from pausebutton.protocol.messages import LocationChallenge, LocationResponse

    site = SITES[0]
    node = d.nodes["dc-a"]
    uuid, gpu = next(iter(node.agent.gpus.items()))
    lm_key = d.keys.key("landmark", 0)
    landmarks = {lid: Landmark(lid, lat, lon) for lid, lat, lon in LANDMARKS}
    claim = Claim(site.lat, site.lon, radius_km=2.0)
    policy = GeoPolicy(model=Model.FIBRE, min_landmarks=3)
    relay_at = destination(site.lat, site.lon, 80.0, RELAY_KM)

    # the chip's signature is real: measure it and check it against the device key
    sign_ms = []
    for _ in range(5):
        challenge = Envelope.create(
            LocationChallenge(
                landmark_id=lm_key.key_id, chip_id=bytes.fromhex(gpu.chip_id), nonce=os.urandom(32)
            ),
            [lm_key],
        ).encode()
        t = time.perf_counter()
        answer = node.agent.respond(uuid, challenge)
        sign_ms.append((time.perf_counter() - t) * 1000)
        resp = Envelope.decode(answer).open_as(LocationResponse)
        expect(resp.chip_id.hex() == gpu.chip_id, "the location response names another chip")
    signing = min(sign_ms)

    def measurements(lat: float, lon: float) -> list[tuple[str, float]]:
        out = []
        for lid, llat, llon in LANDMARKS:
            rtt = fibre_rtt_ms(distance_km(llat, llon, lat, lon)) * ROUTE_INFLATION
            out.append((lid, rtt + STACK_MS + signing))
        return out

    honest = verify_claim(landmarks, measurements(site.lat, site.lon), claim, policy)
    relayed = verify_claim(landmarks, measurements(*relay_at), claim, policy)
    expect(honest.verdict.value == "consistent", f"honest chip judged {honest.verdict.value}")
    expect(relayed.verdict.value == "inconsistent", f"relayed chip judged {relayed.verdict.value}")
    rows = []
    for (lid, h_rtt), (_, x_rtt) in zip(
        measurements(site.lat, site.lon), measurements(*relay_at), strict=True
    ):
        ev = next(e for e in honest.landmarks if e.landmark_id == lid)
        rows.append(
            [
                lid,
                f"{ev.distance_to_claim_km:.0f} km",
                f"{h_rtt:.2f} ms",
                f"{x_rtt:.2f} ms",
                "-" if ev.allowed_rtt_ms is None else f"{ev.allowed_rtt_ms:.2f} ms",
            ]
        )
    r.tables.append(
        TableData(
            f"landmark round trips (simulated) for a chip declared at {site.name}",
            ["landmark", "distance to claim", "honest RTT", "relayed RTT", "max honest RTT"],
            rows,
        )
    )
    r.notes.append(
        "round-trip times are simulated from distances (fibre at 200 km/ms, routes x1.5,"
        f" +{STACK_MS} ms stack); the chip's signature time ({signing:.2f} ms) is measured"
    )
    r.data = {
        "honest": honest.verdict.value,
        "relayed": relayed.verdict.value,
        "relay_km": RELAY_KM,
        "relayed_least_distance_km": round(relayed.least_distance_km, 1),
        "relayed_reasons": list(relayed.reasons[:2]),
        "signing_ms": round(signing, 3),
        "rtts_simulated": True,
    }
    r.summary = (
        f"honest chip: {honest.verdict.value}; chip relayed from {RELAY_KM:.0f} km:"
        f" {relayed.verdict.value} (at least {relayed.least_distance_km:.0f} km off its claim)"
    )
