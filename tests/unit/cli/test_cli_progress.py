"""Progress bars show to a person at a terminal and to nobody else."""

from __future__ import annotations

import io
import sys

import pytest

from pausebutton.cli.progress import progress, wanted


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_bar_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout, stderr = Tty(), Tty()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert wanted()
    with progress(3, "scenarios") as done:
        for _ in range(3):
            done()
    assert "scenarios" in stderr.getvalue() and stdout.getvalue() == ""


@pytest.mark.parametrize("case", ["json", "pipe", "stderr-file"])
def test_scripts_pipes_and_logs_see_nothing(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    stdout = io.StringIO() if case == "pipe" else Tty()
    stderr = io.StringIO() if case == "stderr-file" else Tty()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    with progress(3, "scenarios", quiet=case == "json") as done:
        for _ in range(3):
            done()
    assert stdout.getvalue() == "" and stderr.getvalue() == ""


def test_conformance_json_output_stays_clean(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("conformance", "run", "--only", "license", "--json", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.lstrip().startswith("{") and r.stderr == ""


def test_phases_and_steps_name_the_step_running(monkeypatch: pytest.MonkeyPatch) -> None:
    from pausebutton.bench import phase, phases_to
    from pausebutton.cli.progress import phases, steps

    stdout, stderr = Tty(), Tty()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    with phases(["reading the tables", "importing"]) as start:
        start("reading the tables")
        start("importing")
    assert "importing" in stderr.getvalue()
    # a benchmark's phases reach the bar through bench.phase, and only while it runs
    with steps("bench chip") as start, phases_to(start):
        phase("metering")
    phase("after the run: nobody listens")
    assert "bench chip: metering" in stderr.getvalue()
    assert "nobody listens" not in stderr.getvalue() and stdout.getvalue() == ""
    quiet = Tty()
    monkeypatch.setattr(sys, "stderr", quiet)
    with steps("bench chip", quiet=True) as start, phases_to(start):
        phase("metering")
    assert quiet.getvalue() == ""


def test_bench_json_output_stays_clean(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("bench", "chip", "--quick", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.lstrip().startswith("{") and "\x1b" not in r.stderr
