"""The console in a real browser: Debian's Chromium driven by Playwright (never a
downloaded browser). Open the map and find a facility; members sign a pause from the page
until the quorum while chips turn paused; sign in with a wrong key.

Screenshots go to ``$PB_CONSOLE_SCREENSHOTS`` when set (docs/console/ holds the ones the
docs show), else into the test's temporary folder."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pausebutton import keystore
from pausebutton.bench.console import CHROMIUM
from pausebutton.protocol.keys import PrivateKey

pytestmark = pytest.mark.skipif(
    not Path(os.environ.get("PB_CHROMIUM", CHROMIUM)).exists(),
    reason="needs Debian's chromium package",
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from pausebutton.bench.console import browser

    with browser() as b:
        yield b


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("PB_CONSOLE_SCREENSHOTS") or tmp_path / "shots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def key_file(tmp: Path, key: PrivateKey, name: str) -> Path:
    path = tmp / f"{name}.json"
    keystore.write_private_key(path, key, force=True)
    return path


def signed_in_page(chromium: Any, site: Any, key: PrivateKey, tmp: Path, **ctx: Any) -> Any:
    """A page signed in through the sign-in form (the key file read by WebCrypto)."""
    ctx.setdefault("viewport", {"width": 1280, "height": 800})
    page = chromium.new_context(**ctx).new_page()
    page.goto(f"{site.url}/console/signin")
    page.set_input_files("#keyfile", str(key_file(tmp, key, key.key_id.hex()[:8])))
    page.click("#signin-file button[type=submit]")
    page.wait_for_url(f"{site.url}/console/", timeout=15_000)
    return page


def _location_check(db_url: str, chip_id: str) -> None:
    """A stored location check of a chip at Frankfurt, as the location service stores it
    (the verdict's JSON): three landmarks and their delay bounds."""
    from sqlalchemy import create_engine, insert

    from pausebutton.authority import tables as t
    from pausebutton.authority.db import normalise_url

    landmarks = [
        ("lm-ams", 52.37, 4.90, 2.3, 460.0),
        ("lm-par", 48.86, 2.35, 3.1, 620.0),
        ("lm-mil", 45.46, 9.19, 3.1, 620.0),
    ]
    result = {
        "verdict": "consistent",
        "claim": {"lat": 50.11, "lon": 8.68, "radius_km": 0.0},
        "landmarks": [
            {
                "landmark_id": i,
                "lat": a,
                "lon": o,
                "rtt_ms": r,
                "max_distance_km": km,
                "status": "ok",
            }
            for i, a, o, r, km in landmarks
        ],
        "reasons": [],
    }
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:
        conn.execute(
            insert(t.location_checks).values(
                chip_id=chip_id,
                facility_id="fra2",
                time=int(time.time()),
                verdict="consistent",
                landmarks=3,
                least_distance_km=0.0,
                newest_measurement=1,
                result=result,
            )
        )
    engine.dispose()


def test_open_the_map_and_find_a_facility(chromium, site, db_url, tmp_path, shots) -> None:
    site.facility("sin1", "Merlion Compute SIN1", "SG", 1.35, 103.82, "polder")
    site.facility("iad9", "Potomac AI IAD9", "US", 38.95, -77.45, "rhein")
    site.register(3, "polder", "ams1")
    fra = site.register(2, "rhein", "fra2")
    _location_check(db_url, min(c.chip_id for c in fra))
    site.register(4, "polder", "sin1")
    page = signed_in_page(chromium, site, site.world.admin, tmp_path)
    page.wait_for_selector("body[data-map-ready='1']", timeout=20_000)
    assert "4 facilities on the map" in page.inner_text("#map-status")
    assert "4 facilities, 9 chips" in page.inner_text("#totals")
    page.click("button.zoom[data-country='SG']")
    page.wait_for_function("window.PBMap.map.getZoom() >= 6")
    page.fill("#find", "rhein")
    page.click("#found button[data-id='fra2']")
    popup = page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
    assert "Rhein AI FRA2" in popup.inner_text() and "2 chips" in popup.inner_text()
    page.wait_for_timeout(500)  # the popup's fade-in, for the screenshot
    page.screenshot(path=str(shots / "map.png"))
    page.click(".leaflet-popup-content a")
    page.wait_for_selector("#facility-name")
    assert page.inner_text("#facility-name") == "Rhein AI FRA2"
    assert page.inner_text("#facility-total") == "2"
    # the first Tab reaches the skip link; times carry UTC on hover
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.click("#chips a >> nth=0")
    page.wait_for_selector("text=Custody")
    assert page.inner_text("#verdict") == "consistent"
    # three delay circles, the feasible region, and the markers of landmarks and facility
    page.wait_for_function(
        "document.querySelectorAll('#checkmap path.leaflet-interactive').length >= 8",
        timeout=10_000,
    )
    page.locator("#checkmap").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "chip-location.png"), full_page=True)
    phone = page.context.browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    phone.goto(f"{site.url}/console/")
    phone.wait_for_selector("body[data-map-ready='1']", timeout=20_000)
    assert "Public view" in phone.inner_text("#map-status")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 391
    phone.screenshot(path=str(shots / "map-phone-public.png"))
    phone.context.close()
    page.context.close()


def test_members_sign_a_pause_from_the_page_and_chips_turn_paused(
    chromium, site, tmp_path, shots
) -> None:
    fleet = site.fleet(4, "polder", "ams1", "NL")
    fleet.start()
    try:
        time.sleep(1.1)  # reports are dated in whole seconds: the registration's are older
        prop = site.propose()
        watcher = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
        watcher.goto(f"{site.url}/console/pause")
        watcher.wait_for_selector(".live.ok", timeout=15_000)
        assert "0 of 3" in watcher.inner_text(f"article[data-proposal='{prop['id']}'] .sigs")
        assert watcher.query_selector("form.sign") is None  # the public may not sign
        k = site.world.root.role("pause").threshold
        for i in range(k):
            member = site.world.member(i)
            page = signed_in_page(chromium, site, member, tmp_path)
            page.goto(f"{site.url}/console/pause")
            page.wait_for_selector(".live.ok", timeout=15_000)
            form = f"form.sign[data-id='{prop['id']}']"
            page.set_input_files(f"{form} input.keyfile", str(key_file(tmp_path, member, "m")))
            page.wait_for_selector("#action-status:has-text('key loaded')")
            page.click(f"{form} button")
            page.wait_for_selector("#action-status:has-text('signed:')", timeout=10_000)
            if i < k - 1:
                watcher.wait_for_selector(
                    f"article[data-proposal='{prop['id']}'] .sigs:has-text('{i + 1} of {k}')",
                    timeout=10_000,
                )
                if i == 0:
                    watcher.screenshot(path=str(shots / "pause-signing.png"))
            page.context.close()
        done = watcher.wait_for_selector("article.order .took", timeout=20_000)
        assert "100 %" in done.inner_text()
        assert "4 of 4 chips (100 %)" in watcher.inner_text("article.order .held")
        assert fleet.states() == ["paused"] * 4
        watcher.screenshot(path=str(shots / "pause-delivered.png"))
        watcher.context.close()
    finally:
        fleet.stop()


def test_sign_in_with_a_signature_made_by_the_cli(chromium, site, cli, tmp_path) -> None:
    member = site.world.member(2)
    keyfile = key_file(tmp_path, member, "member")
    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{site.url}/console/signin")
    page.click("summary")
    page.wait_for_selector("#challenge:has-text('pausebutton-console-signin')")
    challenge = page.inner_text("#challenge")
    signed = cli("keys", "sign-challenge", keyfile, challenge, "--json")
    assert signed.returncode == 0, signed.stderr
    doc = json.loads(signed.stdout)
    page.fill("#key-id", doc["key_id"])
    page.fill("#signature", doc["signature"])
    page.click("#signin-cli button[type=submit]")
    page.wait_for_url(f"{site.url}/console/", timeout=15_000)
    assert site.world.member_names[2] in page.inner_text("#who")
    page.context.close()


def test_sign_in_with_a_wrong_key_says_so(chromium, site, tmp_path, shots) -> None:
    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{site.url}/console/signin")
    page.set_input_files("#keyfile", str(key_file(tmp_path, PrivateKey.generate(), "stranger")))
    page.click("#signin-file button[type=submit]")
    status = page.wait_for_selector("#signin-status.error", timeout=10_000)
    assert "Sign-in refused: the authority knows no key" in status.inner_text()
    page.screenshot(path=str(shots / "signin-wrong-key.png"))
    public = tmp_path / "public.json"
    keystore.write_public_key(public, site.world.admin.public)
    page.set_input_files("#keyfile", str(public))
    page.click("#signin-file button[type=submit]")
    page.wait_for_selector("#signin-status:has-text('public key file')", timeout=10_000)
    assert page.inner_text("#who") == "Public view"
    page.context.close()


def _cosign(site: Any, witnesses: int) -> int:
    """The newest checkpoint that covers the log, cosigned by ``witnesses`` witnesses."""
    from pausebutton.translog.policy import LogPolicy

    policy = LogPolicy.from_trust_root(site.world.root)
    size = int(site.admin.get("/v1/stats")["log_size"])
    deadline = time.monotonic() + 15
    while True:
        cp = policy.parse_log_signed(site.admin.get("/v1/log/checkpoint"))
        if cp.size >= size or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for i in range(witnesses):
        note = cp.with_signatures([cp.cosign(site.world.keys.key("witness", i), int(time.time()))])
        resp = site.admin.http.post(
            f"{site.url}/v1/log/cosignature", content=note.encode().encode(), timeout=30
        )
        assert resp.status_code == 200, resp.text
    return cp.size


def test_verify_an_inclusion_proof_in_the_browser(chromium, site, shots) -> None:
    chips = site.register(3, "polder", "ams1")
    size = _cosign(site, 2)
    page = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{site.url}/console/log")
    page.wait_for_selector("body[data-log-ready='1']")
    page.wait_for_selector("#cp-log.ok", timeout=10_000)
    assert "2 of 3 witnesses cosigned" in page.inner_text("#cp-witnesses")
    assert f"of <strong>{size}</strong>" in page.inner_html("#checkpoint")
    page.fill("#q", chips[1].chip_id)
    page.click("#search button[type=submit]")
    page.wait_for_selector("#log-status:has-text('1 entry names')")
    page.click("#entries button.verify")
    ok = page.wait_for_selector("#entries .result.ok", timeout=10_000)
    assert "included in the tree" in ok.inner_text()
    page.screenshot(path=str(shots / "log-verified.png"))

    # a proof altered on the way is caught by the browser, not taken on trust
    def tamper(route: Any) -> None:
        import base64
        import json

        body = json.loads(route.fetch().text())
        first = bytearray(base64.b64decode(body["proof"][0]))
        first[0] ^= 1
        body["proof"][0] = base64.b64encode(bytes(first)).decode()
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/v1/log/proof/inclusion*", tamper)
    page.click("#entries button.verify")
    bad = page.wait_for_selector("#entries .result.bad", timeout=10_000)
    assert "NOT verified" in bad.inner_text()
    page.context.close()


def test_alerts_page_filters(chromium, site, tmp_path, shots) -> None:
    now = int(time.time())
    (nl,) = site.register(1, "polder", "ams1")
    (de,) = site.register(1, "rhein", "fra2")
    for chip in (nl, de):
        chip.report(time=now)  # never sent: the next skips a sequence (a gap alert)
        site.admin.submit_reports([chip.report(time=now)])
    page = signed_in_page(chromium, site, site.world.admin, tmp_path)
    page.goto(f"{site.url}/console/alerts")
    page.wait_for_selector("#alerts-status:has-text('2 alerts')")
    page.fill("#f-country", "DE")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#alerts-status:has-text('1 alert match')")
    rows = page.query_selector_all("#alerts tbody tr")
    assert len(rows) == 1 and de.chip_id[:12] in rows[0].inner_text()
    page.click("#alerts details summary")
    page.screenshot(path=str(shots / "alerts.png"))
    page.context.close()


def test_fleet_page_charts_a_licence(chromium, site, tmp_path, shots) -> None:
    now = int(time.time())
    ops = site.operator("polder")
    working, _silent = site.register(2, "polder", "ams1")
    app = site.admin.with_key(ops).post(
        "/v1/licenses/applications",
        {
            "chips": [working.chip_id],
            "flop_budget": "1e19",
            "not_before": now - 60,
            "not_after": now + 30 * 86400,
            "run_id": "run-1",
            "purpose": "testing",
        },
    )
    (lid,) = app["license_ids"]
    for i, used in enumerate((10**18, 3 * 10**18, 6 * 10**18)):
        site.admin.submit_reports(
            [working.report(time=now + i, license_id=lid, license_flop_used=used)]
        )
    page = signed_in_page(chromium, site, ops, tmp_path)
    page.goto(f"{site.url}/console/fleet")
    page.wait_for_selector("body[data-fleet-ready='1']")
    assert "60.0 %" in page.inner_text(f"#licences tr[data-licence='{lid}']")
    assert "has never reported" in page.inner_text("#attention")
    page.click(f"button.show-chart[data-licence='{lid}']")
    page.wait_for_selector("#chart-svg svg polyline.used", state="attached")
    assert page.get_attribute("#chart-svg polyline.used", "points").count(",") == 3
    page.screenshot(path=str(shots / "fleet.png"), full_page=True)
    page.context.close()


def test_a_member_approves_a_licence_from_the_pause_page(chromium, site, tmp_path, shots) -> None:
    now = int(time.time())
    ops = site.operator("polder")
    chips = site.register(2, "polder", "ams1")
    app = site.admin.with_key(ops).post(
        "/v1/licenses/applications",
        {
            "chips": [c.chip_id for c in chips],
            "flop_budget": "2e21",
            "not_before": now - 60,
            "not_after": now + 30 * 86400,
            "run_id": "frontier-1",
            "purpose": "a frontier run",
        },
    )
    page = signed_in_page(chromium, site, site.world.member(0), tmp_path)
    page.goto(f"{site.url}/console/pause")
    page.click(f"button.approve[data-id='{app['id']}']")
    page.wait_for_selector("#action-status:has-text('approved: 1 of 3')")
    page.wait_for_selector(
        f"article[data-application='{app['id']}'] .approvals:has-text('1 of 3')", timeout=10_000
    )
    page.screenshot(path=str(shots / "pause-approval.png"))
    page.context.close()


def test_every_page_fits_a_phone_and_has_no_script_errors(chromium, site, tmp_path) -> None:
    (chip,) = site.register(1, "polder", "ams1")
    page = signed_in_page(
        chromium, site, site.world.admin, tmp_path, viewport={"width": 390, "height": 844}
    )
    errors_seen: list[str] = []
    page.on("pageerror", lambda exc: errors_seen.append(str(exc)))
    for path in (
        "/console/",
        "/console/pause",
        "/console/log",
        "/console/alerts",
        "/console/fleet",
        "/console/facilities/ams1",
        f"/console/chips/{chip.chip_id}",
        "/console/signin",
    ):
        page.goto(site.url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 391, (path, width)
    assert errors_seen == []
    page.context.close()
