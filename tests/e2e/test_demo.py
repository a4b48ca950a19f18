"""``pausebutton demo``: the whole story end to end, as a subprocess of this tree's CLI.

The demo checks every step's outcome itself; these tests also read its JSON
summary and assert the states, refusals and detections it reports.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    import subprocess
    import sys

    from clienv import cli_env

    state = tmp_path_factory.mktemp("demo") / "state"
    proc = subprocess.run(
        [sys.executable, "-m", "pausebutton", "demo", "--json", "--quick", "--state", state],
        capture_output=True,
        text=True,
        timeout=240,
        env=cli_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    return json.loads(proc.stdout), state


def _step(doc, key):
    return next(s for s in doc["steps"] if s["key"] == key)


def test_every_step_holds_and_runs_fast(summary):
    doc, state = summary
    assert doc["ok"] is True and doc["failed_step"] is None
    assert [s["number"] for s in doc["steps"]] == list(range(1, 13))
    assert all(s["ok"] for s in doc["steps"])
    assert doc["seconds"] < 120
    assert doc["url"].startswith("http://127.0.0.1:")
    assert (state / "authority.db").is_file()  # --state keeps the SQLite database


def test_authority_and_registry(summary):
    doc, _ = summary
    found = _step(doc, "found")["data"]
    assert found["pause_threshold"] == 3 and found["witness_threshold"] == 2
    assert sorted(found["members"].values()) == ["BR", "DE", "FR", "JP", "NL"]
    reg = _step(doc, "registry")["data"]
    assert reg["facilities_seeded"] > 0
    assert reg["facility_source"].startswith("Epoch AI")


def test_licensing_needs_witnesses_and_runs_at_full_rate(summary):
    doc, _ = summary
    agents = _step(doc, "agents")["data"]
    assert agents["nodes"] == {"dc-a": 2, "dc-b": 2, "edge": 1}
    assert set(agents["states"].values()) == {"throttled"}
    lic = _step(doc, "licences")["data"]
    assert lic["unwitnessed_states"] == ["throttled"]
    assert set(lic["states"].values()) == {"licensed"}
    assert lic["work_rate_of_peak"] >= 0.99
    assert lic["reports_ingested"] >= 10
    frontier = _step(doc, "frontier")["data"]
    assert [a["status"] for a in frontier["approvals"][:2]] == ["pending", "pending"]
    assert frontier["status"] in ("approved", "issued") and len(frontier["licence_ids"]) == 2


def test_pause_reaches_every_connected_chip_and_refuses_new_licences(summary):
    doc, _ = summary
    pause = _step(doc, "pause")["data"]
    assert pause["signature_progress"] == [1, 2, 3]
    assert set(pause["states"].values()) == {"paused"} and len(pause["states"]) == 4
    assert 0 < pause["delivery_seconds"] < 10
    assert 0.005 < pause["paused_rate_of_peak"] < 0.02
    assert pause["refused_application"]["status"] == "refused"
    assert any("pause" in r.lower() for r in pause["refused_application"]["reasons"])
    assert all(cap < 700_000 for cap in pause["power_caps_mw"].values())


def test_dead_mans_switch_and_resume(summary):
    doc, _ = summary
    dm = _step(doc, "deadman")["data"]
    assert (dm["before"], dm["after"]) == ("licensed", "throttled")
    assert dm["seconds_counted"] >= 1
    resume = _step(doc, "resume")["data"]
    assert resume["rejected_without_proof"]
    assert set(resume["states"].values()) == {"licensed"}
    assert set(resume["edge_state"].values()) == {"throttled"}
    assert set(resume["power_caps_mw"].values()) == {700_000}


def test_attacks_are_rejected_with_named_errors(summary):
    doc, _ = summary
    rej = _step(doc, "attacks")["data"]["rejections"]
    assert rej["replayed licence"] == "ReplayError"
    assert rej["licence for another chip"] == "WrongChipError"
    assert rej["secret licence"] == "NotLoggedError"
    assert rej["order with 2 signatures"] == "BelowThresholdError"
    assert rej["forged licence"] in ("BadSignatureError", "BelowThresholdError")
    assert rej["rolled-back NVM"] in ("CorruptStateError", "RollbackError")
    assert "ACCEPTED" not in rej.values()


def test_location_detection_and_audit(summary):
    doc, _ = summary
    loc = _step(doc, "location")["data"]
    assert (loc["honest"], loc["relayed"]) == ("consistent", "inconsistent")
    assert loc["rtts_simulated"] is True and loc["relayed_least_distance_km"] > 100
    det = _step(doc, "detect")["data"]
    assert det["alerts"] > 0 and det["true_alerts"] > 0 and det["violators_caught"] > 0
    assert det["false_alerts"] <= det["true_alerts"]
    audit = _step(doc, "audit")["data"]
    assert audit["inclusion_verified"] is True and audit["witness_cosignatures"] >= 2
    assert audit["tampered_entry"] != "ACCEPTED"
    assert audit["log_size"] >= 10


def test_state_folder_must_be_empty_unless_fresh(cli, tmp_path):
    state = tmp_path / "busy"
    state.mkdir()
    (state / "something").write_text("x")
    r = cli("demo", "--quick", "--state", state)
    assert r.returncode == 2, r.stderr
    assert "not empty" in r.stderr and "Traceback" not in r.stderr
    assert (state / "something").exists()


@pytest.mark.parametrize("chips", ["0", "65"])
def test_chips_out_of_range_is_refused_before_anything_starts(cli, tmp_path, chips):
    state = tmp_path / "state"
    r = cli("demo", "--quick", "--chips", chips, "--no-epoch", "--state", state)
    assert r.returncode == 2, r.stderr
    assert "--chips must be between 1 and 64" in r.stderr and "Traceback" not in r.stderr
    assert "pausebutton demo" not in r.stdout  # refused before the header and the state folder
    assert not state.exists()


def test_rich_output_names_every_step(cli):
    r = cli("demo", "--quick", "--chips", "1", "--no-epoch", timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    for title in ("Found the authority", "PAUSE", "RESUME", "Attack gallery", "summary"):
        assert title in r.stdout
    assert "built-in sample facilities" in r.stdout
    assert "✗" not in r.stdout


def test_a_failed_expectation_stops_the_demo_and_names_the_step(monkeypatch, tmp_path):
    """In-process: a step whose outcome does not hold ends the run with exit 1, names the
    step, runs no later step, and stops the server and agents."""
    import threading

    from typer.testing import CliRunner

    from pausebutton.cli.main import app
    from pausebutton.sim import demo as sim

    def broken(d, r):
        raise sim.ExpectationFailed("chips did not go PAUSED (injected)")

    monkeypatch.setattr(sim, "step_pause", broken)
    state = tmp_path / "state"
    result = CliRunner().invoke(
        app, ["demo", "--quick", "--chips", "1", "--no-epoch", "--json", "--state", str(state)]
    )
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["failed_step"] == 6
    assert [s["ok"] for s in doc["steps"]] == [True] * 5 + [False]
    assert doc["steps"][-1]["failure"] == "chips did not go PAUSED (injected)"
    assert "demo failed at step 6 (PAUSE)" in result.stderr
    alive = {t.name for t in threading.enumerate()}
    assert "authority" not in alive and not any(n.startswith("agent-") for n in alive)
