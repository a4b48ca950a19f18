"""Firmware benchmark: decisions per second (install, meter) and challenge-response latency.

Everything is measured in this process, side by side: the pure firmware
(decisions only), the simulated chip (each decision persisted to file NVM with
fsync, as the edge must before acting) and, for location responses, raw
Ed25519 signing of the same bytes as the floor the firmware cannot beat.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pausebutton.bench import phase
from pausebutton.chip.lab import T0, Lab
from pausebutton.chip.simulated import SimulatedChip
from pausebutton.protocol.keys import PrivateKey


def _rate(count: int, fn: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def _latencies(count: int, fn: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(count):
        start = time.perf_counter_ns()
        fn(i)
        out.append((time.perf_counter_ns() - start) / 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(quick: bool = False) -> dict[str, Any]:
    n = 100 if quick else 1000
    lab = Lab.create(b"bench")
    fw = lab.new_chip()
    chip_id = fw.record.chip_id

    # install: licenses (threshold signature + log inclusion proof), time tokens, pauses
    licenses = [lab.logged(lab.license(chip_id, flop=10**30)) for _ in range(n)]
    tokens = [lab.time_token(T0 + i).encode() for i in range(n)]

    def install_license(i: int) -> None:
        fw.commit(fw.install(*licenses[i]))

    def install_token(i: int) -> None:
        fw.commit(fw.install(tokens[i]))

    phase("installing licences and time tokens")
    lic_rate = _rate(n, install_license)
    token_rate = _rate(n, install_token)

    def meter(i: int) -> None:
        fw.commit(fw.meter(10**12))

    phase("metering")
    meter_rate = _rate(n * 5, meter)

    fw.commit(fw.boot())
    nonces = [i.to_bytes(32, "big") for i in range(n * 2)]

    def respond(i: int) -> None:
        fw.commit(fw.respond(nonces[i]))

    phase("answering location challenges")
    respond_us = _latencies(n * 2, respond)
    key = PrivateKey.from_seed_material(b"bench-raw")
    raw_us = _latencies(n * 2, lambda i: key.sign(nonces[i] + chip_id + b"\x00" * 8))

    with tempfile.TemporaryDirectory() as tmp:
        sim = SimulatedChip.create(
            Path(tmp) / "chip",
            root=lab.root_bytes,
            vendor_key=lab.vendor,
            vendor="bench",
            issued_at=T0,
        )
        with sim:
            sim.install_envelope(*lab.logged(lab.license(sim.chip_id, flop=10**30)))
            phase("metering with NVM writes")
            persisted = max(20, n // 10)
            meter_nvm_rate = _rate(persisted, lambda i: sim.run(10**12))

    return {
        "install_license_per_s": round(lic_rate, 1),
        "install_time_token_per_s": round(token_rate, 1),
        "meter_decisions_per_s": round(meter_rate, 1),
        "meter_persisted_per_s": round(meter_nvm_rate, 1),
        "respond_median_us": round(statistics.median(respond_us), 1),
        "respond_p99_us": round(_pct(respond_us, 0.99), 1),
        "raw_ed25519_sign_median_us": round(statistics.median(raw_us), 1),
        "respond_over_raw_sign": round(
            statistics.median(respond_us) / statistics.median(raw_us), 2
        ),
        "samples": {"install": n, "meter": n * 5, "respond": n * 2, "meter_persisted": persisted},
    }
