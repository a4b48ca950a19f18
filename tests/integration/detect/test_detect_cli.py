"""The ``pausebutton detect`` and ``bench detect`` commands, run as real subprocesses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pausebutton.detect.registry import Chip, Facility, Owner, Registry, export_registry

H100 = "NVIDIA H100 SXM5 80GB"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_estimate_json_contract(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "detect", "estimate", "--hardware", H100, "--power-w", "1e7", "--hours", "720", "--json"
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["method"] == "energy"
    assert doc["low"] < doc["flop"] < doc["high"]
    r2 = cli(
        "detect",
        "estimate",
        "--hardware",
        H100,
        "--power-w",
        "1e7",
        "--hours",
        "720",
        "--chips",
        "5000",
        "--json",
    )
    doc2 = json.loads(r2.stdout)
    # with chips the model using everything known is primary, the one-prior methods follow
    assert doc2["method"] == "model"
    assert [a["method"] for a in doc2["alternatives"]] == ["chips", "energy"]
    assert doc2["low"] < doc2["flop"] < doc2["high"]
    assert doc2["inputs"]["interval_group"] == "no_mfu_large"


def test_estimate_unknown_hardware_lists_close_matches(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "detect", "estimate", "--hardware", "H100 SXM", "--power-w", "1e7", "--hours", "1", "--json"
    )
    assert r.returncode == 2
    assert "unknown hardware" in r.stderr and H100 in r.stderr
    assert "Traceback" not in r.stderr
    neg = cli("detect", "estimate", "--hardware", H100, "--power-w", "-5", "--hours", "1")
    assert neg.returncode == 2 and "negative" in neg.stderr


def _world(tmp: Path) -> tuple[Path, Path]:
    reg = Registry.build(
        [Owner("o1"), Owner("o2")],
        [Facility("f1", "o1", "NL", 20e6), Facility("f2", "o2", "DE", 20e6)],
        [Chip(f"f1-{i}", H100, "f1", "o1") for i in range(50)]
        + [Chip(f"f2-{i}", H100, "f2", "o2") for i in range(50)],
        [],
    )
    rdir = tmp / "registry"
    rdir.mkdir()
    for name, text in export_registry(reg).items():
        (rdir / f"{name}.csv").write_text(text)
    lines = ["site,time,reading,period_s,source"]
    for site, extra in (("f1", 10.0), ("f2", 0.0)):
        for h in range(0, 60 * 24, 6):
            day = h // 24
            mw = 5.0 + (0.1 if h % 12 else -0.1) + (extra if 20 <= day < 45 else 0.0)
            when = (T0 + timedelta(hours=h)).isoformat().replace("+00:00", "Z")
            lines.append(f"{site},{when},{mw * 6} MWh,21600,grid")
    (tmp / "energy.csv").write_text("\n".join(lines) + "\n")
    (tmp / "location.json").write_text(
        json.dumps(
            {
                "kind": "location",
                "version": 1,
                "rows": [
                    {
                        "chip_serial": "f1-1",
                        "claimed_facility": "f1",
                        "time": "2026-01-05T00:00:00Z",
                        "consistent": False,
                    },
                    {
                        "chip_serial": "f1-2",
                        "claimed_facility": "f1",
                        "time": "2026-01-05T00:00:00Z",
                        "consistent": "false",
                    },
                    {
                        "chip_serial": "f1-3",
                        "claimed_facility": "f1",
                        "time": "2026-01-05",
                        "consistent": "perhaps",
                    },
                ],
            }
        )
    )
    return rdir, tmp / "store"


def test_import_check_and_alerts(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rdir, store = _world(tmp_path)
    r = cli(
        "detect",
        "import",
        tmp_path / "energy.csv",
        tmp_path / "location.json",
        "--store",
        store,
        "--json",
    )
    assert r.returncode == 2  # one bad row in location.json
    rep = json.loads(r.stdout)
    assert rep[0]["added"] > 400 and rep[0]["errors"] == []
    assert rep[1]["added"] == 2
    (bad,) = rep[1]["errors"]
    assert (bad["file"], bad["row"], bad["field"]) == ("location.json", 3, "consistent")
    # re-importing the same ids is refused and changes nothing
    before = (store / "energy.csv").read_bytes()
    runs = cli("detect", "runs", "--store", store, "--registry", rdir, "--json")
    assert runs.returncode == 0, runs.stderr
    (run,) = json.loads(runs.stdout)
    assert run["site"] == "f1" and 550 < run["hours"] < 650
    chk = cli(
        "detect",
        "check",
        "--store",
        store,
        "--registry",
        rdir,
        "--now",
        "2026-03-15T00:00:00Z",
        "--json",
    )
    assert chk.returncode == 3, chk.stderr
    doc = json.loads(chk.stdout)
    subjects = {(a["kind"], a["subject"]) for a in doc["alerts"]}
    assert ("owner", "o1") in subjects and not any(s in {"o2", "f2"} for _, s in subjects)
    owner = next(a for a in doc["alerts"] if a["subject"] == "o1")
    assert set(owner["methods"]) == {"energy", "location"}
    labels = {e["label"] for f in owner["findings"] for e in f["evidence"]}
    assert labels == {"reported", "calculated", "estimated"}
    table = cli(
        "detect", "check", "--store", store, "--registry", rdir, "--now", "2026-03-15T00:00:00Z"
    )
    assert table.returncode == 3 and "unlicensed_run" in table.stdout and "evidence" in table.stdout
    assert (store / "energy.csv").read_bytes() == before
    early = cli(
        "detect",
        "check",
        "--store",
        store,
        "--registry",
        rdir,
        "--now",
        "2026-01-02T00:00:00Z",
        "--json",
    )
    assert early.returncode == 0 and json.loads(early.stdout)["alerts"] == []


def test_schema_lists_ten_methods(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("detect", "schema", "--json")
    assert r.returncode == 0
    assert len(json.loads(r.stdout)) == 10


def test_whistle_flow(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sk, pk, db = tmp_path / "wb.key", tmp_path / "wb.pub", tmp_path / "wb.sqlite"
    assert cli("detect", "whistle", "keygen", sk, pk).returncode == 0
    assert oct(sk.stat().st_mode & 0o777) == "0o600"
    sub = cli(
        "detect",
        "whistle",
        "submit",
        "--key",
        pk,
        "--store",
        db,
        "--claim",
        "secret run at f1",
        "--site",
        "f1",
        "--json",
    )
    assert sub.returncode == 0, sub.stderr
    receipt = json.loads(sub.stdout)["receipt"]
    got = cli(
        "detect",
        "whistle",
        "intake",
        "--store",
        db,
        "--key",
        sk,
        "--signals",
        tmp_path / "signals",
        "--now",
        "2026-02-01T10:00:00Z",
        "--json",
    )
    assert got.returncode == 0, got.stderr
    (opened,) = json.loads(got.stdout)["opened"]
    assert opened["claim"] == "secret run at f1" and "receipt" not in opened
    assert "secret run at f1" in (tmp_path / "signals" / "whistleblower.csv").read_text()
    rep = cli(
        "detect",
        "whistle",
        "reply",
        "--store",
        db,
        "--key",
        sk,
        "--submission",
        opened["submission"],
        "--message",
        "Which hall?",
    )
    assert rep.returncode == 0, rep.stderr
    st = cli("detect", "whistle", "status", "--store", db, "--receipt", receipt, "--json")
    assert json.loads(st.stdout) == {"replies": ["Which hall?"]}
    wrong = cli("detect", "whistle", "intake", "--store", db, "--key", pk, "--json")
    assert wrong.returncode == 0  # nothing new to open


def test_inspect_schedule(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rdir, store = _world(tmp_path)
    cli("detect", "import", tmp_path / "energy.csv", tmp_path / "location.json", "--store", store)
    seed = tmp_path / "seed"
    seed.write_bytes(b"a secret seed of enough bytes")
    r = cli(
        "detect",
        "inspect",
        "schedule",
        "--registry",
        rdir,
        "--seed-file",
        seed,
        "--store",
        store,
        "--now",
        "2026-03-15T00:00:00Z",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    tasks = json.loads(r.stdout)
    last = tmp_path / "last.json"
    last.write_text(json.dumps({"f1": "2026-03-01T00:00:00Z", "f2": "2026-03-01T00:00:00Z"}))
    r2 = cli(
        "detect", "inspect", "schedule", "--registry", rdir, "--seed-file", seed,
        "--last", last, "--random-rate", "0", "--now", "2026-03-15T00:00:00Z", "--json",
    )  # fmt: skip
    assert r2.returncode == 0 and json.loads(r2.stdout) == []
    assert tasks[0]["trigger"] == "challenge" and tasks[0]["target"] in ("f1", "o1")
    assert {t["target"] for t in tasks if t["trigger"] == "periodic"} == {"f1", "f2"} - {
        t["target"] for t in tasks if t["trigger"] == "challenge"
    }


def test_bench_detect_quick(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("bench", "detect", "--quick", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc["methods"]) == {*(m for m in doc["methods"] if m != "fused"), "fused"}
    # each method, fused, and the rows without the authority's newer evidence
    assert len(doc["methods"]) == 14
    assert {"location: landmarks only", "customs: without custody"} <= set(doc["methods"])
    assert "fused: without the authority's evidence" in doc["methods"]
    for v in doc["methods"].values():
        assert v["false_alert_rate"] <= doc["target_false_alert_rate"]
    assert doc["fused_recall"] == doc["methods"]["fused"]["recall"]
    assert doc["fused_beats_every_single_method"] is (
        doc["fused_recall"] > doc["best_single_method_recall"]
    )
    est = doc["compute_estimates"]
    assert est["runs"] == 137 and est["runs_with_reported_mfu"] == 26
    for name in ("one_prior", "model"):
        fig = est["estimators"][name]
        # width printed beside coverage, both out of sample
        assert set(fig["coverage"]) == set(fig["median_width_x"]) == {"0.8", "0.9"}


def test_calibrate_and_hardware_verbs(cli, notable_models_csv: Path) -> None:  # type: ignore[no-untyped-def]
    models = notable_models_csv
    r = cli("detect", "calibrate", models, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (
        doc["methods"]["chips"]["shipped"] is True and doc["methods"]["energy"]["shipped"] is True
    )
    assert doc["methods"]["chips"]["coverage_cross_validated"]["0.9"] == 0.8832
    h = cli("detect", "hardware", "H100", "--json")
    names = [x["name"] for x in json.loads(h.stdout)]
    assert H100 in names and all("H100" in n for n in names)


def test_demo_scenario_end_to_end(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    demo = tmp_path / "demo"
    r = cli("detect", "demo", demo, "--actors", "20", "--days", "40", "--seed", "7")
    assert r.returncode == 0, r.stderr
    truth = {a["owner"]: a["kind"] for a in json.loads((demo / "truth.json").read_text())["actors"]}
    files = sorted((demo / "signals").glob("*.csv"))
    assert len(files) == 10
    imp = cli("detect", "import", *files, "--store", tmp_path / "s", "--json")
    assert imp.returncode == 0, imp.stderr
    chk = cli(
        "detect", "check", "--store", tmp_path / "s", "--registry", demo / "registry",
        "--now", "2026-02-10T00:00:00Z", "--threshold-flop", "1e21",
        "--min-step", "20 kW", "--min-hours", "48", "--json",
    )  # fmt: skip
    assert chk.returncode == 3, chk.stderr
    flagged = {a["subject"] for a in json.loads(chk.stdout)["alerts"] if a["kind"] == "owner"}
    assert flagged and all(not truth[o].startswith("honest") for o in flagged)
    bad = cli("detect", "check", "--store", tmp_path / "s", "--min-step", "20")
    assert bad.returncode == 2 and "no unit" in bad.stderr
