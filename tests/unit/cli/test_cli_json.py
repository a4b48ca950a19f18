"""``--json`` on the offline verbs that print a result: the same facts as the line for
people, as one JSON document a script reads (docs/cli.md, house rule 4); and ``chip run``
and ``chip status`` read for people by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def ok_json(cli: Any, *args: Any, code: int = 0) -> Any:
    r = cli(*args, "--json")
    assert r.returncode == code, (args, r.stderr)
    return json.loads(r.stdout)


def test_offline_verbs_print_json_for_scripts(cli: Any, tmp_path: Path) -> None:
    auth, vendor, chip = tmp_path / "auth", tmp_path / "vendor", tmp_path / "chip1"
    doc = ok_json(cli, "authority", "init", auth, "--members", "3", "--threshold", "2")
    root = Path(doc["trust_root"])
    assert doc["threshold"] == 2 and root.is_file() and isinstance(doc["expires"], int)
    doc = ok_json(cli, "vendor", "init", "--out", vendor, "--name", "V")
    assert len(doc["key_id"]) == 64 and doc["name"] == "V"
    doc = ok_json(cli, "chip", "new", chip, "--trust", root, "--vendor", vendor, "--region", "NL")
    chip_id = doc["chip_id"]
    assert len(chip_id) == 64 and doc["region"] == "NL" and doc["state"] == "throttled"

    lic = tmp_path / "lic.bundle"
    r = cli("license", "issue", "--authority", auth, "--chip", chip_id, "--flop", "1e18",
            "--valid-for", "1d", "--out", lic)  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = ok_json(cli, "chip", "install", chip, lic)
    assert doc["accepted"] is True and doc["state"] == "licensed"

    # people's view: FLOP with a unit; --json: the exact counts
    r = cli("chip", "run", chip, "--flop", "1e15")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (
        "ran 1.0e15 FLOP: 1.0e15 FLOP at full rate, 0 FLOP throttled (state licensed)"
    )
    doc = ok_json(cli, "chip", "run", chip, "--flop", "1e15")
    assert (doc["flop_full"], doc["flop_throttled"]) == (10**15, 0)
    r = cli("chip", "status", chip)
    assert "2.0e15 FLOP" in r.stdout and "Z (trusted)" in r.stdout, r.stdout
    assert "e17 FLOP of 1.0e18 FLOP left, until 20" in r.stdout, r.stdout

    report = tmp_path / "r1.cbor"
    doc = ok_json(cli, "chip", "report", chip, "--out", report)
    assert doc["sequence"] == 1 and report.stat().st_size == doc["bytes"]
    r = cli("chip", "report", chip, "--json")  # the report itself would go to stdout
    assert r.returncode == 2 and "--out" in r.stderr
    cert = tmp_path / "chip1.cert"
    assert cli("chip", "certificate", chip, "--out", cert).returncode == 0
    doc = ok_json(cli, "chip", "verify-reports", report, "--certificate", cert)
    assert doc == {"verified": 1, "last_sequence": 1, "last_flop_full": 2 * 10**15}

    order = tmp_path / "pause1.cbor"
    doc = ok_json(cli, "pause", "propose", "--reason", "drill", "--scope", "region:NL",
                  "--authority", auth, "--out", order)  # fmt: skip
    assert doc["type"] == "pause-order" and doc["signatures"] == 0
    for i in (1, 2):
        doc = ok_json(cli, "pause", "sign", order, "--key", auth / "members" / f"member-{i}.key")
        assert doc["signatures"] == i
    assembled = tmp_path / "pause1.order"
    doc = ok_json(cli, "pause", "assemble", order, "--trust", root, "--out", assembled)
    assert (doc["signed"], doc["threshold"], doc["logged"]) == (2, 2, False)
    doc = ok_json(cli, "chip", "install", chip, assembled)
    assert doc["state"] == "paused"
    r = cli("chip", "run", chip, "--flop", "1e15")
    assert r.returncode == 4 and "1.0e15 FLOP throttled (state paused)" in r.stdout
    assert "pauses    1 in force" in cli("chip", "status", chip).stdout

    doc = ok_json(cli, "root", "show", root)
    assert doc["version"] == 1 and doc["signed"] >= doc["threshold"]
    r = cli("root", "show", root)
    assert r.returncode == 0 and "expires 20" in r.stdout  # ISO 8601, not Unix seconds

    doc = ok_json(cli, "chip", "tamper", chip)
    assert doc["state"] == "tampered"


def test_keys_lists_and_scenarios_print_json_too(cli: Any, tmp_path: Path) -> None:
    doc = ok_json(cli, "member", "init", tmp_path / "nl", "--name", "NL", "--region", "NL")
    assert doc["name"] == "NL" and Path(doc["card"]).is_file() and len(doc["key_id"]) == 64
    doc = ok_json(cli, "witness", "init", tmp_path / "w1", "--name", "w1")
    assert doc["name"] == "w1" and Path(doc["card"]).is_file()
    script = tmp_path / "train.py"
    script.write_text("print('banned')\n")
    plist = tmp_path / "list.cbor"
    doc = ok_json(cli, "prohibited", "propose", "--out", plist, "--code", script)
    assert doc["sequence"] == 1 and doc["signatures"] == 0
    assert [a["kind"] for a in doc["artifacts"]] == ["code"]
    doc = ok_json(cli, "prohibited", "sign", plist, "--key", tmp_path / "nl" / "member.key")
    assert doc["signatures"] == 1
    doc = ok_json(cli, "detect", "demo", "--out", tmp_path / "scenario", "--actors", "3",
                  "--days", "7")  # fmt: skip
    assert Path(doc["registry"]).is_dir() and doc["end"].endswith("Z")
    doc = ok_json(cli, "detect", "whistle", "keygen", tmp_path / "wb.key", tmp_path / "wb.pub")
    assert (tmp_path / "wb.pub").read_text().strip() == doc["public_key"]
