"""``pausebutton conformance``: run the firmware conformance kit against a chip CLI."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from pausebutton.chip.conformance import default_scenarios, load_scenarios, run_all
from pausebutton.cli.common import EXIT_REJECTED, out, print_json
from pausebutton.cli.inprocess import run_captured
from pausebutton.cli.progress import progress
from pausebutton.errors import UsageError

app = typer.Typer(help="The firmware conformance kit: scenarios as data, any chip CLI.")

_one_at_a_time = threading.Lock()


def in_process_chip_cli(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """This pausebutton's chip CLI, run in this process (one run at a time: a run captures
    the process's stdout and stderr); what a subprocess of it would answer, without the
    process start."""
    with _one_at_a_time:
        return run_captured(args)


@app.command("run")
def run(
    chip_cli: Annotated[
        str | None,
        typer.Option(
            "--chip-cli",
            help='Command that implements the chip CLI contract, e.g. "pausebutton" or'
            ' "python -m mychip", run as subprocesses (default: this pausebutton,'
            " in-process).",
        ),
    ] = None,
    scenarios: Annotated[
        Path | None,
        typer.Option(
            help="Directory of scenario JSON files (default: the scenarios shipped with"
            " pausebutton)."
        ),
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only scenarios whose name contains this.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Scenarios run in parallel.")] = 2,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON results.")] = False,
) -> None:
    """Run every scenario (accept and reject cases with their expected reasons) against
    CMD's ``chip`` verbs. Exit 0 if all pass, 3 if any fails."""
    found = load_scenarios(scenarios if scenarios is not None else default_scenarios())
    if only:
        found = [s for s in found if any(o in s["name"] for o in only)]
    if not found:
        raise UsageError("no scenarios selected")
    with progress(len(found), "conformance scenarios", quiet=json_out) as done:
        results = run_all(
            chip_cli or in_process_chip_cli, found, jobs=jobs, on_done=lambda _: done()
        )
    failed = [r for r in results if not r.passed]
    if json_out:
        print_json(
            {
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "scenarios": [
                    {"name": r.name, "passed": r.passed, "steps": r.steps, "message": r.message}
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            mark = "PASS" if r.passed else "FAIL"
            out.print(
                f"{mark}  {r.name}  ({r.seconds:.1f} s){'  ' + r.message if r.message else ''}"
            )
        out.print(f"{len(results) - len(failed)} of {len(results)} scenarios passed")
    if failed:
        raise typer.Exit(EXIT_REJECTED)
