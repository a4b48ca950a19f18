"""``pausebutton demo --serve``: after the story the authority and its console keep
serving at the printed URL (until Ctrl-C; here the wait is replaced by a look at it)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.timeout(300)


def test_demo_serve_leaves_the_console_running(monkeypatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pausebutton import keystore
    from pausebutton.bench.console import sign_in
    from pausebutton.cli import demo as cli_demo
    from pausebutton.cli.main import app
    from pausebutton.sim import demo as sim

    # the story up to the enrolled agents is enough to have a registry to look at
    for act in ("licences", "frontier", "pause", "deadman", "resume", "attacks"):
        monkeypatch.setattr(sim, f"step_{act}", lambda d, r: None)
    for act in ("location", "detect", "audit"):
        monkeypatch.setattr(sim, f"step_{act}", lambda d, r: None)
    state = tmp_path / "state"
    seen: dict[str, object] = {}

    def look(url: str) -> None:
        admin = keystore.read_private_key(state / "admin.key")
        with httpx.Client(base_url=url, timeout=30) as http:
            http.cookies.set("pb_console", sign_in(url, admin))
            seen["page"] = http.get("/console/").status_code
            seen["map"] = http.get("/console/api/map").json()
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_demo, "_wait", look)
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--quick",
            "--chips",
            "1",
            "--no-epoch",
            "--json",
            "--serve",
            "--state",
            str(state),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert "/console/" in result.stderr and doc["url"] in result.stderr
    assert seen["page"] == 200
    data = seen["map"]
    assert isinstance(data, dict)
    names = {f[1] for f in data["facilities"]}
    assert "Polder Compute AMS1" in names and "Rhein AI FRA2" in names
    chips = sum(sum(f[6]) for f in data["facilities"])
    assert chips >= 2
