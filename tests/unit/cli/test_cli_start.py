"""The command line starts light: a verb imports what it uses, help still lists every verb.

Start times are measured by ``pausebutton bench cli`` (a benchmark, not a timed test); these
tests check the cause instead: which heavy modules a command imports. A few true subprocess
runs check the entry point itself (exit status, one-line errors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from clienv import cli_env
from pausebutton.cli.main import GROUPS, SUMMARIES, load_command

HEAVY = ["scipy", "shapely", "ruptures", "torch", "fastapi", "sqlalchemy", "uvicorn", "httpx"]

_PROBE = """
import json, sys
from pausebutton.cli.main import execute
code = execute(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(%r)))
print(json.dumps({"code": code, "heavy": heavy}))
"""


def _imports_of(*args: str, heavy: list[str] = HEAVY) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE % json.dumps(heavy), *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    doc: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc


def test_version_imports_no_heavy_module() -> None:
    assert _imports_of("--version", heavy=[*HEAVY, "rich", "pydantic"]) == {"code": 0, "heavy": []}


def test_sim_help_imports_no_dask_or_matplotlib() -> None:
    doc = _imports_of("sim", "--help", heavy=[*HEAVY, "dask", "distributed", "matplotlib"])
    assert doc == {"code": 0, "heavy": []}


def test_chip_status_imports_no_heavy_module(tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = _imports_of("chip", "status", str(tmp_path / "no-chip"))
    assert doc == {"code": 2, "heavy": []}


def test_an_online_verb_loads_httpx_only_when_it_runs() -> None:
    assert _imports_of("registry", "--help")["heavy"] == []
    # a dead authority: the client is made (httpx), the command fails with a named error
    doc = _imports_of("registry", "owners", "--url", "http://127.0.0.1:9")
    assert doc["code"] != 0 and doc["heavy"] == ["httpx"]


def test_help_lists_every_command_group(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("--help")
    assert r.returncode == 0
    listed = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("│ ")}
    assert set(GROUPS) <= listed
    # each group shows its own help line (loaded from its module), e.g. the chip's
    assert any(
        line.split()[1:2] == ["chip"] and len(line.split()) > 3
        for line in r.stdout.splitlines()
        if line.startswith("│ ")
    )


def test_in_process_and_subprocess_runs_agree(cli, cli_subprocess, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for args in (["--version"], ["chip", "status", str(tmp_path / "none")], ["chip", "bogus"]):
        a, b = cli(*args), cli_subprocess(*args)
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args


def test_subprocess_smoke_version_help_and_error(cli_subprocess, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = cli_subprocess("--version")
    assert r.returncode == 0 and r.stdout.startswith("pausebutton ")
    r = cli_subprocess("--help")
    assert r.returncode == 0 and "conformance" in r.stdout and "Traceback" not in r.stderr
    r = cli_subprocess("chip", "status", tmp_path / "none")
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_a_mistyped_group_gets_a_suggestion(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("chp", "status")
    assert r.returncode == 2
    assert "No such command 'chp'. Did you mean 'chip'?" in r.stderr


def test_an_in_process_run_leaves_the_environment_as_it_was(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PB_AUTHORITY_URL", raising=False)
    r = cli("registry", "owners", env={"PB_AUTHORITY_URL": "http://127.0.0.1:9"})
    assert r.returncode != 0 and "127.0.0.1:9" in r.stderr  # the override reached the verb
    assert "PB_AUTHORITY_URL" not in os.environ


def test_help_lines_listed_without_loading_equal_the_groups_own() -> None:
    assert list(SUMMARIES) == list(GROUPS)
    for name in GROUPS:
        command = load_command(name)
        help_text = (command.help or "").split("\n\nExample: ")[0]  # a single verb's example
        assert help_text == SUMMARIES[name], name
        # the listing shows only name and help: nothing else may differ
        assert not command.short_help and not command.deprecated and not command.hidden, name
        assert not getattr(command, "rich_help_panel", None), name


def test_top_level_help_imports_no_command_group() -> None:
    doc = _imports_of("--help", heavy=[*HEAVY, "numpy", "pydantic"])
    assert doc == {"code": 0, "heavy": []}
