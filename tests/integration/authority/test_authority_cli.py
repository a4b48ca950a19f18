"""The CLI against a real ``authority serve`` process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pausebutton import keystore
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import DeviceCertificate


def test_cli_serve_registry_license_and_pause(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any
) -> None:
    adir = tmp_path / "auth"
    r = cli("authority", "init", adir, "--members", "3", "--threshold", "2")
    assert r.returncode == 0, r.stderr
    admin = tmp_path / "admin.key"
    op = tmp_path / "op.key"
    assert cli("keys", "generate", "--out", admin).returncode == 0
    assert cli("keys", "generate", "--out", op).returncode == 0
    server = server_factory(adir, db_url, admin)
    try:
        url = ("--url", server.url)
        ak = ("--key", admin)
        r = cli("registry", "owner-add", "acme", "--name", "Acme", "--country", "US", *url, *ak)
        assert r.returncode == 0, r.stderr
        r = cli("registry", "owner-add", "evil", "--name", "E", "--country", "US", *url)
        assert r.returncode == 2 and "signed" in r.stderr  # no key: usage error, nothing sent
        r = cli(
            "registry", "owner-add", "evil", "--name", "E", "--country", "US", *url, "--key", op
        )
        assert r.returncode == 3 and "unauthenticated" in r.stderr
        assert cli("registry", "key-add", op, "--owner", "acme", *url, *ak).returncode == 0
        assert (
            cli(
                "registry",
                "facility-add",
                "dc1",
                "--name",
                "DC",
                "--country",
                "US",
                "--verified",
                *url,
                *ak,
            ).returncode
            == 0
        )
        # a chip certificate signed by the authority's vendor key
        vendor = keystore.read_private_key(adir / "keys" / "vendor-0.key")
        chip = PrivateKey.generate()
        cert = DeviceCertificate("SN1", "H100", chip.public.raw, "V", 1, 1_700_000_000)
        (tmp_path / "cert.cbor").write_bytes(Envelope.create(cert, [vendor]).encode())
        r = cli(
            "registry",
            "chip-register",
            tmp_path / "cert.cbor",
            "--owner",
            "acme",
            "--facility",
            "dc1",
            *url,
            *ak,
        )
        assert r.returncode == 0, r.stderr
        r = cli(
            "gov",
            "license",
            "apply",
            chip.key_id.hex(),
            "--budget",
            "1e18",
            "--run",
            "r1",
            "--purpose",
            "demo",
            *url,
            "--key",
            op,
            "--json",
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["status"] == "issued"
        r = cli("gov", "license", "fetch", "1", "--out", tmp_path / "lic.cbor", *url)
        assert r.returncode == 0 and (tmp_path / "lic.cbor").stat().st_size > 100
        m1, m2 = adir / "members" / "member-1.key", adir / "members" / "member-2.key"
        r = cli(
            "gov",
            "pause",
            "submit",
            "--reason",
            "drill",
            "--scope",
            "region:US",
            *url,
            "--key",
            m1,
            "--json",
        )
        assert r.returncode == 0, r.stderr
        prop = json.loads(r.stdout)
        assert prop["signed_by"] == ["member-1"] and prop["status"] == "open"
        r = cli("gov", "pause", "approve", str(prop["id"]), *url, "--key", m2)
        assert r.returncode == 0 and "assembled" in r.stdout, r.stderr
        r = cli("gov", "pause", "watch", "--once", *url, timeout=60)
        order = json.loads(r.stdout.splitlines()[0])
        assert order["kind"] == "pause" and order["scope"]["regions"] == ["US"]
        r = cli(
            "gov",
            "license",
            "apply",
            chip.key_id.hex(),
            "--budget",
            "1e18",
            "--run",
            "r2",
            "--purpose",
            "demo",
            *url,
            "--key",
            op,
        )
        assert r.returncode == 3 and "pause" in r.stdout
        r = cli("registry", "export", "chips", *url)
        assert r.returncode == 0 and chip.key_id.hex() in r.stdout
        r = cli("registry", "seed-epoch", "/nonexistent", *url, *ak)
        assert r.returncode == 2
    finally:
        server.stop()
    assert server.proc.returncode is not None
