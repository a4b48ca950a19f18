"""Benchmark of the authority over real HTTP (a served ``authority serve`` process).

Figures, all measured in one run against one server on SQLite (or the empty database
``db_url`` names, e.g. PostgreSQL), with ``workers`` API processes:

- ``ingest_reports_per_s``: signed usage reports verified and stored durably per
  second, posted in batches through HTTP, beside ``ed25519_verify_per_s``, the raw
  single-thread Ed25519 verify rate of the same backend in the same run, and
  ``ed25519_verify_all_cores_per_s``, the same verify loop in one process per core at
  once (``ingest_vs_raw_verify`` and ``ingest_vs_raw_verify_all_cores`` are the ratios);
- ``ingest_cpu_us_per_report``: the CPU of one report ingested in this process (no
  HTTP, batches of one report per chip), split into ``ingest_cpu_decode_us``,
  ``ingest_cpu_verify_us`` (the raw verify) and ``ingest_cpu_rest_us``, and
  ``ingest_cpu_vs_verify`` (the raw verify's share: 1.0 would be ingestion at the
  verify's cost);
- the timed ingestion follows two untimed rounds of reports, one per registered chip
  each (every worker has then read the chips' keys: the figure is a running server's);
- ``ingest_idle_cpu_share``: the machine's idle CPU share while the batches were sent
  (eight agents, each a batch of chips, queue for four connections, which the server's
  workers share as the kernel handed them out), ``ingest_client_cores``, this
  client's CPU in cores, and ``ingest_server_cpu_us_per_report``, the CPU the server's
  processes spent per report ingested (HTTP, decoding, verifying, writing, their
  background loops: beside the in-process figure below);
- with ``scaling`` (a list of worker counts): the ingestion alone against a fresh server
  with each count of API worker processes pinned to ``min(w, cpus)`` cores, in the
  same run, and each count's scaling efficiency, ``rate(w) / (rate(1) * min(w, cpus))``;
- ``pause_p50_s`` / ``pause_p99_s`` / ``pause_max_s``: time from the K-th member
  signature being sent to each of ``pause_chips`` simulated chips (asyncio
  connections long-polling ``/v1/orders/watch``) holding the assembled order;
- ``license_p50_ms`` / ``license_p99_ms``: latency of licence issuance (apply,
  policy, per-chip signing, log append, commit) under 50 concurrent clients, and
  ``license_per_s``, licence applications decided and issued per second;
- ``deadlock_retries``: write transactions the server ran again after a deadlock or a
  serialization failure during the whole run (``/metrics``, summed over workers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import io
import json
import os
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from pausebutton import keystore
from pausebutton.authority.auth import sign_request
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.db import is_sqlite, normalise_url
from pausebutton.authority.demo import DemoWorld, demo_world
from pausebutton.bench import phase
from pausebutton.errors import ServiceError, UsageError
from pausebutton.fsutil import child_env, usable_cores
from pausebutton.issuing.keydir import write_authority_dir
from pausebutton.protocol.envelope import Envelope

DAY = 86400


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(
    world: DemoWorld,
    base: Path,
    workers: int = 1,
    db_url: str | None = None,
    cores: set[int] | None = None,
) -> Iterator[tuple[str, int]]:
    """A served ``authority serve`` (its workers pinned to ``cores`` if given): its URL
    and its session (the server and its workers, for ``_session_cpu``)."""
    directory = base / "authority"
    write_authority_dir(directory, world.keys, world.root_bytes)
    admin_pub = base / "admin.pub"
    keystore.write_public_key(admin_pub, world.admin.public)
    port = _free_port()
    env = child_env()
    log = base / "server.log"
    pin: list[str] = []
    if cores is not None:  # set before the server runs anything: every worker inherits it
        taskset = shutil.which("taskset")
        if taskset is None:
            raise UsageError("pinning the server to cores needs taskset (util-linux)")
        pin = [taskset, "--cpu-list", ",".join(map(str, sorted(cores)))]
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [
                *pin,
                sys.executable,
                "-m",
                "pausebutton",
                "authority",
                "serve",
                str(directory),
                "--port",
                str(port),
                "--admin-key",
                str(admin_pub),
                "--write-rate",
                "1e9",
                "--log-level",
                "error",
                "--workers",
                str(workers),
                *(["--db", db_url] if db_url else []),
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60 + 30 * workers  # each worker imports the app
        while True:
            if proc.poll() is not None:
                raise ServiceError(f"authority server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceError("authority server did not start")
            time.sleep(0.2)
        yield url, proc.pid  # start_new_session: the session id is the server's pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


def _setup(admin: AuthorityClient, world: DemoWorld, chips: int) -> list[Any]:
    admin.post("/v1/owners", {"id": "bench", "name": "Bench Ltd", "country": "US"})
    op = world.operator_key("bench")
    admin.post(
        "/v1/keys",
        {
            "public_key": op.public.raw.hex(),
            "role": "operator",
            "name": "bench-ops",
            "owner_id": "bench",
        },
    )
    admin.post(
        "/v1/facilities",
        {
            "id": "dc-bench",
            "name": "Bench DC",
            "country": "US",
            "verified": True,
            "power_mw": 100.0,
        },
    )
    made = [world.make_chip() for _ in range(chips)]
    for start in range(0, chips, 2000):  # parts well under the server's largest body
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["certificate", "owner_id", "facility_id"])
        for c in made[start : start + 2000]:
            w.writerow([base64.b64encode(c.certificate).decode(), "bench", "dc-bench"])
        admin.request(
            "POST",
            "/v1/registry/chips.csv",
            content=buf.getvalue().encode(),
            content_type="text/csv",
            timeout=600,
        )
    return made


def _measure_verify(chips: list[Any], samples: list[bytes], seconds: float) -> float:
    """Single-thread PyNaCl Ed25519 verifies per second over real report envelopes."""
    keys = {c.key.key_id: c.key.public for c in chips}
    prepared = []
    for data in samples:
        env = Envelope.decode(data)
        sig = env.signatures[0]
        prepared.append((keys[sig.key_id], env.signing_input(), sig.sig))
    n = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        for pub, msg, raw in prepared:
            pub.verify(msg, raw)
        n += len(prepared)
    return n / (time.perf_counter() - start)


def _verify_loop(prepared: list[tuple[bytes, bytes, bytes]], seconds: float) -> float:
    """Verifies per second in this process (a child of ``_measure_verify_all_cores``)."""
    from pausebutton.protocol.keys import PublicKey

    keys = {raw: PublicKey.from_bytes(raw) for raw, _, _ in prepared}
    work = [(keys[raw], msg, sig) for raw, msg, sig in prepared]
    n = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        for pub, msg, sig in work:
            pub.verify(msg, sig)
        n += len(work)
    return n / (time.perf_counter() - start)


def _measure_verify_all_cores(chips: list[Any], samples: list[bytes], seconds: float) -> float:
    """The same verify loop in one process per core, all at once: the machine's raw
    Ed25519 verify rate (the sum of the processes' rates)."""
    import concurrent.futures
    import multiprocessing

    keys = {c.key.key_id: c.key.public.raw for c in chips}
    prepared = []
    for data in samples:
        env = Envelope.decode(data)
        sig = env.signatures[0]
        prepared.append((keys[sig.key_id], env.signing_input(), sig.sig))
    cpus = usable_cores()
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(cpus, mp_context=ctx) as pool:
        list(pool.map(_verify_loop, [prepared[:10]] * cpus, [0.05] * cpus))  # started
        return sum(pool.map(_verify_loop, [prepared] * cpus, [seconds] * cpus))


def _ingest_cpu(world: DemoWorld, n_chips: int, rounds: int) -> dict[str, Any]:
    """CPU of one usage report ingested in this process (``ReportService.ingest`` on a
    fresh SQLite database, batches of one report per chip, no HTTP), split into its
    parts, each the minimum over ``rounds`` interleaved rounds: decoding alone
    (``decode_as``), the raw Ed25519 verify alone (PyNaCl, as ``_measure_verify``), and
    the rest of ``ingest`` (key and chain lookups, classification, the write and commit,
    the handoffs to the helper processes). CPU is this process's, all threads together,
    plus its signature-checking helpers' (``authority/verifier.py``)."""
    from pausebutton.authority.db import Database, migrate
    from pausebutton.authority.services import ADMIN, Authority, Caller

    caller = Caller("bench", ADMIN, "bench")
    # chips of their own (indices past the ones served over HTTP), registered here
    first = len(world.chips) + 1_000_000
    chips = [world.make_chip(index=first + i) for i in range(n_chips)]
    keys = {c.key.key_id: c.key.public for c in chips}
    totals: list[float] = []
    decodes: list[float] = []
    verifies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pb-bench-ingest-cpu-") as tmp:
        db = Database.connect(f"sqlite:///{tmp}/authority.db")
        try:
            migrate(db)
            authority = Authority(db, world.root, world.keys.key("licensing"))
            with contextlib.closing(authority):
                _ingest_cpu_rounds(
                    authority, caller, chips, keys, rounds, (totals, decodes, verifies)
                )
        finally:
            db.dispose()

    def us(seconds: float) -> float:
        return round(seconds / n_chips * 1e6, 1)

    total, decode, verify = min(totals), min(decodes), min(verifies)
    return {
        "ingest_cpu_us_per_report": us(total),
        "ingest_cpu_decode_us": us(decode),
        "ingest_cpu_verify_us": us(verify),
        "ingest_cpu_rest_us": us(total - decode - verify),
        "ingest_cpu_vs_verify": round(verify / total, 3),
    }


def _ingest_cpu_rounds(
    authority: Any,
    caller: Any,
    chips: list[Any],
    keys: dict[bytes, Any],
    rounds: int,
    into: tuple[list[float], list[float], list[float]],
) -> None:
    """``_ingest_cpu``'s rounds: each one's CPU of ingesting, decoding and verifying
    appended to ``into``."""
    from pausebutton.authority.csvio import import_csv
    from pausebutton.authority.services.reports import MAX_REPORT_SIZE
    from pausebutton.protocol.envelope import decode_as
    from pausebutton.protocol.messages import UsageReport

    totals, decodes, verifies = into
    authority.reports.warm_up()  # the helper processes start outside the timed calls

    def cpu() -> float:
        helpers = sum(_process_cpu(pid) for pid in authority.verifiers.pids())
        return time.process_time() + helpers

    import_csv(authority, caller, "owners", "id,name,country\nbench,Bench Ltd,US\n")
    rows = "".join(f"{base64.b64encode(c.certificate).decode()},bench\n" for c in chips)
    import_csv(authority, caller, "chips", "certificate,owner_id\n" + rows)
    now = int(time.time())
    for r in range(rounds):
        batch = [c.report(time=now + r) for c in chips]
        t0 = time.process_time()
        envs = [decode_as(d, UsageReport, max_size=MAX_REPORT_SIZE)[0] for d in batch]
        decodes.append(time.process_time() - t0)
        checks = [
            (keys[e.signatures[0].key_id], e.signing_input(), e.signatures[0].sig) for e in envs
        ]
        t0 = time.process_time()
        for pub, msg, sig in checks:
            pub.verify(msg, sig)
        verifies.append(time.process_time() - t0)
        t0 = cpu()
        out = authority.reports.ingest(caller, batch)
        totals.append(cpu() - t0)
        if out.accepted != len(batch):
            raise ServiceError(f"in-process ingestion refused reports: {out.rejected[:3]}")


def _process_cpu(pid: int) -> float:
    """CPU seconds of process ``pid``'s main thread so far (a helper process has one
    thread): to the nanosecond from Linux's ``/proc/<pid>/schedstat``, else to the clock
    tick from ``/proc/<pid>/stat``; ServiceError where neither can be read."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError) as exc:
        raise ServiceError(f"the CPU of verifier process {pid} cannot be read: {exc}") from exc


def _cpu_times() -> tuple[int, int] | None:
    """(all, idle) clock ticks of the machine so far (Linux ``/proc/stat``), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(ticks), ticks[3] + ticks[4]  # idle + iowait


def _warm_ingest(url: str, world: DemoWorld, chips: list[Any], clients: int) -> None:
    """Two untimed rounds of reports (one per chip each) in small batches over ``clients``
    connections, so that the timed ingestion measures a running server: each worker has
    read the chips' device keys once and SQLite's pages are in memory."""
    out = _ingest(url, world, chips, 2 * len(chips), batch=250, clients=clients)
    if out["ingest_errors"] or out["ingest_accepted"] != out["ingest_reports"]:
        raise ServiceError(f"the warm-up ingestion failed: {out['ingest_errors']}")


def _session(sid: int) -> dict[int, list[str]] | None:
    """The live processes of session ``sid``, each with its ``/proc/<pid>/stat`` fields
    after the name (state, ppid, pgrp, session, ...), or None where there is no ``/proc``."""
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == sid:
            out[pid] = fields
    return out


def _session_cpu(sid: int) -> float | None:
    """CPU seconds (user + system, all threads) of the live processes of session ``sid``
    so far, or None where there is no ``/proc``."""
    procs = _session(sid)
    if procs is None:
        return None
    ticks = sum(int(f[11]) + int(f[12]) for f in procs.values())  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _session_cores(sid: int) -> int | None:
    """How many cores the processes of session ``sid`` may run on (their CPU sets
    together): what a pinned server really got, not what was asked."""
    procs = _session(sid)
    if procs is None:
        return None
    cores: set[int] = set()
    for pid in procs:
        with contextlib.suppress(OSError):
            cores |= os.sched_getaffinity(pid)
    return len(cores)


def _ingest(
    url: str,
    world: DemoWorld,
    chips: list[Any],
    total: int,
    batch: int,
    clients: int,
    sid: int | None = None,
) -> dict[str, Any]:
    """Signed usage reports posted over ``clients`` keep-alive connections by agents,
    each owning ``batch`` of the chips (a data centre's node agent): an agent's batch is
    one report of each of its chips, and its batches go out in order, one at a time, at
    least ``total`` reports in all. Agents wait in one queue and each connection sends
    the next agent's batch as soon as its answer is back, as a fleet's agents send when
    they are ready: the server's workers keep the connections the kernel gave them, and
    a worker holding faster connections gets more of the batches instead of idling while
    another's queue drains. Besides the rate: the machine's idle CPU share and this
    client's CPU (in cores) while the batches were sent."""
    op = world.operator_key("bench")
    rounds = -(-total // len(chips))
    now = int(time.time())
    agents: queue.SimpleQueue[list[list[bytes]]] = queue.SimpleQueue()
    n_reports = 0
    samples: list[bytes] = []
    for a in range(0, len(chips), batch):
        mine = chips[a : a + batch]
        batches = [[c.report(time=now + r) for c in mine] for r in range(rounds)]
        n_reports += sum(len(b) for b in batches)
        samples.extend(batches[0][: 500 - len(samples)])
        agents.put(batches[::-1])  # popped from the end: round 0 first
    accepted = [0] * clients
    errors: list[str] = []

    def worker(t: int) -> None:
        with httpx.Client(timeout=300) as http:
            c = AuthorityClient(url, op, http=http)
            while not errors:
                try:
                    left = agents.get_nowait()
                except queue.Empty:
                    return
                try:
                    r = c.submit_reports(left.pop())
                except Exception as exc:  # noqa: BLE001 - reported in the figures
                    errors.append(str(exc))
                    return
                accepted[t] += r["accepted"]
                if left:
                    agents.put(left)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(clients)]
    server0 = None if sid is None else _session_cpu(sid)
    machine0, cpu0 = _cpu_times(), time.process_time()
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    machine1, cpu1 = _cpu_times(), time.process_time()
    server1 = None if sid is None else _session_cpu(sid)
    server_us = None
    done = sum(accepted)
    if server0 is not None and server1 is not None and done > 0:
        server_us = round((server1 - server0) / done * 1e6, 1)
    idle = None
    if machine0 is not None and machine1 is not None and machine1[0] > machine0[0]:
        idle = round((machine1[1] - machine0[1]) / (machine1[0] - machine0[0]), 3)
    return {
        "ingest_reports": n_reports,
        "ingest_accepted": done,
        "ingest_batch": batch,
        "ingest_clients": clients,
        "ingest_seconds": round(elapsed, 3),
        "ingest_reports_per_s": round(done / elapsed, 1),
        "ingest_idle_cpu_share": idle,
        "ingest_client_cores": round((cpu1 - cpu0) / elapsed, 3),
        "ingest_server_cpu_us_per_report": server_us,
        "ingest_errors": errors[:3],
        "_samples": samples,
    }


async def _licences(
    url: str, world: DemoWorld, chips: list[Any], clients: int, per_client: int
) -> dict[str, Any]:
    """Licence applications from ``clients`` concurrent clients, each sending its
    ``per_client`` applications one after another on one keep-alive connection.

    The requests are signed and encoded before the clock starts, and each client is a
    plain HTTP/1.1 exchange on an asyncio stream (as the pause phase's chips are): the
    figure is the server's latency, and the client takes little of the machine's CPU
    from the server it measures. Every answer is still read whole and checked: 201, a
    JSON body, status "issued". Before the clock starts each client sends one more
    application, all at once (the server's first use of the route and of its
    connections); that round is checked the same way and its slowest answer reported
    apart (``license_warmup_max_ms``), not mixed into the percentiles."""
    op = world.operator_key("bench")
    latencies: list[float] = []
    failures: list[str] = []
    now = int(time.time())
    path = "/v1/licenses/applications"
    target = url + path
    host, port = url.split("//")[1].split(":")
    prepared: list[list[bytes]] = []
    for i in range(clients):
        mine = []
        for j in range(-1, per_client):  # -1: the warm-up application
            chip = chips[(i * per_client + j) % len(chips)]
            body = json.dumps(
                {
                    "chips": [chip.chip_id],
                    "flop_budget": "1e18",
                    "not_before": now,
                    "not_after": now + DAY,
                    "run_id": f"bench-{i}-{j}",
                    "purpose": "bench",
                }
            ).encode()
            headers = {"content-type": "application/json"}
            headers.update(sign_request("POST", target, headers, body, op))
            head = f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items()
            )
            mine.append(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body)
        prepared.append(mine)

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> tuple[int, bytes]:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = next(
            (int(ln[15:]) for ln in lines if ln.lower().startswith(b"content-length:")), None
        )
        if length is None:
            raise ServiceError(f"answer without content-length: {head[:200]!r}")
        return status, await reader.readexactly(length)

    warmup: list[float] = []
    warm = asyncio.Barrier(clients + 1)

    async def client(i: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for n, request in enumerate(prepared[i]):
                if n == 1:  # the warm-up round is over for every client
                    await warm.wait()
                    await warm.wait()  # the clock has started
                t0 = time.perf_counter()
                try:
                    status, body = await exchange(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ServiceError, ValueError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                (latencies if n else warmup).append(time.perf_counter() - t0)
                if status != 201 or json.loads(body).get("status") != "issued":
                    failures.append(f"{status} {body[:200]!r}")
        finally:
            writer.close()

    started: list[float] = []

    async def clock() -> None:
        await warm.wait()
        started.append(time.perf_counter())
        await warm.wait()

    await asyncio.wait_for(asyncio.gather(clock(), *(client(i) for i in range(clients))), 600)
    elapsed = time.perf_counter() - started[0]
    latencies.sort()
    return {
        "license_clients": clients,
        "license_requests": len(latencies),
        "license_failures": len(failures),
        "license_failure_examples": failures[:3],
        "license_p50_ms": round(1000 * statistics.median(latencies), 1),
        "license_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
        "license_per_s": round(len(latencies) / elapsed, 1),
        "license_warmup_max_ms": round(1000 * max(warmup), 1) if warmup else None,
    }


async def _pause(url: str, world: DemoWorld, n: int) -> dict[str, Any]:
    host, port = url.split("//")[1].split(":")
    request = (
        f"GET /v1/orders/watch?after=0&timeout=300 HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    held: list[float] = [0.0] * n
    bodies: list[bytes] = [b""] * n
    sem = asyncio.Semaphore(256)
    connected = 0

    async def chip(i: int) -> None:
        nonlocal connected
        async with sem:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(request)
            await writer.drain()
        connected += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        held[i] = time.perf_counter()
        bodies[i] = body
        writer.close()

    tasks = [asyncio.create_task(chip(i)) for i in range(n)]
    loop = asyncio.get_running_loop()

    def waiters() -> int:
        """Chips waiting, over all workers (one /metrics answer sums them)."""
        text = httpx.get(url + "/metrics", timeout=30).text
        for line in text.splitlines():
            if line.startswith("pausebutton_authority_order_waiters "):
                return int(float(line.rsplit(" ", 1)[1]))
        raise ServiceError("/metrics has no pausebutton_authority_order_waiters")

    deadline = time.monotonic() + 300
    while (await loop.run_in_executor(None, waiters)) < n:
        if time.monotonic() > deadline:
            raise ServiceError("simulated chips did not all connect")
        await asyncio.sleep(0.5)

    def propose_and_sign() -> float:
        with httpx.Client(timeout=60) as http:
            admin = AuthorityClient(url, world.admin, http=http)
            prop = admin.with_key(world.member(0)).post(
                "/v1/orders/proposals",
                {"kind": "pause", "scope": {"kind": "global"}, "reason": "benchmark"},
            )
            si = bytes.fromhex(prop["signing_input"])
            k = world.root.role("pause").threshold
            for i in range(k):
                key = world.member(i)
                body = {"key_id": key.key_id.hex(), "sig": key.sign(si).hex()}
                client = admin.with_key(key)
                if i == k - 1:
                    t0 = time.perf_counter()
                    client.post(f"/v1/orders/proposals/{prop['id']}/signatures", body)
                    return t0
                client.post(f"/v1/orders/proposals/{prop['id']}/signatures", body)
        raise AssertionError("unreachable")

    t0 = await loop.run_in_executor(None, propose_and_sign)
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    # every chip holds the same order; verify its K-of-N signatures once
    first = json.loads(bodies[0])["orders"][0]
    env = Envelope.decode(base64.b64decode(first["envelope"]))
    assert world.root.verify_role(env, "pause").ok
    holds = sum(1 for b in bodies if json.loads(b)["orders"][0]["envelope"] == first["envelope"])
    lat = sorted(h - t0 for h in held)
    return {
        "pause_chips": n,
        "pause_chips_holding": holds,
        "pause_p50_s": round(statistics.median(lat), 3),
        "pause_p99_s": round(lat[int(0.99 * (n - 1))], 3),
        "pause_max_s": round(lat[-1], 3),
    }


def _check_empty(db_url: str) -> None:
    """The benchmark sets up its own owner and chips: it runs only on an empty database."""
    import sqlalchemy as sa

    engine = sa.create_engine(normalise_url(db_url))
    try:
        tables = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise UsageError(
            f"the benchmark needs an empty database; {db_url} holds {len(tables)} tables",
            field="db",
        )


def _counter(http: httpx.Client, url: str, name: str) -> int:
    """A counter's value from ``/metrics`` (0 while it has not counted anything)."""
    for line in http.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0


def _scaling(
    world: DemoWorld,
    counts: list[int],
    n_reports: int,
    n_registered: int,
    batch: int,
    db_url: str | None,
) -> list[dict[str, Any]]:
    """Ingestion alone against a fresh server (and database) per worker count, the
    server pinned to as many cores as it has workers (up to the cores this process may
    use): a worker verifies on every core it may use, so one worker on all the cores
    would already use them all, and the curve would not say what a core adds. The
    client and a PostgreSQL server are not pinned."""
    allowed = sorted(os.sched_getaffinity(0))
    cpus = len(allowed)
    out: list[dict[str, Any]] = []
    for w in counts:
        cores = set(allowed[: min(w, cpus)])
        with (
            tempfile.TemporaryDirectory(prefix="pb-bench-scaling-") as tmp,
            _server(world, Path(tmp), w, db_url, cores) as (url, sid),
            httpx.Client(timeout=600) as http,
        ):
            made = _setup(AuthorityClient(url, world.admin, http=http), world, n_registered)
            _warm_ingest(url, world, made, max(4, w))
            ing = _ingest(url, world, made, n_reports, batch=batch, clients=max(4, w), sid=sid)
            out.append(
                {
                    "workers": w,
                    "cores": _session_cores(sid),
                    "reports_per_s": ing["ingest_reports_per_s"],
                    "idle_cpu_share": ing["ingest_idle_cpu_share"],
                    "accepted": ing["ingest_accepted"],
                    "errors": ing["ingest_errors"],
                }
            )
        if db_url is not None:
            _drop_all(db_url)
    base = out[0]["reports_per_s"] if out and out[0]["workers"] == 1 else None
    for row in out:
        ideal = None if base is None else base * min(row["workers"], cpus)
        row["efficiency"] = None if ideal is None else round(row["reports_per_s"] / ideal, 3)
    return out


def _drop_all(db_url: str) -> None:
    """Empty the database again after a scaling step (the next server starts afresh)."""
    import sqlalchemy as sa

    engine = sa.create_engine(normalise_url(db_url))
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
    finally:
        engine.dispose()


def run(
    quick: bool = False,
    chips: int | None = None,
    reports: int | None = None,
    workers: int = 1,
    db_url: str | None = None,
    scaling: list[int] | None = None,
) -> dict[str, Any]:
    """Run the benchmark; ``quick`` uses fewer reports, chips and requests. ``db_url``
    runs the server on that (empty) database instead of a fresh SQLite file; it is
    emptied again after each ``scaling`` step (worker counts; the first should be 1)."""
    if db_url is not None:
        _check_empty(db_url)
    n_watch = chips if chips is not None else (1000 if quick else 10_000)
    n_reports = reports if reports is not None else (5_000 if quick else 50_000)
    batch = 200 if quick else 1000
    n_registered = 8 * batch  # eight agents of a batch of chips each, on four connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n_watch + 1024))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    world = demo_world(seed=b"bench-authority")
    out: dict[str, Any] = {
        "backend": "sqlite" if db_url is None or is_sqlite(db_url) else "postgresql",
        "cpus": usable_cores(),
        "workers": workers,
        "quick": quick,
    }
    with (
        tempfile.TemporaryDirectory(prefix="pb-bench-authority-") as tmp,
        _server(world, Path(tmp), workers, db_url) as (url, sid),
        httpx.Client(timeout=600) as http,
    ):
        admin = AuthorityClient(url, world.admin, http=http)
        phase(f"registering {n_registered:,} chips")
        made = _setup(admin, world, n_registered)
        phase(f"ingesting {n_reports:,} usage reports (after two untimed rounds)")
        _warm_ingest(url, world, made, 4)
        ing = _ingest(url, world, made, n_reports, batch=batch, clients=4, sid=sid)
        samples = ing.pop("_samples")
        out.update(ing)
        phase("raw Ed25519 verify on one core and on all cores")
        out["ed25519_verify_per_s"] = round(_measure_verify(made, samples, 1.0), 1)
        out["ed25519_verify_all_cores_per_s"] = round(
            _measure_verify_all_cores(made, samples, 1.0), 1
        )
        out["ingest_vs_raw_verify"] = round(
            out["ingest_reports_per_s"] / out["ed25519_verify_per_s"], 3
        )
        out["ingest_vs_raw_verify_all_cores"] = round(
            out["ingest_reports_per_s"] / out["ed25519_verify_all_cores_per_s"], 3
        )
        phase("CPU of one report ingested in-process, by part")
        out.update(_ingest_cpu(world, batch, 3 if quick else 7))
        phase("licence issuance under 50 clients")
        out.update(asyncio.run(_licences(url, world, made, 50, 4 if quick else 10)))
        phase(f"pausing {n_watch:,} connected chips")
        out.update(asyncio.run(_pause(url, world, n_watch)))
        out["deadlock_retries"] = _counter(
            http, url, "pausebutton_authority_deadlock_retries_total"
        )
    if scaling:
        if db_url is not None:
            _drop_all(db_url)
        phase(f"scaling with {', '.join(map(str, scaling))} workers")
        out["scaling"] = _scaling(world, scaling, n_reports, n_registered, batch, db_url)
    return out
