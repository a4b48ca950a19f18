"""Shared CLI plumbing: consoles, exit codes, JSON output, reading input files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from pausebutton import errors
from pausebutton.fsutil import read_limited
from pausebutton.protocol.encoding import MAX_MESSAGE_SIZE
from pausebutton.protocol.envelope import Envelope

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INPUT = 2
EXIT_REJECTED = 3
"""A verification rejected the input (e.g. ``chip install`` refused a license)."""
EXIT_THROTTLED = 4
EXIT_INCONSISTENT = 5


def exit_code_for(exc: errors.PausebuttonError) -> int:
    if isinstance(exc, errors.InputError):
        return EXIT_INPUT
    if isinstance(exc, (errors.VerificationError, errors.StateError, errors.AuthError)):
        return EXIT_REJECTED
    return EXIT_ERROR


def fail(exc: errors.PausebuttonError) -> NoReturn:
    """Print one clear line on stderr and exit with the code for ``exc``."""
    err.print(f"error: {exc}", markup=False)
    raise typer.Exit(exit_code_for(exc))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def read_envelope(path: Path, *, max_size: int = MAX_MESSAGE_SIZE) -> tuple[bytes, Envelope]:
    """Read a file holding one envelope (raw CBOR)."""
    data = read_limited(path, max_size)
    return data, Envelope.decode(data, max_size=max_size)
