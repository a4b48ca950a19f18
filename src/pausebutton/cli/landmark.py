"""``pausebutton landmark``: run a landmark server, or measure a chip against landmarks.

``serve`` answers over UDP and TCP on one port: a chip sends hello (its device
key), gets a fresh nonce in a signed challenge, signs its response at once,
and receives the landmark's signed Measurement (RTT on the landmark's
monotonic clock). Late, replayed and wrongly signed responses are rejected with
named errors. Each measurement is printed as one JSON line and may be POSTed to
the authority (``--url``, body ``application/cbor``).

``probe`` is the chip side for operators and tests: it answers challenges with
a device key file (a stand-in for the firmware's ``respond``).

A measurement the authority does not take is logged (``pausebutton.cli.landmark``) and
counted; ``serve`` prints its counts (measurements, rejections, failures) when it stops.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from pausebutton import keystore
from pausebutton.cli.common import err, print_json
from pausebutton.errors import PausebuttonError, ServiceError, UsageError
from pausebutton.fsutil import atomic_write
from pausebutton.geo.client import measure_tcp, measure_udp
from pausebutton.geo.csvio import format_measurements
from pausebutton.geo.landmark import LandmarkCore
from pausebutton.geo.responder import Respond, SoftChip
from pausebutton.geo.server import LandmarkServer, Stats
from pausebutton.protocol.envelope import decode_as
from pausebutton.protocol.messages import Measurement

log = logging.getLogger(__name__)
POST_DRAIN_S = 5.0
"""How long ``serve`` waits, when it stops, for measurements still being sent."""

app = typer.Typer(
    help="Landmark servers for location verification, and the chip-side probe.",
    no_args_is_help=True,
)


def measurement_json(data: bytes, m: Measurement) -> dict[str, object]:
    return {
        "landmark_id": m.landmark_id.hex(),
        "chip_id": m.chip_id.hex(),
        "nonce": m.nonce.hex(),
        "rtt_ms": m.rtt_ms,
        "rtt_ns": m.rtt_ns,
        "time": m.time,
        "counter": m.counter,
        "envelope": base64.b64encode(data).decode(),
    }


MEASUREMENTS_PATH = "/v1/location/measurements"


def measurements_url(authority_url: str) -> str:
    """The authority's measurement endpoint: ``authority_url`` itself if it already ends
    with ``/v1/location/measurements``, else that path appended to the base URL."""
    base = authority_url.rstrip("/")
    return base if base.endswith(MEASUREMENTS_PATH) else base + MEASUREMENTS_PATH


async def _post(url: str, data: bytes, stats: Stats) -> None:
    """POST one measurement; a refusal or transport error is logged and counted."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            r = await client.post(url, content=data, headers={"content-type": "application/cbor"})
    except httpx.HTTPError as exc:
        stats.fail("post")
        log.warning("could not send a measurement to the authority: %r", exc)
        return
    if r.status_code >= 300:
        stats.fail("post")
        log.warning("authority answered %d to a measurement: %s", r.status_code, r.text[:200])


class _Posts:
    """The measurements being sent to the authority: each a task whose unexpected
    failure is logged and counted (never left unretrieved), drained on shutdown."""

    def __init__(self, url: str, stats: Stats) -> None:
        self.url = url
        self.stats = stats
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, data: bytes) -> None:
        task = asyncio.get_running_loop().create_task(_post(self.url, data, self.stats))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.stats.fail("post")
            log.error("sending a measurement to the authority failed: %r", exc, exc_info=exc)

    async def drain(self, timeout: float = POST_DRAIN_S) -> None:
        """Wait up to ``timeout`` for the measurements in flight; cancel, log and count
        the ones still unsent."""
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
        if not pending:
            return
        for task in pending:
            task.cancel()
            self.stats.fail("post")
        log.warning(
            "%d measurement(s) not delivered to the authority within %.1f s of stopping",
            len(pending),
            timeout,
        )
        await asyncio.wait(pending)


async def _serve(
    core: LandmarkCore,
    host: str,
    port: int,
    udp: bool,
    tcp: bool,
    authority_url: str | None,
    count: int | None,
    ready_file: Path | None,
) -> None:
    done = asyncio.Event()
    posts: _Posts | None = None
    seen = 0

    def on_measurement(data: bytes, m: Measurement) -> None:
        nonlocal seen
        sys.stdout.write(json.dumps(measurement_json(data, m), sort_keys=True) + "\n")
        sys.stdout.flush()
        if posts is not None:
            posts.send(data)
        seen += 1
        if count is not None and seen >= count:
            done.set()

    def on_error(exc: PausebuttonError) -> None:
        err.print(f"rejected: {exc}", markup=False)

    server = LandmarkServer(
        core,
        host=host,
        port=port,
        udp=udp,
        tcp=tcp,
        on_measurement=on_measurement,
        on_error=on_error,
    )
    stats = server.stats
    if authority_url:
        posts = _Posts(measurements_url(authority_url), stats)
    try:
        bound = await server.start()
    except OSError as exc:
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    err.print(
        f"landmark {core.landmark_id.hex()[:16]} listening on {host}:{bound}"
        f" ({'udp ' if udp else ''}{'tcp' if tcp else ''})",
        markup=False,
    )
    if ready_file is not None:
        atomic_write(ready_file, f"{bound}\n".encode())
    try:
        await done.wait()
    finally:
        await server.close()
        if posts is not None:
            await posts.drain()
        err.print(f"landmark stopped: {stats.summary()}", markup=False)


@app.command("serve")
def serve(
    key: Annotated[Path, typer.Option("--key", help="The landmark's private key file (0600).")],
    lat: Annotated[float, typer.Option("--lat", help="The landmark's latitude (WGS84).")],
    lon: Annotated[float, typer.Option("--lon", help="The landmark's longitude (WGS84).")],
    port: Annotated[int, typer.Option("--port", help="UDP and TCP port (0: any).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "0.0.0.0",
    udp: Annotated[bool, typer.Option("--udp/--no-udp", help="Serve over UDP.")] = True,
    tcp: Annotated[bool, typer.Option("--tcp/--no-tcp", help="Serve over TCP.")] = True,
    max_rtt_ms: Annotated[
        float, typer.Option("--max-rtt-ms", help="Reject responses later than this.")
    ] = 500.0,
    authority_url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="The authority's base URL: each signed Measurement is POSTed (raw CBOR"
            " envelope) to its /v1/location/measurements.",
        ),
    ] = None,
    old_url: Annotated[
        str | None, typer.Option("--authority-url", hidden=True, help="Old spelling of --url.")
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", help="Exit after this many measurements.")
    ] = None,
    ready_file: Annotated[
        Path | None, typer.Option("--ready-file", help="Write the bound port here when ready.")
    ] = None,
) -> None:
    """Serve location challenges; print each signed Measurement as one JSON line."""
    if authority_url and old_url and authority_url != old_url:
        raise UsageError("give --url (or its old spelling --authority-url), not both")
    authority_url = authority_url or old_url
    if not (udp or tcp):
        raise UsageError("serve needs --udp or --tcp")
    if not 0 <= port <= 65535:
        raise UsageError("--port must be 0-65535")
    if not 0 < max_rtt_ms <= 10_000:
        raise UsageError("--max-rtt-ms must be in (0, 10000]")
    core = LandmarkCore(keystore.read_private_key(key), lat, lon, max_rtt_ns=int(max_rtt_ms * 1e6))
    asyncio.run(_serve(core, host, port, udp, tcp, authority_url, count, ready_file))


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"landmark address must be HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


@app.command("probe")
def probe(
    landmarks: Annotated[list[str], typer.Argument(help="Landmarks as HOST:PORT.")],
    chip_key: Annotated[
        Path | None,
        typer.Option("--chip-key", help="Device key file that answers (a bare stand-in chip)."),
    ] = None,
    chip_dir: Annotated[
        Path | None,
        typer.Option(
            "--chip-dir",
            help="A simulated chip's state directory (pausebutton chip): its firmware answers.",
        ),
    ] = None,
    rounds: Annotated[int, typer.Option("--rounds", help="Measurements per landmark.")] = 5,
    use_udp: Annotated[bool, typer.Option("--udp", help="Use UDP instead of TCP.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per message.")] = 5.0,
    out_csv: Annotated[
        Path | None,
        typer.Option("--out-csv", help="Write landmark_id,rtt_ms rows (ids: key ids in hex)."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Write each signed Measurement here.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the measurements as JSON.")
    ] = False,
) -> None:
    """Be measured by landmarks: answer their challenges with the chip key."""
    if not 1 <= rounds <= 1000:
        raise UsageError("--rounds must be 1-1000")
    targets = [_target(t) for t in landmarks]
    if (chip_key is None) == (chip_dir is None):
        raise UsageError("give exactly one of --chip-key and --chip-dir")
    fn = measure_udp if use_udp else measure_tcp

    def run_all(device_key: bytes, respond: Respond) -> list[bytes]:
        async def go() -> list[bytes]:
            collected: list[bytes] = []
            for host, port in targets:  # one at a time: no self-inflicted queueing
                collected += await fn(
                    host, port, device_key, respond, rounds=rounds, timeout=timeout
                )
            return collected

        return asyncio.run(go())

    if chip_dir is not None:
        from pausebutton.chip.simulated import SimulatedChip
        from pausebutton.protocol.messages import DeviceCertificate

        with SimulatedChip.open(chip_dir) as sim:
            _, cert = decode_as(sim.certificate, DeviceCertificate)
            envelopes = run_all(cert.device_key, sim.respond)
    else:
        assert chip_key is not None
        # A bare key has no rollback-protected counter; starting at the wall clock in
        # microseconds keeps its response counter rising across runs, as landmarks need.
        soft = SoftChip(keystore.read_private_key(chip_key), counter=time.time_ns() // 1000)
        envelopes = run_all(soft.device_key, soft.respond)
    rows = []
    docs = []
    for data in envelopes:
        _, m = decode_as(data, Measurement)
        rows.append((m.landmark_id.hex(), m.rtt_ms))
        docs.append(measurement_json(data, m))
        if out_dir is not None:
            atomic_write(out_dir / f"{m.landmark_id.hex()[:16]}-{m.nonce.hex()[:16]}.cbor", data)
    if out_csv is not None:
        atomic_write(out_csv, format_measurements(rows).encode())
    if json_out:
        print_json({"measurements": docs})
    else:
        for lid, rtt in rows:
            typer.echo(f"{lid[:16]}  {rtt:.3f} ms")
