"""End to end: `landmark serve --authority-url` posts its Measurements to a real
`authority serve`; `registry location-run` and `registry location-checks` show the result."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pausebutton import keystore
from pausebutton.authority.client import AuthorityClient

SRC = Path(__file__).resolve().parents[3] / "src"


def test_cli_landmark_posts_and_registry_runs_checks(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any, deployment: Any
) -> None:
    world = deployment.world
    server = server_factory(
        deployment.directory, db_url, deployment.admin_pub, extra=("--location-interval", "0")
    )
    admin_key = tmp_path / "admin.key"
    keystore.write_private_key(admin_key, world.admin)
    chip = world.make_chip()
    keystore.write_private_key(tmp_path / "chip.key", chip.key)
    admin = AuthorityClient(server.url, world.admin)
    try:
        admin.post("/v1/owners", {"id": "acme", "name": "Acme", "country": "US"})
        admin.post(
            "/v1/facilities",
            {"id": "dc1", "name": "DC1", "country": "US", "latitude": 40.0, "longitude": -100.0},
        )
        admin.post(
            "/v1/chips",
            {
                "certificate": base64.b64encode(chip.certificate).decode(),
                "owner_id": "acme",
                "facility_id": "dc1",
            },
        )
    finally:
        admin.close()
    ready = tmp_path / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pausebutton",
            "landmark",
            "serve",
            "--key",
            str(deployment.directory / "keys" / "landmark-0.key"),
            "--lat",
            "40.01",
            "--lon",
            "-100.01",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--authority-url",
            server.url,  # the base URL: the landmark adds /v1/location/measurements
            "--count",
            "2",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        port = int(ready.read_text())
        r = cli("landmark", "probe", f"127.0.0.1:{port}", "--chip-key", tmp_path / "chip.key",
                "--rounds", "2", timeout=60)  # fmt: skip
        assert r.returncode == 0, r.stderr
        _, errs = proc.communicate(timeout=30)
        assert "authority answered" not in errs and "could not send" not in errs, errs
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    url = ("--url", server.url)
    r = cli("registry", "location-run", *url)
    assert r.returncode == 2 and "--key" in r.stderr  # an admin's signed request
    r = cli("registry", "location-run", *url, "--key", admin_key, "--json")
    assert r.returncode == 0, r.stderr
    (check,) = json.loads(r.stdout)
    # one landmark (of the 3 the policy needs): stored as insufficient evidence, no alert
    assert check["verdict"] == "insufficient_evidence" and check["chip_id"] == chip.chip_id
    assert check["landmarks"] == 1 and check["alert_id"] is None
    assert len(check["result"]["landmarks"]) == 1 and check["result"]["accepted"] == 2
    r = cli("registry", "location-checks", *url, "--chip", chip.chip_id)
    assert r.returncode == 0, r.stderr
    assert "insufficient_evidence" in r.stdout and chip.chip_id in r.stdout
