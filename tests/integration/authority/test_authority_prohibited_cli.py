"""`pausebutton pause publish-prohibited` and `pause prohibited` against a real server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts


def test_cli_publish_prohibited_and_show(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any, deployment: Any
) -> None:
    world = deployment.world
    server = server_factory(deployment.directory, db_url, deployment.admin_pub)
    plist = ProhibitedArtifacts(
        sequence=3,
        issued_at=1_700_000_000,
        artifacts=(Artifact(ArtifactKind.FILE, hashlib.sha256(b"x").digest(), "x.pt"),),
    )
    ok = tmp_path / "list.cbor"
    ok.write_bytes(Envelope.create(plist, [world.member(i) for i in range(3)]).encode())
    short = tmp_path / "short.cbor"
    short.write_bytes(Envelope.create(plist, [world.member(0)]).encode())
    name = world.member_names[0]
    key = ("--key", deployment.directory / "members" / f"{name}.key", "--url", server.url)

    r = cli("pause", "prohibited", "--url", server.url)
    assert r.returncode != 0 and "not_found" in r.stderr and "Traceback" not in r.stderr
    r = cli("pause", "publish-prohibited", short, *key)
    assert r.returncode == 3 and "below_threshold" in r.stderr and "Traceback" not in r.stderr
    r = cli("pause", "publish-prohibited", ok, "--url", server.url)
    assert r.returncode == 2 and "--key" in r.stderr
    r = cli("pause", "publish-prohibited", ok, *key)
    assert r.returncode == 0, r.stderr
    assert "list 3" in r.stdout and "published" in r.stdout
    saved = tmp_path / "saved.cbor"
    r = cli("pause", "prohibited", "--out", saved, "--url", server.url, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sequence"] == 3
    assert saved.read_bytes() == ok.read_bytes()
