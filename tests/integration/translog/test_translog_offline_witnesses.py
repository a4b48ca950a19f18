"""Independent witnesses for a ceremony authority's offline tools: the operator hands a
checkpoint of the local log to each witness as a file, each cosigns it on its own machine
(its own folder here), and ``license attach`` puts their cosignatures into the install
files; after a root change that rotates the log key, the witnesses adopt the new root
(chained from theirs) and keep cosigning."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pausebutton.chip.install import InstallFile
from pausebutton.keystore import read_private_key
from pausebutton.protocol.trustroot import load_pinned_root
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.note import CheckpointBody, SignedCheckpoint
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.witness import CosignRequest, state_from_bytes

Cli = Callable[..., Any]
MEMBERS = ("nl", "de", "fr")


def ok(r: Any) -> Any:
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture
def founded(cli: Cli, tmp_path: Path) -> Path:
    """A ceremony authority founded from cards: three members, two witnesses, a vendor."""
    for m in MEMBERS:
        ok(cli("member", "init", tmp_path / m, "--name", m.upper(), "--region", m.upper()))
    for w in ("w1", "w2"):
        ok(cli("witness", "init", tmp_path / w, "--name", w))
    ok(cli("vendor", "init", tmp_path / "vendor", "--name", "ExampleChips"))
    ok(cli("keys", "generate", "--out", tmp_path / "lm.key", "--public", tmp_path / "lm.pub"))
    ok(cli("authority", "init", tmp_path / "auth", "--ceremony"))
    cards: list[Any] = []
    for card in [
        *(tmp_path / m / "member-card.json" for m in MEMBERS),
        tmp_path / "w1" / "witness-card.json",
        tmp_path / "w2" / "witness-card.json",
        f"vendor={tmp_path / 'vendor' / 'vendor.json'}",
        f"landmark={tmp_path / 'lm.pub'}",
        *(tmp_path / "auth" / "cards" / f"{r}.json" for r in ("licensing", "log", "time")),
    ]:
        cards += ["--card", card]
    ok(cli("root", "propose", "--out", tmp_path / "draft.cbor", *cards))
    for m in MEMBERS:
        ok(cli("root", "sign", tmp_path / "draft.cbor", "--key", tmp_path / m / "member.key"))
    ok(cli("root", "assemble", tmp_path / "draft.cbor", "--out", tmp_path / "trust-root.cbor",
           "--authority", tmp_path / "auth"))  # fmt: skip
    return tmp_path


def _issue(cli: Cli, base: Path, chip: str, name: str) -> Path:
    path = base / name
    ok(cli("license", "issue", "--authority", base / "auth", "--chip", chip, "--flop", "1e18",
           "--valid-for", "30d", "--out", path))  # fmt: skip
    return path


def _cosign(cli: Cli, base: Path, w: str, request: Path) -> Any:
    return cli("witness", "cosign", request, "--state", base / w, "--trust",
               base / "trust-root.cbor", "--out", base / f"{w}.cosig", "--json")  # fmt: skip


def test_offline_bundles_carry_the_independent_witnesses_cosignatures(
    cli: Cli, founded: Path
) -> None:
    base = founded
    chip = ok(cli("chip", "new", base / "chip", "--trust", base / "trust-root.cbor",
                  "--vendor", base / "vendor")).stdout.split()[-1]  # fmt: skip
    lic = _issue(cli, base, chip, "lic.install")
    # without cosignatures the chip refuses the licence (the authority holds no witness key)
    refused = cli("chip", "install", base / "chip", lic)
    assert refused.returncode == 3 and "witness" in refused.stderr + refused.stdout

    ok(cli("license", "checkpoint", "--authority", base / "auth", "--out", base / "cp.json"))
    verdicts = [
        json.loads(ok(_cosign(cli, base, w, base / "cp.json")).stdout) for w in ("w1", "w2")
    ]
    assert [v["verdict"] for v in verdicts] == ["cosign", "cosign"]
    # one cosignature is one short of the root's witness threshold (2): refused, file intact
    before = lic.read_bytes()
    short = cli(
        "license", "attach", lic, "--authority", base / "auth", "--cosig", base / "w1.cosig"
    )
    assert short.returncode == 3 and "1 of 2 witness cosignatures" in short.stderr
    assert lic.read_bytes() == before
    ok(cli("license", "attach", lic, "--authority", base / "auth",
           "--cosig", base / "w1.cosig", "--cosig", base / "w2.cosig"))  # fmt: skip
    ok(cli("chip", "install", base / "chip", lic))

    # a second licence: the next checkpoint carries the proof from the one handed out before
    lic2 = _issue(cli, base, chip, "lic2.install")
    ok(cli("license", "checkpoint", "--authority", base / "auth", "--out", base / "cp2.json"))
    assert set(CosignRequest.from_bytes((base / "cp2.json").read_bytes()).proofs) == {1}
    for w in ("w1", "w2"):
        assert (
            json.loads(ok(_cosign(cli, base, w, base / "cp2.json")).stdout)["verdict"] == "cosign"
        )
        assert state_from_bytes((base / w / "state.json").read_bytes()).size == 2
    ok(cli("license", "attach", lic2, "--authority", base / "auth",
           "--cosig", base / "w1.cosig", "--cosig", base / "w2.cosig"))  # fmt: skip
    ok(cli("chip", "install", base / "chip", lic2))

    # the older checkpoint again: nothing to cosign; another history: a fork alert
    stale = _cosign(cli, base, "w1", base / "cp.json")
    assert stale.returncode == 3 and "older" in stale.stderr
    forged = CosignRequest.from_bytes((base / "cp2.json").read_bytes())
    other = SignedCheckpoint.parse(forged.checkpoint)
    key = read_private_key(base / "auth" / "keys" / "log-0.key")
    fork = SignedCheckpoint.sign(CheckpointBody(other.origin, 2, b"\x01" * 32), key)
    (base / "fork.json").write_bytes(CosignRequest(fork.encode(), forged.proofs).to_bytes())
    r = _cosign(cli, base, "w2", base / "fork.json")
    assert r.returncode == 5 and "FORK" in r.stderr and "Traceback" not in r.stderr
    assert list((base / "w2").glob("alert-*.json"))


def test_witnesses_adopt_a_root_that_rotates_the_log_key(cli: Cli, founded: Path) -> None:
    base, auth = founded, founded / "auth"
    chip = "ab" * 32
    _issue(cli, base, chip, "lic.install")
    ok(cli("license", "checkpoint", "--authority", auth, "--out", base / "cp.json"))
    for w in ("w1", "w2"):
        ok(_cosign(cli, base, w, base / "cp.json"))

    # the operator rotates the log key: a new key, a root change signed by K members and it
    old_id = read_private_key(auth / "keys" / "log-0.key").public.key_id.hex()
    ok(cli("keys", "generate", "--out", auth / "keys" / "log-1.key", "--public", base / "log1.pub"))
    ok(cli("root", "propose", "--out", base / "rot.cbor", "--authority", auth,
           "--add-key", f"log={base / 'log1.pub'}", "--remove-key", f"log={old_id}"))  # fmt: skip
    for signer in [base / m / "member.key" for m in MEMBERS[:2]] + [auth / "keys" / "log-1.key"]:
        ok(cli("root", "sign", base / "rot.cbor", "--key", signer))
    ok(cli("root", "assemble", base / "rot.cbor", "--out", base / "root-2.cbor",
           "--authority", auth))  # fmt: skip

    lic = _issue(cli, base, chip, "lic2.install")  # logged under the new log key
    ok(cli("license", "checkpoint", "--authority", auth, "--out", base / "cp2.json"))
    request = CosignRequest.from_bytes((base / "cp2.json").read_bytes())
    assert len(request.roots) == 1
    # a witness not shown the new root cannot check the new log key: it refuses, keeps v1
    (base / "bare.json").write_bytes(CosignRequest(request.checkpoint, request.proofs).to_bytes())
    bare = _cosign(cli, base, "w1", base / "bare.json")
    assert bare.returncode == 3 and "log signatures" in bare.stderr
    # shown the chain, each adopts v2 (chained from v1) and cosigns again
    for w in ("w1", "w2"):
        r = ok(_cosign(cli, base, w, base / "cp2.json"))
        assert "adopted trust root v2" in r.stderr
        held = load_pinned_root((base / w / "trust-root.cbor").read_bytes())[1]
        assert held.version == 2
        assert (base / w / "roots" / "1.cbor").read_bytes() == (
            base / "trust-root.cbor"
        ).read_bytes()
    ok(cli("license", "attach", lic, "--authority", auth,
           "--cosig", base / "w1.cosig", "--cosig", base / "w2.cosig"))  # fmt: skip
    new_root = load_pinned_root((base / "w1" / "trust-root.cbor").read_bytes())[1]
    item = InstallFile.decode(lic.read_bytes())
    bundle = InclusionBundle.decode(item.inclusion or b"")
    LogPolicy.from_trust_root(new_root).verify_entry(bundle.entry, bundle)

    # a root v2 signed by one member only does not chain from v1: refused, v1 kept
    ok(cli("root", "propose", "--out", base / "bad.cbor", "--current", base / "trust-root.cbor",
           "--valid-for", "30d"))  # fmt: skip
    ok(cli("root", "sign", base / "bad.cbor", "--key", base / "nl" / "member.key"))
    ok(cli("witness", "init", base / "w3"))
    bad = CosignRequest(request.checkpoint, request.proofs, ((base / "bad.cbor").read_bytes(),))
    (base / "bad.json").write_bytes(bad.to_bytes())
    r = cli("witness", "cosign", base / "bad.json", "--state", base / "w3", "--trust",
            base / "trust-root.cbor", "--out", base / "w3.cosig")  # fmt: skip
    assert r.returncode == 3 and "below_threshold" in r.stderr, r.stderr
    held = load_pinned_root((base / "w3" / "trust-root.cbor").read_bytes())[1]
    assert held.version == 1 and not (base / "w3.cosig").exists()


def test_bad_input_is_named(cli: Cli, founded: Path) -> None:
    base = founded
    empty = cli("license", "checkpoint", "--authority", base / "auth", "--out", base / "cp.json")
    assert empty.returncode == 2 and "empty" in empty.stderr and not (base / "cp.json").exists()
    (base / "junk.json").write_text("{not json")
    r = _cosign(cli, base, "w1", base / "junk.json")
    assert r.returncode == 2 and "malformed" in r.stderr and "Traceback" not in r.stderr
    assert not (base / "w1" / "state.json").exists()
    lic = _issue(cli, base, "ab" * 32, "lic.install")
    ok(cli("license", "checkpoint", "--authority", base / "auth", "--out", base / "cp.json"))
    ok(_cosign(cli, base, "w1", base / "cp.json"))
    (base / "bare.cbor").write_bytes(InstallFile.decode(lic.read_bytes()).envelope)
    r = cli("license", "attach", base / "bare.cbor", "--authority", base / "auth",
            "--cosig", base / "w1.cosig")  # fmt: skip
    assert r.returncode == 3 and "not_logged" in r.stderr
    r = cli("license", "attach", lic, "--authority", base / "auth", "--cosig", base / "junk.json")
    assert r.returncode == 2 and "Traceback" not in r.stderr
