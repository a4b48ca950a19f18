"""``pausebutton demo``: the whole pause-button story on this machine, on the real components."""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pausebutton.cli.common import EXIT_ERROR, err, out, print_json
from pausebutton.errors import DataError, UsageError

if TYPE_CHECKING:
    from pausebutton.sim.demo import DemoResult, StepResult


def _find_epoch(option: Path | None) -> Path:
    """The Epoch AI data folder: ``--epoch-dir`` if given, else the tables shipped with the
    package."""
    if option is None:
        from pausebutton.data import epoch_dir

        return epoch_dir()
    if not (option / "gpu_clusters" / "gpu_clusters.csv").is_file():
        raise DataError(
            f"{option}: no gpu_clusters/gpu_clusters.csv (the Epoch AI data folder)",
            file=str(option),
        )
    return option


def _state_dir(state: Path | None, fresh: bool) -> tuple[Path, bool]:
    """The folder the demo works in, and whether it is a temporary one: ``--state`` (which
    must be empty unless ``--fresh`` empties it), else a fresh temporary folder."""
    if state is None:
        return Path(tempfile.mkdtemp(prefix="pausebutton-demo-")), True
    if state.exists() and any(state.iterdir()):
        if not fresh:
            raise DataError(
                f"{state} is not empty; give an empty folder or add --fresh", file=str(state)
            )
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    return state, False


class _Progress:
    """Renders each step as it starts and ends: Rich rules, tables and notes on stdout, or
    with ``--json`` one line per step on stderr (stdout is kept for the JSON)."""

    def __init__(self, *, json_out: bool, steps: int) -> None:
        self.json_out = json_out
        self.steps = steps

    def start(self, r: StepResult) -> None:
        if self.json_out:
            err.print(f"[{r.number}/{self.steps}] {r.title} ...", markup=False)
            return
        out.print()
        out.rule(f"[bold]{r.number}/{self.steps}  {r.title}[/bold]", align="left")
        out.print(f"[dim]{r.explanation}[/dim]")

    def event(self, line: str) -> None:
        if not self.json_out:
            out.print(f"  [cyan]·[/cyan] {line}")

    def done(self, r: StepResult) -> None:
        if self.json_out:
            return
        for t in r.tables:
            table = Table(*t.columns, title=t.title, title_justify="left")
            for row in t.rows:
                table.add_row(*row)
            out.print(table)
        for note in r.notes:
            out.print(f"[yellow]note:[/yellow] {note}")
        if r.ok:
            out.print(f"[green]✓[/green] {r.summary}  [dim]({r.seconds:.2f} s)[/dim]")
        else:
            out.print(f"[red]✗ step {r.number} failed:[/red] {r.failure}", markup=True)


def _print_summary(result: DemoResult, *, epoch: bool, kept: str) -> None:
    table = Table("step", "title", "result", "seconds", title="summary", title_justify="left")
    for r in result.steps:
        table.add_row(
            str(r.number),
            r.title,
            "[green]ok[/green]" if r.ok else f"[red]FAILED[/red]: {r.failure}",
            f"{r.seconds:.2f}",
        )
    out.print()
    out.print(table)
    if epoch:
        out.print(
            "[dim]Facility data: Epoch AI, 'Data on Frontier AI Data Centers' and"
            " 'Data on GPU Clusters' (CC BY 4.0).[/dim]"
        )
    out.print(f"total {result.seconds:.1f} s{kept}")


def _hold(directory: Path, json_out: bool, result: DemoResult) -> None:
    """``--serve``: say where the console is and wait for Ctrl-C."""
    console = f"{result.url}/console/"
    keys = f"{directory / 'authority' / 'members'}/*.key, {directory / 'admin.key'}"
    if json_out:
        err.print(f"console at {console} (sign in with {keys}); Ctrl-C to stop", markup=False)
    else:
        out.print()
        out.print(f"[bold]The authority and its console keep running at {console}[/bold]")
        out.print(f"Sign in with a member's or the admin's key file: {keys}")
        out.print("Ctrl-C to stop.")
    try:
        _wait(str(result.url))
    except KeyboardInterrupt:
        (err if json_out else out).print("stopping")


def _wait(url: str) -> None:
    """Block until Ctrl-C (tests replace this to look at ``url`` instead)."""
    import threading

    threading.Event().wait()


def _quiet_agents() -> None:
    """The agents log each refused input as a warning; the demo shows refusals itself."""
    quiet = logging.getLogger("pausebutton")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False


def demo(
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="Folder for the authority database, keys and agent state (default: a fresh"
            " temporary folder, deleted at the end unless --keep).",
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Empty a non-empty --state folder first.")
    ] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary folder.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary instead of tables.")
    ] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller world (2 GPUs per data centre).")
    ] = False,
    chips: Annotated[
        int | None, typer.Option("--chips", help="Fake GPUs per data centre (default 4).")
    ] = None,
    epoch_dir: Annotated[
        Path | None,
        typer.Option(
            "--epoch-dir",
            help="Epoch AI data folder (default: the Epoch AI tables shipped with pausebutton).",
        ),
    ] = None,
    no_epoch: Annotated[
        bool,
        typer.Option(
            "--no-epoch", help="Seed built-in sample facilities instead of the Epoch AI data."
        ),
    ] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="After the story, keep the authority and its web console running at the"
            " printed URL until Ctrl-C.",
        ),
    ] = False,
) -> None:
    """Run the pause-button story end to end: found an authority, serve it on 127.0.0.1,
    license fake GPUs, pause them with K-of-N signatures, resume, and show the attacks,
    location checks, verification engine and transparency log. Exits 0 only if every
    step's expectation held (1 naming the failed step otherwise)."""
    from pausebutton.sim.demo import STEPS, check_chips, run_demo

    n = chips if chips is not None else (2 if quick else 4)
    check_chips(n)
    if no_epoch and epoch_dir is not None:
        raise UsageError("give --epoch-dir or --no-epoch, not both")
    data = None if no_epoch else _find_epoch(epoch_dir)
    directory, temporary = _state_dir(state, fresh)
    discard = temporary and not keep
    progress = _Progress(json_out=json_out, steps=len(STEPS))
    if not json_out:
        out.print(f"[bold]pausebutton demo[/bold]  state: {directory}  GPUs per data centre: {n}")
        if data is None:
            out.print("[yellow]Epoch AI data not found: built-in sample facilities[/yellow]")
    _quiet_agents()
    try:
        result = run_demo(
            directory,
            chips=n,
            quick=quick,
            epoch_dir=data,
            on_start=progress.start,
            on_done=progress.done,
            on_event=progress.event,
            hold=functools.partial(_hold, directory, json_out) if serve else None,
        )
    finally:
        if discard:
            shutil.rmtree(directory, ignore_errors=True)
    if json_out:
        doc = result.to_json()
        if discard:
            doc["state_dir"] = None
        print_json(doc)
    else:
        _print_summary(
            result, epoch=data is not None, kept="" if discard else f"; state kept in {directory}"
        )
    if not result.ok:
        failed = result.failed
        name = f"step {failed.number} ({failed.title})" if failed else "a step"
        err.print(f"demo failed at {name}: {failed.failure if failed else 'not run'}", markup=False)
        raise typer.Exit(EXIT_ERROR)
