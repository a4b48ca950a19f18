"""The web console's benchmark (``pausebutton bench console``), and the pieces its tests
share: a fleet of simulated chips that follow the authority's orders, a bulk-loaded
registry, sign-in and the system's Chromium driven by Playwright.

Figures: the map API's response size and time with 10,000 facilities and 1,000,000
chips in the registry (uncached: the cache emptied first, so the SQL aggregate runs;
cached: the same request again), the map page's time to interactive in Chromium
(navigation start until every facility is on the map), and the delay from an order's K-th
signature until the pause page shows 100 % delivery for a fleet of simulated chips (the
real firmware over file-backed NVM, following the authority's order feed and reporting
back).
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pausebutton import errors
from pausebutton.protocol.keys import PrivateKey

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (the ``chromium`` package); Playwright never downloads a browser."""


def chromium_path() -> str:
    path = os.environ.get("PB_CHROMIUM", CHROMIUM)
    if not Path(path).exists():
        raise errors.ServiceError(f"no Chromium at {path} (install the Debian package chromium)")
    return path


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (the system's) under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        try:
            yield b
        finally:
            b.close()


def sign_in(base_url: str, key: PrivateKey) -> str:
    """A console session cookie for ``key`` (the challenge signed as the CLI would)."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        challenge = http.get("/console/api/challenge").json()["challenge"]
        resp = http.post(
            "/console/api/session",
            json={
                "key_id": key.key_id.hex(),
                "challenge": challenge,
                "signature": key.sign(challenge.encode()).hex(),
            },
        )
        if resp.status_code != 200:
            raise errors.AuthError(f"console sign-in refused: {resp.text}")
        return str(resp.cookies["pb_console"])


# -- a fleet of simulated chips that follow the orders -------------------------------------


@dataclass
class Fleet:
    """Simulated chips (``chip.simulated``: the firmware over file-backed NVM) registered
    with an authority; ``start()`` runs a thread that long-polls the order feed, installs
    each new order into every chip and submits the chips' usage reports."""

    base_url: str
    reporter: PrivateKey
    """An operator or admin key the authority accepts reports from."""
    chips: list[Any] = field(default_factory=list)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pb-fleet-")))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None
    reported: dict[int, float] = field(default_factory=dict)
    """Order sequence -> ``perf_counter`` when every chip's report after it was accepted."""

    def create(
        self,
        n: int,
        *,
        root: bytes,
        vendor_key: PrivateKey,
        owner_id: str,
        facility_id: str,
        region: str,
    ) -> None:
        from pausebutton.authority.client import AuthorityClient
        from pausebutton.chip.simulated import SimulatedChip

        admin = AuthorityClient(self.base_url, self.reporter)
        try:
            for _ in range(n):
                i = len(self.chips)
                chip = SimulatedChip.create(
                    self.directory / f"chip-{i}",
                    root=root,
                    vendor_key=vendor_key,
                    vendor="DemoVendor",
                    issued_at=1_700_000_000,
                    serial=f"{facility_id}-{i:05d}",
                    region=region,
                    owner=owner_id,
                )
                admin.post(
                    "/v1/chips",
                    {
                        "certificate": base64.b64encode(chip.certificate).decode(),
                        "owner_id": owner_id,
                        "facility_id": facility_id,
                    },
                )
                self.chips.append(chip)
            admin.submit_reports([c.report() for c in self.chips])
        finally:
            admin.close()

    def _follow(self) -> None:
        from pausebutton.authority.client import AuthorityClient

        client = AuthorityClient(self.base_url, self.reporter)
        after = 0
        try:
            while not self._stop.is_set():
                got = client.watch(after=after, timeout=1.0)
                orders = got.get("orders") or []
                for order in orders:
                    env = base64.b64decode(order["envelope"])
                    for chip in self.chips:
                        # an order for other regions, owners or chips is not this chip's
                        with contextlib.suppress(errors.ScopeError):
                            chip.install_envelope(env)
                    after = max(after, int(order["sequence"]))
                if orders:
                    client.submit_reports([c.report() for c in self.chips])
                    self.reported[after] = time.perf_counter()
        except Exception as exc:  # noqa: BLE001 - surfaced by stop() and by the tests
            self.error = exc
        finally:
            client.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="fleet", daemon=True)
        self._thread.start()

    def states(self) -> list[str]:
        return [str(c.status()["state"]) for c in self.chips]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for c in self.chips:
            c.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.error is not None:
            raise errors.ServiceError(f"the fleet's order follower failed: {self.error!r}")


# -- a registry of 10,000 facilities and 1,000,000 chips, bulk-loaded ----------------------


def bulk_registry(db_url: str, facilities: int, chips: int, seed: int = 14) -> dict[str, Any]:
    """Fill an empty, migrated authority database with ``facilities`` facilities around the
    world and ``chips`` chips spread over them (multi-row inserts in one transaction; the
    certificates and keys are placeholders: nothing verifies them here). Half the chips
    have a usage report (licensed, throttled or paused), one in a thousand an alert and
    one in a hundred an inconsistent location check."""
    from sqlalchemy import insert

    from pausebutton.authority import tables as t
    from pausebutton.authority.db import Database, migrate

    rng = random.Random(seed)
    db = Database.connect(db_url)
    t0 = time.perf_counter()
    countries = ["US", "CN", "DE", "NL", "JP", "FR", "GB", "IN", "BR", "SG", "KR", "CA", "AU"]
    try:
        migrate(db)
        with db.write.begin() as conn:
            conn.execute(
                insert(t.owners),
                [
                    {"id": f"owner-{i}", "name": f"Owner {i}", "country": c, "created_at": 0}
                    for i, c in enumerate(countries)
                ],
            )
            fac = []
            for i in range(facilities):
                c = rng.randrange(len(countries))
                fac.append(
                    {
                        "id": f"fac-{i:05d}",
                        "name": f"Facility {i:05d}",
                        "country": countries[c],
                        "latitude": rng.uniform(-50, 65),
                        "longitude": rng.uniform(-170, 175),
                        "owner_id": f"owner-{c}",
                        "verified": True,
                        "created_at": 0,
                    }
                )
            conn.execute(insert(t.facilities), fac)
            blank = bytes(32)
            states = ("licensed", "throttled", "paused")
            batch: list[dict[str, Any]] = []
            heads: list[dict[str, Any]] = []
            reports: list[dict[str, Any]] = []
            alerts: list[dict[str, Any]] = []
            checks: list[dict[str, Any]] = []
            for i in range(chips):
                cid = f"{i:064x}"
                f = fac[rng.randrange(facilities)]
                reported = i % 2 == 0
                batch.append(
                    {
                        "chip_id": cid,
                        "serial": f"SN{i}",
                        "model": "H100 SXM5",
                        "vendor": "DemoVendor",
                        "device_key": blank,
                        "certificate": b"",
                        "firmware_floor": 0,
                        "owner_id": f["owner_id"],
                        "facility_id": f["id"],
                        "status": "active",
                        "registered_at": 0,
                    }
                )
                heads.append(
                    {
                        "chip_no": i + 1,
                        "chip_id": cid,
                        "report_seq": 1 if reported else 0,
                        "report_hash": blank,
                    }
                )
                if reported:
                    reports.append(
                        {
                            "chip_no": i + 1,
                            "sequence": 1,
                            "hash": blank,
                            "time": 0,
                            "flop_full": "0",
                            "state": states[i % 3],
                            "envelope": b"",
                            "received_at": 0,
                        }
                    )
                if i % 1000 == 7:
                    alerts.append(
                        {
                            "kind": "gap",
                            "chip_id": cid,
                            "severity": "high",
                            "detail": {},
                            "created_at": 0,
                        }
                    )
                if i % 100 == 3:
                    checks.append(
                        {
                            "chip_id": cid,
                            "facility_id": f["id"],
                            "time": 0,
                            "verdict": "inconsistent",
                            "landmarks": 3,
                            "least_distance_km": 500.0,
                            "newest_measurement": 0,
                            "result": {},
                        }
                    )
                if len(batch) >= 20_000:
                    conn.execute(insert(t.chips), batch)
                    conn.execute(insert(t.chain_heads), heads)
                    conn.execute(insert(t.reports), reports)
                    batch, heads, reports = [], [], []
            if batch:
                conn.execute(insert(t.chips), batch)
                conn.execute(insert(t.chain_heads), heads)
            if reports:
                conn.execute(insert(t.reports), reports)
            if alerts:
                conn.execute(insert(t.alerts), alerts)
            if checks:
                conn.execute(insert(t.location_checks), checks)
            if not db.sqlite:  # the chip numbers were given here: the next registration
                # takes the one after them (SQLite's integer key does so by itself)
                conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('chain_heads', 'chip_no'),"
                    " (SELECT max(chip_no) FROM chain_heads))"
                )
    finally:
        db.dispose()
    return {"facilities": facilities, "chips": chips, "load_s": round(time.perf_counter() - t0, 1)}


# -- the benchmark ----------------------------------------------------------------------------


def _map_api(base: str, cookie: str, repeats: int, app: Any) -> dict[str, Any]:
    cold, warm = [], []
    size = gz = facilities = 0
    with httpx.Client(base_url=base, timeout=600, cookies={"pb_console": cookie}) as http:
        for _ in range(repeats):
            app.state.console.forget_map()  # uncached: the SQL aggregate runs again
            t = time.perf_counter()
            resp = http.get("/console/api/map")
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            resp = http.get("/console/api/map")
            warm.append(time.perf_counter() - t)
            size = len(resp.content)
            gz = int(resp.num_bytes_downloaded)  # what came over the wire (gzip)
            facilities = len(resp.json()["facilities"])
    return {
        "map_api_uncached_s_median": round(statistics.median(cold), 3),
        "map_api_cached_s_median": round(statistics.median(warm), 4),
        "map_api_bytes": size,
        "map_api_wire_bytes": gz,
        "map_api_facilities": facilities,
    }


def _time_to_interactive(
    base: str, cookie: str, repeats: int, screenshot: Path | None = None
) -> dict[str, Any]:
    out = []
    with browser() as b:
        for _ in range(repeats):
            ctx = b.new_context(viewport={"width": 1280, "height": 800})
            ctx.add_cookies([{"name": "pb_console", "value": cookie, "url": base}])
            page = ctx.new_page()
            page.goto(f"{base}/console/")
            page.wait_for_selector("body[data-map-ready='1']", timeout=120_000)
            out.append(page.evaluate("performance.now()") / 1000)
            if screenshot is not None:
                screenshot.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot / "map-clusters.png"))
            ctx.close()
    return {"map_page_interactive_s_median": round(statistics.median(out), 3), "runs": repeats}


def _delivery(chips: int, repeats: int) -> dict[str, Any]:
    """K-th signature to the pause page showing 100 %: one server, one fleet, a global
    pause order per repetition (a resume would need a log proof per chip)."""
    from pausebutton.authority.client import AuthorityClient
    from pausebutton.authority.demo import demo_world
    from pausebutton.console import create_console_app
    from pausebutton.sim.server import serve

    world = demo_world(seed=b"bench-console")
    tmp = Path(tempfile.mkdtemp(prefix="pb-bench-console-"))
    delays: list[float] = []
    fleet_delays: list[float] = []
    try:
        settings = world.settings(f"sqlite:///{tmp / 'authority.db'}", checkpoint_interval=0.2)
        with serve(create_console_app(settings)) as base:
            admin = AuthorityClient(base, world.admin)
            admin.post("/v1/owners", {"id": "acme", "name": "Acme", "country": "NL"})
            admin.post(
                "/v1/facilities",
                {"id": "ams", "name": "AMS", "country": "NL", "latitude": 52.37, "longitude": 4.9},
            )
            fleet = Fleet(base, world.admin)
            fleet.create(
                chips,
                root=world.root_bytes,
                vendor_key=world.keys.key("vendor"),
                owner_id="acme",
                facility_id="ams",
                region="NL",
            )
            fleet.start()
            cookie = sign_in(base, world.member(0))
            try:
                with browser() as b:
                    ctx = b.new_context()
                    ctx.add_cookies([{"name": "pb_console", "value": cookie, "url": base}])
                    page = ctx.new_page()
                    page.goto(f"{base}/console/pause")
                    page.wait_for_selector(".live.ok", timeout=30_000)
                    for _ in range(repeats):
                        # the authority dates reports and orders in whole seconds: a report
                        # in the second before an order must not count as holding it
                        time.sleep(1.1)
                        body = {"kind": "pause", "scope": {"kind": "global"}, "reason": "bench"}
                        t_k = _sign_k(admin, world, body)
                        seq = _newest_order(admin)
                        page.wait_for_selector(f"article[data-order='{seq}'] .took", timeout=60_000)
                        delays.append(time.perf_counter() - t_k)
                        until = time.monotonic() + 30
                        while seq not in fleet.reported and time.monotonic() < until:
                            time.sleep(0.005)  # the fleet's thread records it after its post
                        fleet_delays.append(fleet.reported[seq] - t_k)
                    ctx.close()
            finally:
                fleet.stop()
                admin.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "delivery_chips": chips,
        "kth_signature_to_page_100pct_s_median": round(statistics.median(delays), 3),
        "kth_signature_to_page_100pct_s_max": round(max(delays), 3),
        "kth_signature_to_fleet_reported_s_median": round(statistics.median(fleet_delays), 3),
        "delivery_orders": repeats,
    }


def _sign_k(admin: Any, world: Any, body: dict[str, Any]) -> float:
    prop = admin.with_key(world.member(0)).post("/v1/orders/proposals", body)
    si = bytes.fromhex(prop["signing_input"])
    k = world.root.role("pause").threshold
    t_k = 0.0
    for i in range(k):
        key = world.member(i)
        if i == k - 1:
            t_k = time.perf_counter()
        admin.with_key(key).post(
            f"/v1/orders/proposals/{prop['id']}/signatures",
            {"key_id": key.key_id.hex(), "sig": key.sign(si).hex()},
        )
    return t_k


def _newest_order(admin: Any) -> int:
    orders = admin.get("/v1/orders")
    return int(max(o["sequence"] for o in orders))


def run(
    *,
    quick: bool = False,
    facilities: int | None = None,
    chips: int | None = None,
    fleet: int | None = None,
    screenshot: str | None = None,
) -> dict[str, Any]:
    """``screenshot``: a folder to save the map page in (``map-clusters.png``)."""
    from pausebutton.authority.demo import demo_world
    from pausebutton.console import create_console_app
    from pausebutton.sim.server import serve

    facilities = facilities or (200 if quick else 10_000)
    chips = chips or (5_000 if quick else 1_000_000)
    fleet = fleet or (5 if quick else 50)
    repeats = 2 if quick else 5
    world = demo_world(seed=b"bench-console-map")
    tmp = Path(tempfile.mkdtemp(prefix="pb-bench-console-"))
    try:
        url = f"sqlite:///{tmp / 'authority.db'}"
        loaded = bulk_registry(url, facilities, chips)
        settings = world.settings(url, location_interval=0)
        app = create_console_app(settings)
        with serve(app) as base:
            cookie = sign_in(base, world.admin)
            result: dict[str, Any] = {"registry": loaded}
            result.update(_map_api(base, cookie, repeats, app))
            shot = Path(screenshot) if screenshot else None
            result.update(_time_to_interactive(base, cookie, max(1, repeats // 2), shot))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.update(_delivery(fleet, repeats))
    return result
