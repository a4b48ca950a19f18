"""``pausebutton sim``: the example scenarios run small, reports written, bad input named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SMALL = ["--chips", "3000", "--days", "20", "--seeds", "1", "--workers", "1"]


@pytest.mark.parametrize("name", ["world-pause", "covert-cluster", "smuggling-ring"])
def test_each_example_runs_small_and_writes_its_report(cli, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / name
    r = cli("sim", "run", str(EXAMPLES / f"{name}.toml"), "--out", str(out), *SMALL)
    assert r.returncode == 0, r.stderr
    assert "real code checked" in r.stdout and "agreed" in r.stdout
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and "Epoch AI" in html
    summary = json.loads((out / "results.json").read_text())
    assert summary["scenario"] == name and summary["hybrid_chip_days_checked"] > 0
    assert set(summary["evasions"]) and (out / "stopped.png").read_bytes()[:4] == b"\x89PNG"
    # the same command again resumes: nothing left to compute, the same figures
    again = cli("sim", "run", str(EXAMPLES / f"{name}.toml"), "--out", str(out), *SMALL, "--json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["shards_computed"] == 0 and doc["world_stopped"] == summary["world_stopped"]


def test_an_out_of_range_parameter_exits_2_naming_the_range(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("[regime]\nmax_offline_days = 0\n")
    r = cli("sim", "run", str(bad), "--out", str(tmp_path / "run"))
    assert r.returncode == 2
    assert "regime.max_offline_days = 0 is out of range: allowed 1 to 365" in r.stderr
    assert not (tmp_path / "run").exists()


def test_an_unreachable_address_exits_1_with_a_clear_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "sim",
        "run",
        str(EXAMPLES / "world-pause.toml"),
        *SMALL[:6],
        "--out",
        str(tmp_path / "r"),
        "--address",
        "tcp://127.0.0.1:9",
        "--connect-timeout",
        "1",
    )
    assert r.returncode == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_sweep_draws_the_trade_off(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "sim",
        "sweep",
        str(EXAMPLES / "smuggling-ring.toml"),
        "--param",
        "regime.landmark_spacing_km",
        "--values",
        "100,2000",
        *SMALL,
        "--out",
        str(tmp_path),
        "--json",
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [row["value"] for row in rows] == [100, 2000]
    # denser landmarks catch more relays
    assert rows[0]["detect_relay_smuggling"] > rows[1]["detect_relay_smuggling"]
    assert rows[0]["total_cost"] > rows[1]["total_cost"]
    assert "data:image/png;base64," in (tmp_path / "sweep.html").read_text()
    bad = cli(
        "sim",
        "sweep",
        str(EXAMPLES / "smuggling-ring.toml"),
        "--param",
        "regime.k",
        "--values",
        "9",
        "--out",
        str(tmp_path / "b"),
    )
    assert bad.returncode == 2 and "regime.k = 9 must be at most regime.n = 5" in bad.stderr
