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
        import httpx

        # the web console is served beside the API by default
        assert httpx.get(server.url + "/console/", timeout=10).status_code == 200
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
        r = cli("license", "fetch", "1", "--out", tmp_path / "lic.cbor", *url)
        assert r.returncode == 0 and (tmp_path / "lic.cbor").stat().st_size > 100
        m1, m2 = adir / "members" / "member-1.key", adir / "members" / "member-2.key"
        r = cli(
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
        r = cli("pause", "approve", str(prop["id"]), *url, "--key", m2)
        assert r.returncode == 0 and "assembled" in r.stdout, r.stderr
        r = cli("pause", "watch", "--once", *url, timeout=60)
        order = json.loads(r.stdout.splitlines()[0])
        assert order["kind"] == "pause" and order["scope"]["regions"] == ["US"]
        r = cli(
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
        # without a folder: the Epoch AI tables shipped with the package, with their credit
        r = cli("registry", "seed-epoch", "--limit", "5", *url, *ak)
        assert r.returncode == 0 and "imported 5 facilities" in r.stdout, r.stderr
        assert "Data on GPU Clusters" in r.stdout
        cid = chip.key_id.hex()
        r = cli(
            "registry",
            "custody-add",
            cid,
            "--kind",
            "export",
            "--at",
            "1700000000",
            "--actor",
            "Acme",
            "--country",
            "DE",
            *url,
            *ak,
        )
        assert r.returncode == 0, r.stderr
        # --at takes ISO 8601 too; an event before the last one is refused (conflict), a
        # time without a zone is bad input; neither changes the chain
        custody = ("registry", "custody-add", cid, "--actor", "Acme", *url, *ak)
        r = cli(*custody, "--kind", "import", "--country", "NL", "--at", "2023-11-14T22:13:21Z")
        assert r.returncode == 0, r.stderr
        r = cli(*custody, "--kind", "import", "--country", "BE", "--at", "2023-11-14")
        assert r.returncode == 3 and "conflict" in r.stderr, r.stderr
        r = cli(*custody, "--kind", "import", "--country", "BE", "--at", "2023-11-15T00:00")
        assert r.returncode == 2 and "--at" in r.stderr, r.stderr
        r = cli("registry", "custody", cid, *url, "--json")
        events = json.loads(r.stdout)
        assert [(e["kind"], e["at"]) for e in events] == [
            ("export", 1_700_000_000),
            ("import", 1_700_000_001),
        ]
        from pausebutton.protocol.messages import GENESIS_HASH, UsageReport

        rep = UsageReport(chip.key_id, 1, GENESIS_HASH, 1_700_000_000, 10, 0, 1, 1, "licensed")
        (tmp_path / "r1.cbor").write_bytes(Envelope.create(rep, [chip]).encode())
        r = cli("registry", "submit-reports", tmp_path / "r1.cbor", *url, "--key", op)
        assert r.returncode == 0 and "accepted 1" in r.stdout, r.stderr
        r = cli("registry", "submit-reports", tmp_path / "cert.cbor", *url, "--key", op)
        assert r.returncode == 3  # a certificate is not a usage report: rejected
        r = cli("registry", "reports", cid, *url, "--json")
        assert [x["sequence"] for x in json.loads(r.stdout)] == [1]
        r = cli("registry", "auth-events", *url, *ak, "--json")
        assert r.returncode == 0 and len(json.loads(r.stdout)) >= 1
        r = cli(
            "resume",
            "submit",
            str(order["sequence"]),
            "--reason",
            "over",
            *url,
            "--key",
            m1,
            "--json",
        )
        assert r.returncode == 0, r.stderr
        rp = json.loads(r.stdout)
        r = cli("pause", "approve", str(rp["id"]), *url, "--key", m2)
        assert r.returncode == 0 and "assembled" in r.stdout
        r = cli("pause", "list", "--active", *url)
        assert r.returncode == 0 and r.stdout.strip() == "no pause orders in force"
        r = cli("pause", "list", *url)
        assert r.returncode == 0 and "in force" in r.stdout and "region:US" in r.stdout
    finally:
        server.stop()
    assert server.proc.returncode is not None


def test_cli_serve_no_console_serves_the_api_alone(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any
) -> None:
    import httpx

    adir = tmp_path / "auth"
    assert cli("authority", "init", adir, "--members", "3", "--threshold", "2").returncode == 0
    admin = tmp_path / "admin.key"
    assert cli("keys", "generate", "--out", admin).returncode == 0
    server = server_factory(adir, db_url, admin, extra=("--no-console",))
    assert httpx.get(server.url + "/console/", timeout=10).status_code == 404
    assert httpx.get(server.url + "/", timeout=10).status_code == 404
    assert httpx.get(server.url + "/v1/stats", timeout=10).status_code == 200
