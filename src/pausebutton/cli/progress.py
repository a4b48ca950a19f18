"""Progress bars for long runs (Rich), on stderr, shown only to a person watching.

``progress(total, "what", quiet=json_out)`` yields a function to call once per finished
unit of work; ``phases(["reading", "importing"], quiet=json_out)`` yields one to call as
each phase starts (a run of a few long steps: the bar names the step it is in). The bar is
drawn only when both stdout and stderr are terminals and the verb is not printing
``--json``: a script, a pipe or a log file sees nothing of it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def wanted(quiet: bool = False) -> bool:
    """Whether a bar would be drawn now."""
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress(total: int, description: str, *, quiet: bool = False) -> Iterator[Callable[[], None]]:
    """A bar for ``total`` units of work; the yielded function marks one unit done."""
    if not wanted(quiet) or total <= 1:
        yield lambda: None
        return
    with _bar() as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


@contextmanager
def phases(names: list[str], *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """A bar over the steps ``names``: call the yielded function with a step's name as it
    starts (the steps before it are then done)."""
    if not wanted(quiet) or not names:
        yield lambda name: None
        return
    with _bar() as bar:
        task = bar.add_task(names[0], total=len(names))

        def start(name: str) -> None:
            bar.update(task, description=name, completed=names.index(name))

        yield start
        bar.update(task, completed=len(names))


@contextmanager
def steps(description: str, *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """A bar for a run whose steps are not known ahead (a benchmark's phases): it shows
    ``description``, the step now running, how many steps are done and the time taken;
    call the yielded function with each step's name as it starts."""
    if not wanted(quiet):
        yield lambda name: None
        return
    with _bar() as bar:
        task = bar.add_task(description, total=None)
        count = 0

        def start(name: str) -> None:
            nonlocal count
            if count:
                bar.advance(task)
            count += 1
            bar.update(task, description=f"{description}: {name}")

        yield start


def _bar() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        # bound to this stderr now: verbs run in-process swap sys.stdout/sys.stderr
        console=Console(file=sys.stderr),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
