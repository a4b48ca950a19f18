"""Two stateless API workers on one database under concurrent load, and kill -9 safety."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pausebutton import errors

NOW = int(time.time())
DAY = 86400


def apply_one(op: Any, chip_ids: list[str], run: str) -> list[int]:
    r = op.post(
        "/v1/licenses/applications",
        {
            "chips": chip_ids,
            "flop_budget": "1e18",
            "not_before": NOW,
            "not_after": NOW + DAY,
            "run_id": run,
            "purpose": "load",
        },
    )
    assert r["status"] == "issued", r
    return list(r["license_ids"])


def sign_concurrently(api: Any, proposal: dict[str, Any], pool: ThreadPoolExecutor) -> list[Any]:
    si = bytes.fromhex(proposal["signing_input"])

    def sign(i: int) -> Any:
        k = api.world.member(i)
        return api.member(i).post(
            f"/v1/orders/proposals/{proposal['id']}/signatures",
            {"key_id": k.key_id.hex(), "sig": k.sign(si).hex()},
        )

    return list(pool.map(sign, range(5)))


@pytest.mark.slow
def test_two_workers_under_concurrent_load(
    deployment: Any, db_url: str, server_factory: Any, remote_factory: Any
) -> None:
    server = server_factory(deployment.directory, db_url, deployment.admin_pub, workers=2)
    api = remote_factory(server, deployment.world)
    workers: set[int] = set()
    for _ in range(400):  # new connections until both worker processes have answered
        workers.add(httpx.get(server.url + "/healthz").json()["worker"])
        if len(workers) == 2:
            break
    op = api.owner()
    api.facility()
    chips = api.chips(12)
    reports = {c.chip_id: [c.report(time=NOW + i) for i in range(12)] for c in chips}
    batches = []
    for chip_reports in reports.values():
        for i in range(0, 12, 3):
            batches.append(chip_reports[i : i + 3])
    random.Random(1).shuffle(batches)  # some batches arrive before their predecessors
    with ThreadPoolExecutor(16) as pool:
        lic_jobs = [
            pool.submit(
                apply_one, op, [chips[i % 12].chip_id, chips[(i + 1) % 12].chip_id], f"r{i}"
            )
            for i in range(30)
        ]
        rep_jobs = [pool.submit(op.submit_reports, b) for b in batches]
        proposals = [
            api.member(0).post(
                "/v1/orders/proposals",
                {
                    "kind": "pause",
                    "scope": {"kind": "owner", "owners": [f"o{i}"]},
                    "reason": f"quorum {i}",
                },
            )
            for i in range(4)
        ]
        sig_jobs = [pool.submit(sign_concurrently, api, p, pool) for p in proposals[:1]]
        sig_results = [sign_concurrently(api, p, pool) for p in proposals[1:]]
        issued = [lid for j in lic_jobs for lid in j.result()]
        acks = [j.result() for j in rep_jobs]
        sig_results += [j.result() for j in sig_jobs]
    # no duplicate licence ids; every issued id is stored once
    assert len(issued) == len(set(issued)) == 60
    stored = api.admin.get("/v1/licenses")
    assert sorted(r["license_id"] for r in stored) == sorted(issued)
    per_chip: dict[str, list[int]] = {}
    for r in stored:
        per_chip.setdefault(r["chip_id"], []).append(r["license_id"])
    # no lost reports: every acknowledged report is stored, none rejected
    assert all(a["rejected"] == [] for a in acks)
    assert sum(a["accepted"] for a in acks) == 12 * 12
    for c in chips:
        got = api.admin.get(f"/v1/chips/{c.chip_id}/reports")
        assert [r["sequence"] for r in got] == list(range(1, 13))
        assert api.admin.get(f"/v1/chips/{c.chip_id}")["last_report_sequence"] == 12
    # one assembled order per quorum
    orders = api.admin.get("/v1/orders")
    assert len(orders) == 4 and len({o["proposal_id"] for o in orders}) == 4
    for results in sig_results:
        assert sum(1 for r in results if r["assembled_now"]) == 1
    log = api.admin.get("/v1/audit/log")
    kinds = [e["kind"] for e in log["entries"]]
    assert kinds.count("pause-order") == 4 and kinds.count("license") == 60
    assert [e["index"] for e in log["entries"]] == list(range(len(kinds)))
    assert len(workers) == 2, "both workers should have answered"


def _hammer_reports(op: Any, chips: list[Any], acked: list[bytes], stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        batch = [c.report(time=NOW + i) for c in chips]
        i += 1
        try:
            res = op.submit_reports(batch)
        except (errors.ServiceError, errors.PausebuttonError):
            return
        assert res["rejected"] == []
        acked.extend(batch)


@pytest.mark.slow
def test_kill_9_during_ingestion_and_assembly_loses_nothing(
    deployment: Any, db_url: str, server_factory: Any, remote_factory: Any
) -> None:
    server = server_factory(deployment.directory, db_url, deployment.admin_pub)
    api = remote_factory(server, deployment.world)
    op = api.owner()
    api.facility()
    chips = api.chips(20)
    proposals = [
        api.member(0).post(
            "/v1/orders/proposals",
            {
                "kind": "pause",
                "scope": {"kind": "owner", "owners": [f"x{i}"]},
                "reason": f"crash {i}",
            },
        )
        for i in range(8)
    ]
    for p in proposals:  # two of three signatures in advance
        si = bytes.fromhex(p["signing_input"])
        for i in range(2):
            k = deployment.world.member(i)
            api.member(i).post(
                f"/v1/orders/proposals/{p['id']}/signatures",
                {"key_id": k.key_id.hex(), "sig": k.sign(si).hex()},
            )
    acked: list[bytes] = []
    issued: list[int] = []
    stop = threading.Event()
    t = threading.Thread(target=_hammer_reports, args=(op, chips, acked, stop))
    t.start()

    def licences() -> None:
        n = 0
        while not stop.is_set():
            try:
                issued.extend(apply_one(op, [chips[n % 20].chip_id], f"crash-{n}"))
            except errors.PausebuttonError:
                return
            n += 1

    def third_signatures() -> None:
        k = deployment.world.member(2)
        for p in proposals:
            si = bytes.fromhex(p["signing_input"])
            try:
                api.member(2).post(
                    f"/v1/orders/proposals/{p['id']}/signatures",
                    {"key_id": k.key_id.hex(), "sig": k.sign(si).hex()},
                )
            except errors.PausebuttonError:
                return

    t2 = threading.Thread(target=licences)
    t3 = threading.Thread(target=third_signatures)
    t2.start()
    time.sleep(1.0)
    t3.start()
    time.sleep(0.05)
    server.stop(kill=True)  # kill -9 mid-flight
    stop.set()
    for th in (t, t2, t3):
        th.join(60)
    assert acked, "some reports should have been acknowledged before the kill"
    server2 = server_factory(deployment.directory, db_url, deployment.admin_pub)
    api2 = remote_factory(server2, deployment.world)
    # nothing acknowledged is lost
    by_chip: dict[str, int] = {}
    for c in chips:
        seqs = [r["sequence"] for r in api2.admin.get(f"/v1/chips/{c.chip_id}/reports")]
        assert seqs == list(range(1, len(seqs) + 1))  # a gap-free chain
        by_chip[c.chip_id] = len(seqs)
    assert sum(by_chip.values()) >= len(acked)
    # no duplicate licences; every acknowledged licence is stored
    stored = [r["license_id"] for r in api2.admin.get("/v1/licenses")]
    assert len(stored) == len(set(stored)) and set(issued) <= set(stored)
    # no half-assembled order: each proposal is open without an order or assembled with one
    orders = {o["proposal_id"]: o for o in api2.admin.get("/v1/orders")}
    for p in api2.admin.get("/v1/orders/proposals"):
        assert (p["status"] == "assembled") == (p["id"] in orders)
    kinds = [e["kind"] for e in api2.admin.get("/v1/audit/log", end=10_000)["entries"]]
    assert kinds.count("pause-order") == len(orders)
    # the ones not assembled before the kill can still be completed once
    k = deployment.world.member(2)
    for p in proposals:
        si = bytes.fromhex(p["signing_input"])
        api2.member(2).post(
            f"/v1/orders/proposals/{p['id']}/signatures",
            {"key_id": k.key_id.hex(), "sig": k.sign(si).hex()},
        )
    assert len(api2.admin.get("/v1/orders")) == 8


def test_sse_stream_delivers_orders_pushed_from_another_worker(
    deployment: Any, db_url: str, server_factory: Any, remote_factory: Any
) -> None:
    server = server_factory(deployment.directory, db_url, deployment.admin_pub, workers=2)
    api = remote_factory(server, deployment.world)
    got: list[dict[str, Any]] = []
    errs: list[BaseException] = []

    def follow() -> None:
        try:
            with httpx.Client(timeout=None) as http:
                from pausebutton.authority.client import AuthorityClient

                client = AuthorityClient(server.url, None, http=http)
                for order in client.stream(after=0):
                    got.append(order)
                    if len(got) == 2:
                        return
        except BaseException as exc:  # noqa: BLE001 - reported below
            errs.append(exc)

    th = threading.Thread(target=follow, daemon=True)
    th.start()
    time.sleep(0.5)
    api.pause()
    first = time.monotonic()
    api.pause({"kind": "region", "regions": ["FR"]})
    th.join(30)
    assert errs == [] and not th.is_alive()
    assert [o["kind"] for o in got] == ["pause", "pause"]
    assert got[1]["scope"]["regions"] == ["FR"]
    assert time.monotonic() - first < 10


def test_workers_starting_together_both_come_up(world: Any, db_url: str) -> None:
    """Two workers start on one database: both look for the admin key, find none,
    and insert it; the second insert conflicts. That worker must still start."""
    import contextlib

    from sqlalchemy import false, select

    from pausebutton.authority import tables
    from pausebutton.authority.db import Database, migrate
    from pausebutton.authority.services import Authority

    settings = world.settings(db_url)
    raw = settings.admin_keys[0]
    first_db, second_db = Database.connect(db_url), Database.connect(db_url)
    migrate(first_db)
    first = Authority(first_db, settings.trust_root(), settings.licensing_key)
    second = Authority(second_db, settings.trust_root(), settings.licensing_key)

    class LooksBeforeTheOtherInserts:
        """The second worker's connection: its look for the key ran before the first
        worker's insert, so it finds nothing."""

        def __init__(self, conn: Any) -> None:
            self.conn, self.looked = conn, False

        def execute(self, statement: Any, *args: Any, **kw: Any) -> Any:
            if not self.looked:
                self.looked = True
                return self.conn.execute(select(tables.api_keys.c.key_id).where(false()))
            return self.conn.execute(statement, *args, **kw)

    real_write = second.store.write

    @contextlib.contextmanager
    def racing_write() -> Any:
        with real_write() as conn:
            yield LooksBeforeTheOtherInserts(conn)

    second.store.write = racing_write  # type: ignore[method-assign]
    kid = first.keys.bootstrap_admin(raw)
    assert second.keys.bootstrap_admin(raw) == kid
    keys = [k for k in first.keys.list_keys() if k.key_id == kid]
    assert len(keys) == 1 and keys[0].role == "admin"
    first_db.dispose()
    second_db.dispose()


@pytest.mark.slow
def test_two_workers_report_one_coherent_metrics_set(
    deployment: Any, db_url: str, server_factory: Any
) -> None:
    """Counters are kept over all workers: whichever worker answers /metrics, it counts
    what every worker did (not only its own share)."""
    from pausebutton.authority.client import AuthorityClient

    server = server_factory(deployment.directory, db_url, deployment.admin_pub, workers=2)
    world = deployment.world
    answered: set[int] = set()
    refused = 0
    for _ in range(400):  # new connections until both workers have refused some requests
        answered.add(httpx.get(server.url + "/healthz").json()["worker"])
        assert httpx.post(server.url + "/v1/owners", json={}).status_code == 401
        refused += 1
        if len(answered) == 2 and refused >= 10:
            break
    assert len(answered) == 2, "both workers should have answered"
    for i in range(6):  # a fresh connection each: spread over the workers
        with httpx.Client(timeout=60) as http:
            AuthorityClient(server.url, world.admin, http=http).post(
                "/v1/owners", {"id": f"o{i}", "name": f"O{i}", "country": "US"}
            )
    for _ in range(20):
        text = httpx.get(server.url + "/metrics").text
        lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
        assert float(lines["pausebutton_authority_auth_401_total"]) == refused
        assert float(lines["pausebutton_authority_owners"]) == 6
        assert float(lines["pausebutton_authority_order_waiters"]) == 0
        assert (
            float(lines['pausebutton_authority_background_failures_total{loop="order_feed"}']) == 0
        )
    # the workers' metric files live in a private directory under DIR while serving,
    # removed when the server stops
    assert len(list(deployment.directory.glob("metrics-*"))) == 1
    server.stop()
    assert list(deployment.directory.glob("metrics-*")) == []
