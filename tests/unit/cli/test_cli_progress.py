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
