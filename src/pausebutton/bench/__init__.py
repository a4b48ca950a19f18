"""Benchmarks behind ``pausebutton bench`` (see benchmarks/README.md).

A benchmark says which phase it is in with ``phase("name")``; ``pausebutton bench`` shows
it on a progress bar (only to a person at a terminal, never under ``--json``). Outside the
command line nothing listens and a phase costs one function call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_listener: Callable[[str], None] | None = None


def phase(name: str) -> None:
    """The benchmark now runs phase ``name`` (the one before it is done)."""
    if _listener is not None:
        _listener(name)


@contextmanager
def phases_to(listener: Callable[[str], None]) -> Iterator[None]:
    """Send each ``phase`` to ``listener`` while the block runs."""
    global _listener
    before, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = before
