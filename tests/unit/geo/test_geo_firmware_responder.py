"""The firmware's simulated chip answers landmark challenges: in-process through the
client, and through ``landmark probe --chip-dir``; its NVM response counter keeps rising
across runs, so a landmark accepts every run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from clienv import cli_env
from pausebutton import keystore
from pausebutton.chip.lab import T0, Lab
from pausebutton.chip.simulated import SimulatedChip
from pausebutton.geo.client import measure_tcp, measure_udp
from pausebutton.geo.landmark import LandmarkCore, verify_measurement
from pausebutton.geo.server import LandmarkServer
from pausebutton.protocol.envelope import decode_as
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import DeviceCertificate

LM = PrivateKey.from_seed_material(b"fw-landmark")


def make_chip(tmp_path) -> tuple[SimulatedChip, bytes]:
    lab = Lab.create(b"geo-fw")
    chip = SimulatedChip.create(
        tmp_path / "chip",
        root=lab.root_bytes,
        vendor_key=lab.vendor,
        vendor="lab-vendor",
        issued_at=T0,
        device_key=PrivateKey.from_seed_material(b"geo-fw-chip"),
    )
    _, cert = decode_as(chip.certificate, DeviceCertificate)
    return chip, cert.device_key


def test_simulated_chip_answers_in_process(tmp_path):
    chip, device_key = make_chip(tmp_path)

    async def go():
        server = LandmarkServer(LandmarkCore(LM, 50.1, 8.7), host="127.0.0.1", port=0)
        port = await server.start()
        try:
            a = await measure_tcp("127.0.0.1", port, device_key, chip.respond, rounds=2)
            b = await measure_udp("127.0.0.1", port, device_key, chip.respond, rounds=2)
        finally:
            await server.close()
        return a + b

    with chip:
        envs = asyncio.run(asyncio.wait_for(go(), 30))
    from pausebutton.protocol.keys import PublicKey

    ms = [
        verify_measurement(e, {LM.key_id: LM.public}, PublicKey.from_bytes(device_key))
        for e in envs
    ]
    counters = [m.counter for m in ms]
    assert counters == sorted(counters) and len(set(counters)) == 4
    assert all(m.chip_id == chip.chip_id for m in ms)


def test_probe_with_chip_dir_across_runs(cli, tmp_path):
    chip, _ = make_chip(tmp_path)
    chip.close()
    keystore.write_private_key(tmp_path / "lm.key", LM)
    ready = tmp_path / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pausebutton",
            "landmark",
            "serve",
            "--key",
            str(tmp_path / "lm.key"),
            "--lat",
            "50.1",
            "--lon",
            "8.7",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--count",
            "4",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        target = f"127.0.0.1:{int(ready.read_text())}"
        for _ in range(2):  # a second run must not trip the landmark's counter check
            r = cli(
                "landmark",
                "probe",
                target,
                "--chip-dir",
                tmp_path / "chip",
                "--rounds",
                "2",
                timeout=60,
            )
            assert r.returncode == 0, r.stderr
        out, errs = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, errs
    assert len(out.splitlines()) == 4
    r = cli(
        "landmark",
        "probe",
        target,
        "--chip-dir",
        tmp_path / "chip",
        "--chip-key",
        tmp_path / "lm.key",
    )
    assert r.returncode == 2 and "exactly one" in r.stderr
