"""``pausebutton prohibited``: a list hashed from files (no torch), signed K of N offline or
proposed and approved online, published by the authority and enforced by the guard."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from pausebutton.errors import PolicyError
from pausebutton.guard.artifacts import ProhibitedList
from pausebutton.protocol.trustroot import load_pinned_root


def write_weights(path: Path) -> None:
    """A safetensors file of one float32 tensor of 5000 elements (listed: above 4096)."""
    data = struct.pack("<5000f", *(i / 7 for i in range(5000)))
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [50, 100], "data_offsets": [0, len(data)]}}
    ).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + data)


@pytest.mark.timeout(180)
def test_a_list_proposed_signed_and_enforced(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any, deployment: Any
) -> None:
    world = deployment.world
    root_path = deployment.directory / "trust-root.cbor"

    def key(i: int) -> Path:
        return Path(deployment.directory / "members" / f"{world.member_names[i]}.key")

    weights, script = tmp_path / "model.safetensors", tmp_path / "train.py"
    write_weights(weights)
    script.write_text("print('train the banned model')\n")
    draft = tmp_path / "draft.cbor"
    r = cli("prohibited", "propose", "--out", draft, "--weights", weights, "--code", script)
    assert r.returncode == 0, r.stderr
    assert "4 artifact(s)" in r.stdout  # file, tensor, tensor set, script
    signed = []
    for i in range(3):
        signed.append(tmp_path / f"signed-{i}.cbor")
        r = cli("prohibited", "sign", draft, "--key", key(i), "--out", signed[-1])
        assert r.returncode == 0, r.stderr
    full = tmp_path / "list.cbor"
    r = cli("prohibited", "assemble", *signed[:2], "--out", full, "--trust", root_path)
    assert r.returncode == 3 and "below_threshold" in r.stderr and not full.exists()
    r = cli("prohibited", "assemble", *signed, "--out", full, "--trust", root_path)
    assert r.returncode == 0, r.stderr
    root = load_pinned_root(root_path.read_bytes())[1]
    plist = ProhibitedList.verify(full.read_bytes(), root)
    with pytest.raises(PolicyError):
        plist.check_file(weights)
    with pytest.raises(PolicyError):
        plist.check_code(script)

    # online: one member submits, two approve; the third signature publishes it
    server = server_factory(deployment.directory, db_url, deployment.admin_pub)
    url = ("--url", server.url)
    r = cli("prohibited", "submit", draft, "--key", key(0), *url, "--json")
    assert r.returncode == 0, r.stderr
    prop = json.loads(r.stdout)
    assert prop["status"] == "open" and prop["signed_by"] == [world.member_names[0]]
    r = cli("prohibited", "approve", str(prop["id"]), "--key", key(1), *url)
    assert r.returncode == 0 and "open" in r.stdout and "2/3" in r.stdout, r.stdout + r.stderr
    r = cli("prohibited", "approve", str(prop["id"]), "--key", key(2), *url, "--json")
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout)
    assert done["status"] == "published" and done["log_index"] is not None
    saved = tmp_path / "published.cbor"
    r = cli("pause", "prohibited", "--out", saved, *url, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["artifacts"] == 4
    with pytest.raises(PolicyError):
        ProhibitedList.verify(saved.read_bytes(), root).check_file(weights)
    # the same sequence again, other content: a named refusal once it would publish
    other = tmp_path / "other.cbor"
    r = cli("prohibited", "propose", "--out", other, "--file", script, "--sequence", "1")
    assert r.returncode == 0
    r = cli("prohibited", "assemble", other, "--out", tmp_path / "x.cbor", "--trust", root_path)
    assert r.returncode == 3
    for i in range(3):
        cli("prohibited", "sign", other, "--key", key(i))
    r = cli("prohibited", "submit", other, "--key", key(0), *url)
    assert r.returncode == 3 and "replay" in r.stderr and "Traceback" not in r.stderr
    r = cli("prohibited", "propose", "--out", other)
    assert r.returncode == 2 and "at least one" in r.stderr
