"""The authority's location router, through httpx.ASGITransport (no patching)."""

from __future__ import annotations

import asyncio
import os

import httpx
from fastapi import FastAPI

from pausebutton.geo import Claim, Model, Policy
from pausebutton.geo.http import location_router
from pausebutton.geo.landmark import LandmarkCore
from pausebutton.geo.physics import distance_km, fibre_rtt_ms
from pausebutton.geo.responder import SoftChip
from pausebutton.geo.service import LocationScheduler
from pausebutton.protocol.keys import PrivateKey

SITES = {"ams": (52.3676, 4.9041), "bru": (50.8503, 4.3517), "dus": (51.2277, 6.7735)}
EIN = (51.4416, 5.4697)
LM = {n: PrivateKey.from_seed_material(b"http-" + n.encode()) for n in SITES}
CHIP = PrivateKey.from_seed_material(b"http-chip")
NOW = 1_800_000_000


def measurements(extra_ms: float) -> list[bytes]:
    chip = SoftChip(CHIP)
    out = []
    for name, (lat, lon) in SITES.items():
        core = LandmarkCore(LM[name], lat, lon)
        nonce = os.urandom(32)
        ch = core.challenge(chip.device_key, nonce)
        core.sent(nonce, 0)
        rtt = fibre_rtt_ms(distance_km(lat, lon, *EIN)) * 1.3 + 0.3 + extra_ms
        out.append(core.complete(chip.respond(ch), int(rtt * 1e6), now=NOW)[0])
    return out


async def scenario():
    sched = LocationScheduler(
        {k.key_id: k.public for k in LM.values()}, policy=Policy(model=Model.FIBRE)
    )
    sched.enroll(CHIP.key_id, Claim(*EIN), CHIP.public)
    seen = []
    app = FastAPI()
    app.include_router(location_router(sched, lambda: NOW, seen.append))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://authority") as client:
        codes = []
        for body in measurements(extra_ms=9.0):
            r = await client.post(
                "/v1/location/measurements",
                content=body,
                headers={"content-type": "application/cbor"},
            )
            codes.append(r.status_code)
        replay = await client.post("/v1/location/measurements", content=body)
        garbage = await client.post("/v1/location/measurements", content=b"\x00nope")
        run = await client.post("/v1/location/checks/run")
    return codes, replay, garbage, run, seen


def test_router_submit_and_run_checks():
    codes, replay, garbage, run, seen = asyncio.run(scenario())
    assert codes == [202, 202, 202]
    assert replay.status_code == 422 and replay.json()["error"] == "replay"
    assert garbage.status_code == 400
    checks = run.json()["checks"]
    assert len(checks) == 1 and len(seen) == 1
    assert checks[0]["result"]["verdict"] == "inconsistent"
    assert checks[0]["alert"]["kind"] == "location_inconsistent"
