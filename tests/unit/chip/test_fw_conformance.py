"""The conformance kit passes every scenario against this implementation's chip CLI."""

from __future__ import annotations

import json

import pytest

from pausebutton.chip.conformance import default_scenarios, load_scenarios, own_chip_cli


def test_scenarios_are_data_with_reasons() -> None:
    scenarios = load_scenarios(default_scenarios())
    assert len(scenarios) >= 30
    reasons = {
        s.get("expect")
        for sc in scenarios
        for s in sc["steps"]
        if s.get("expect") not in (None, "accepted")
    }
    assert {"replay", "rollback", "wrong_chip", "below_threshold", "not_logged"} <= reasons


@pytest.mark.slow
def test_conformance_kit_passes_on_our_chip(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("conformance", "run", "--json", "--jobs", "2", timeout=290)
    doc = json.loads(proc.stdout)
    failed = [s for s in doc["scenarios"] if not s["passed"]]
    assert not failed, failed
    assert proc.returncode == 0
    assert doc["passed"] == len(load_scenarios(default_scenarios()))


def test_conformance_kit_catches_a_broken_chip(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a "chip" that accepts everything fails the reject scenarios
    fake = tmp_path / "fakechip"
    fake.write_text("#!/bin/sh\necho ok\nexit 0\n")
    fake.chmod(0o755)
    proc = cli("conformance", "run", "--chip-cli", str(fake), "--only", "replayed", "--json")
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["failed"] == 1


def test_conformance_kit_drives_an_external_chip_cli(cli) -> None:  # type: ignore[no-untyped-def]
    # our own chip, but as a command run in subprocesses, as a vendor's would be
    proc = cli("conformance", "run", "--chip-cli", own_chip_cli(), "--only", "replayed", "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, doc
    assert doc["passed"] == 1 and doc["failed"] == 0
