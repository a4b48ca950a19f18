"""Location verification inside the authority: landmarks' signed Measurements are
stored, checked against the chip's declared facility, logged, and alerted on."""

from __future__ import annotations

import base64
import os
import time

import pytest

from pausebutton.authority.api import create_app
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.inprocess import serve_in_process
from pausebutton.cli.landmark import measurements_url
from pausebutton.errors import (
    BadSignatureError,
    ExpiredError,
    ForbiddenError,
    NotFoundError,
    ReplayError,
)
from pausebutton.geo.landmark import LandmarkCore
from pausebutton.geo.physics import distance_km, fibre_rtt_ms
from pausebutton.geo.responder import SoftChip
from pausebutton.geo.verdict import Model as GeoModel
from pausebutton.geo.verdict import Policy as GeoPolicy
from pausebutton.protocol import encoding
from pausebutton.protocol.keys import PrivateKey

# the test facility (conftest Api.facility) is at 40.0, -100.0; three landmarks around it
FACILITY = (40.0, -100.0)
SITES = [(39.74, -104.99), (41.26, -95.93), (35.47, -97.52)]


def landmarks(world, n: int = 3) -> list[LandmarkCore]:
    return [
        LandmarkCore(world.keys.key("landmark", i), lat, lon)
        for i, (lat, lon) in enumerate(SITES[:n])
    ]


def measure(
    cores: list[LandmarkCore], chip: SoftChip, relay_km: float = 0.0, when: int | None = None
) -> list[bytes]:
    """Each landmark times the chip; an honest chip sits at the facility (RTT: fibre
    time x 1.3 + 0.3 ms), a relayed one answers from ``relay_km`` beyond it."""
    out = []
    for core in cores:
        nonce = os.urandom(32)
        ch = core.challenge(chip.device_key, nonce)
        core.sent(nonce, 0)
        d = distance_km(core.lat_e6 / 1e6, core.lon_e6 / 1e6, *FACILITY)
        rtt_ms = fibre_rtt_ms(d) * 1.3 + 0.3 + fibre_rtt_ms(relay_km) * 1.3
        data, _ = core.complete(chip.respond(ch), int(rtt_ms * 1e6), now=when or int(time.time()))
        out.append(data)
    return out


def setup_chip(api) -> tuple[str, SoftChip]:
    api.owner("acme")
    api.facility("dc1")
    (chip,) = api.chips(1)
    return chip.chip_id, SoftChip(chip.key)


def log_record(api, index: int) -> dict:
    entries = api.admin.get("/v1/audit/log", start=index, end=index + 1)["entries"]
    assert entries[0]["kind"] == "location-check"
    return encoding.decode(base64.b64decode(entries[0]["data"]))


def test_consistent_chip_is_logged_without_alert(api):
    cid, chip = setup_chip(api)
    for data in measure(landmarks(api.world), chip):
        stored = api.admin.submit_measurement(data)
        assert stored["chip_id"] == cid
    assert len(api.admin.get("/v1/location/measurements", chip_id=cid)) == 3
    size = api.admin.get("/v1/audit/log")["size"]
    checks = api.admin.run_location_checks()
    assert [c["verdict"] for c in checks] == ["consistent"]
    check = checks[0]
    assert check["chip_id"] == cid and check["facility_id"] == "dc1" and check["landmarks"] == 3
    assert check["alert_id"] is None and check["log_index"] == size
    rec = log_record(api, check["log_index"])
    assert rec["type"] == "location-check"
    assert rec["check"]["verdict"] == "consistent" and rec["check"]["chip_id"] == cid
    assert rec["check"]["facility"] == {"lat_e6": 40_000_000, "lon_e6": -100_000_000}
    assert len(rec["check"]["measurements"]) == 3
    assert api.admin.get("/v1/alerts", kind="location_inconsistent") == []
    assert api.admin.location_checks(cid) == checks
    # nothing new measured: a second run checks nothing
    assert api.admin.run_location_checks() == []


FIBRE = GeoPolicy(model=GeoModel.FIBRE)


@pytest.mark.parametrize("api_settings", [{"location_policy": FIBRE}])
def test_relayed_chip_is_inconsistent_with_alert_and_log_entry(api):
    cid, chip = setup_chip(api)
    for data in measure(landmarks(api.world), chip, relay_km=1000):
        api.admin.submit_measurement(data)
    (check,) = api.admin.run_location_checks()
    assert check["verdict"] == "inconsistent"
    # a lower bound under the delay model (max inflation 2.5): well above zero
    assert check["least_distance_km"] > 200
    alerts = api.admin.get("/v1/alerts", kind="location_inconsistent", chip_id=cid)
    assert len(alerts) == 1 and alerts[0]["id"] == check["alert_id"]
    detail = alerts[0]["detail"]
    assert alerts[0]["severity"] == "high"
    assert detail["facility_id"] == "dc1" and detail["log_index"] == check["log_index"]
    assert detail["least_distance_km"] == check["least_distance_km"]
    assert detail["basis"] == "model" and detail["facility"]["lat"] == 40.0
    assert any("slower" in reason for reason in detail["reasons"])
    assert check["result"]["verdict"] == "inconsistent" and check["result"]["accepted"] == 3
    assert len(detail["landmarks"]) == 3
    assert all(lm["too_slow_ms"] > 5 for lm in detail["landmarks"])
    rec = log_record(api, check["log_index"])
    assert rec["check"]["verdict"] == "inconsistent"
    assert rec["check"]["least_distance_m"] == round(check["least_distance_km"] * 1000)


def test_too_few_landmarks_is_insufficient_evidence_not_alerted(api):
    cid, chip = setup_chip(api)
    for data in measure(landmarks(api.world, 2), chip, relay_km=1000):
        api.admin.submit_measurement(data)
    (check,) = api.admin.run_location_checks()
    assert check["verdict"] == "insufficient_evidence" and check["alert_id"] is None
    assert check["chip_id"] == cid and check["landmarks"] == 2
    assert log_record(api, check["log_index"])["check"]["verdict"] == "insufficient_evidence"
    assert api.admin.get("/v1/alerts") == []


def test_bad_measurements_get_named_errors_and_change_nothing(api):
    cid, chip = setup_chip(api)
    good = measure(landmarks(api.world), chip)
    stranger = LandmarkCore(PrivateKey.from_seed_material(b"not-a-landmark"), 40.5, -99.0)
    (forged,) = measure([stranger], chip)
    with pytest.raises(BadSignatureError):
        api.admin.submit_measurement(forged)
    with pytest.raises(ExpiredError):
        api.admin.submit_measurement(
            measure(landmarks(api.world, 1), chip, when=int(time.time()) - 3 * 86400)[0]
        )
    other = SoftChip(api.world.make_chip(index=99).key)  # never registered
    with pytest.raises(NotFoundError):
        api.admin.submit_measurement(measure(landmarks(api.world, 1), other)[0])
    api.admin.submit_measurement(good[0])
    with pytest.raises(ReplayError):
        api.admin.submit_measurement(good[0])
    stored = api.admin.get("/v1/location/measurements", chip_id=cid)
    assert len(stored) == 1 and base64.b64decode(stored[0]["envelope"]) == good[0]
    # the raw HTTP answer is a 4xx JSON body naming the error
    resp = api.http.post(
        "http://testserver/v1/location/measurements",
        content=good[0],
        headers={"content-type": "application/cbor"},
    )
    assert resp.status_code == 422 and resp.json()["error"] == "replay"
    resp = api.http.post("http://testserver/v1/location/measurements", content=b"\xff\x00")
    assert 400 <= resp.status_code < 500 and resp.json()["error"] == "malformed"
    # running checks needs an admin's signed request
    with pytest.raises(ForbiddenError):
        api.owner("other").run_location_checks()
    assert api.admin.location_checks() == []


def test_background_task_runs_checks(world, db_url):
    app = create_app(world.settings(db_url, location_interval=0.2))
    with serve_in_process(app) as http:
        admin = AuthorityClient("http://testserver", world.admin, http=http)
        admin.post("/v1/owners", {"id": "acme", "name": "Acme", "country": "US"})
        admin.post(
            "/v1/facilities",
            {"id": "dc1", "name": "DC1", "country": "US", "latitude": 40.0, "longitude": -100.0},
        )
        chip = world.make_chip()
        admin.post(
            "/v1/chips",
            {
                "certificate": base64.b64encode(chip.certificate).decode(),
                "owner_id": "acme",
                "facility_id": "dc1",
            },
        )
        for data in measure(landmarks(world), SoftChip(chip.key)):
            admin.submit_measurement(data)
        deadline = time.monotonic() + 20
        while not (checks := admin.location_checks(chip.chip_id)):
            assert time.monotonic() < deadline, "the background task ran no check"
            time.sleep(0.1)
        assert [c["verdict"] for c in checks] == ["consistent"]


def test_landmark_posts_to_the_measurements_path():
    assert measurements_url("http://a:8000") == "http://a:8000/v1/location/measurements"
    assert measurements_url("http://a/") == "http://a/v1/location/measurements"
    full = "https://a.example/v1/location/measurements"
    assert measurements_url(full) == full


STATISTICAL = GeoPolicy(
    model=GeoModel.STATISTICAL, reject_probability=1e-6, suspect_probability=0.3
)


@pytest.mark.parametrize("api_settings", [{"location_policy": STATISTICAL}])
def test_statistical_policy_stores_suspicious_with_medium_alert(api):
    """Under the statistical policy a borderline chip is stored as "suspicious" and
    raises a medium ``location_suspicious`` alert (for inspection), not a conviction."""
    cid, chip = setup_chip(api)
    for data in measure(landmarks(api.world), chip, relay_km=6000):
        api.admin.submit_measurement(data)
    (check,) = api.admin.run_location_checks()
    assert check["verdict"] == "suspicious"
    result = check["result"]
    assert 1e-6 < result["error_probability"] <= 0.3
    assert len(result["deciding_landmarks"]) == 2  # the median of 3 rests on the 2 slowest
    assert api.admin.get("/v1/alerts", kind="location_inconsistent") == []
    (alert,) = api.admin.get("/v1/alerts", kind="location_suspicious", chip_id=cid)
    assert alert["id"] == check["alert_id"] and alert["severity"] == "medium"
    assert alert["detail"]["error_probability"] == result["error_probability"]
    assert {lm["landmark_id"] for lm in alert["detail"]["landmarks"]} >= set(
        result["deciding_landmarks"]
    )
    assert log_record(api, check["log_index"])["check"]["verdict"] == "suspicious"


def test_default_policy_is_the_statistical_model(api):
    """Without a policy the authority judges by the model fitted on real pings: a chip
    relayed from far away is inconsistent, with its error probability."""
    cid, chip = setup_chip(api)
    for data in measure(landmarks(api.world), chip, relay_km=8000):
        api.admin.submit_measurement(data)
    (check,) = api.admin.run_location_checks()
    assert check["verdict"] == "inconsistent", check
    assert check["result"]["policy"]["model"] == "statistical"
    assert check["result"]["error_probability"] <= 0.01
    (alert,) = api.admin.get("/v1/alerts", kind="location_inconsistent", chip_id=cid)
    assert alert["severity"] == "high"


@pytest.mark.parametrize("api_settings", [{"location_policy": STATISTICAL}])
def test_statistical_policy_honest_chip_is_consistent(api):
    _cid, chip = setup_chip(api)
    for data in measure(landmarks(api.world), chip):
        api.admin.submit_measurement(data)
    (check,) = api.admin.run_location_checks()
    assert check["verdict"] == "consistent" and check["alert_id"] is None
    assert check["result"]["error_probability"] > 0.3
