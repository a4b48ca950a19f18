"""Shared CLI plumbing: consoles, exit codes, JSON output, reading input files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from pausebutton import errors

if TYPE_CHECKING:
    from rich.console import Console

    from pausebutton.protocol.envelope import Envelope


class _StreamConsole:
    """A rich ``Console`` on the current ``sys.stdout`` (or ``sys.stderr``), made on first
    use, and made again when the stream is replaced (an in-process run captures it): each
    run then sees its own stream's width and terminal."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._stream: object = None
        self._console: Console | None = None

    def _current(self) -> Console:
        stream = sys.stderr if self._stderr else sys.stdout
        if self._console is None or stream is not self._stream:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
            self._stream = stream
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)


JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON, for scripts (no progress bar).")
]
"""``--json`` on a verb that works locally (the online verbs' ``JsonOpt`` prints the
authority's answer)."""

out = cast("Console", _StreamConsole(stderr=False))
err = cast("Console", _StreamConsole(stderr=True))

EXIT_OK = 0
EXIT_ERROR = 1
"""Failed for a cause that may pass: a service, GPU or rate limit (try again), or a bug."""
EXIT_INPUT = 2
"""Unusable input: a bad option, file, row or value, or a named thing that does not exist."""
EXIT_REJECTED = 3
"""Rejected: a verification, the local state, the caller's rights or the stored state refuse."""
EXIT_THROTTLED = 4
"""``chip run``: some of the work ran throttled."""
EXIT_INCONSISTENT = 5
"""Evidence of inconsistency: a location that does not fit, a forked or shrunken log."""
EXIT_INSUFFICIENT = 6
"""``geo verify``: fewer landmarks measured than the policy's minimum."""
EXIT_SUSPICIOUS = 7
"""``geo verify``: a borderline location, an alert for inspection (not a conviction)."""
EXIT_INTERRUPTED = 130

EXIT_CODES: tuple[tuple[type[errors.PausebuttonError], int], ...] = (
    (errors.InputError, EXIT_INPUT),
    (errors.NotFoundError, EXIT_INPUT),
    (errors.VerificationError, EXIT_REJECTED),
    (errors.StateError, EXIT_REJECTED),
    (errors.AuthError, EXIT_REJECTED),
    (errors.ConflictError, EXIT_REJECTED),
    (errors.RateLimitError, EXIT_ERROR),
    (errors.HardwareError, EXIT_ERROR),
    (errors.ServiceError, EXIT_ERROR),
)
"""The one table from error class to exit status (README and docs/cli.md, "Exit codes");
the first class an error is an instance of decides. Anything else exits ``EXIT_ERROR``."""


_at_exit: list[Callable[[], None]] = []


def close_at_exit(close: Callable[[], None]) -> None:
    """Run ``close`` when the command ends (``run_closers``), e.g. to close an HTTP client."""
    _at_exit.append(close)


def closers_mark() -> int:
    """How many closers are registered now (``run_closers(since=...)``)."""
    return len(_at_exit)


def run_closers(since: int = 0) -> None:
    """Run what ``close_at_exit`` registered (after mark ``since``: a run nested in another
    leaves the outer run's closers), last first; a failure is reported, not raised."""
    while len(_at_exit) > since:
        close = _at_exit.pop()
        try:
            close()
        except Exception as exc:  # noqa: BLE001  a failed close must not hide the outcome
            err.print(f"warning: cleanup failed: {type(exc).__name__}: {exc}", markup=False)


def exit_code_for(exc: errors.PausebuttonError) -> int:
    """The exit status for ``exc``, from ``EXIT_CODES``."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_ERROR


NEXT_STEPS: dict[str, str] = {
    "malformed": "protocol inspect FILE tells what a file holds",
    "non_canonical": "the file was changed after signing; fetch or export it again",
    "unknown_type": "protocol inspect FILE tells what a file holds",
    "oversized": "is this the right file?",
    "bad_signature": "the object was changed or signed by another key; fetch it again",
    "below_threshold": "collect more signatures (pause sign) or wait for the witnesses",
    "expired": "install a fresh time token or ask for a new one",
    "not_yet_valid": "install a fresh time token (time issue), or wait until it starts",
    "not_logged": "wait for the log's witnesses, then fetch the logged bundle again",
    "wrong_chip": "the object names another chip: check the chip id",
    "firmware_too_old": "update the chip's firmware",
    "tampered": "the chip refuses everything now; report it to the authority",
    "corrupt_state": "restore nothing: report it; the counters must not roll back",
    "unauthenticated": "register the key first (registry key-add) or give the right --key",
    "forbidden": "this key's role may not do this; use a key of the right role",
    "rate_limited": "wait a moment and try again",
    "service": "is it running? give its address with --url (or PB_AUTHORITY_URL)",
    "not_found": "check the id: the listing verbs (registry chips, license list, ...) show them",
    "hardware": "check the GPU driver (nvidia-smi), or try --fake-gpus N for a test",
}
"""What to do next, by error code: added to the one error line when the message does not say
already (``error_line``)."""


def error_line(exc: errors.PausebuttonError) -> str:
    """The one line an error prints: ``error: CODE: what happened; what to do next``."""
    line = f"error: {exc}"
    step = NEXT_STEPS.get(exc.code)
    said = ";" in exc.message or "e.g." in exc.message or "accepted" in exc.message
    if step and not said:
        line += f"; {step}"
    return line


def fail(exc: errors.PausebuttonError) -> NoReturn:
    """Print one clear line on stderr and exit with the code for ``exc``."""
    err.print(error_line(exc), markup=False)
    raise typer.Exit(exit_code_for(exc))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def read_envelope(path: Path, *, max_size: int | None = None) -> tuple[bytes, Envelope]:
    """Read a file (or stdin, ``-``) holding one envelope (raw CBOR), of at most
    ``max_size`` bytes (default: the protocol's largest message)."""
    from pausebutton.protocol.encoding import MAX_MESSAGE_SIZE
    from pausebutton.protocol.envelope import Envelope

    if max_size is None:
        max_size = MAX_MESSAGE_SIZE
    from pausebutton.cli.objects import read_input

    data = read_input(path, max_size)
    return data, Envelope.decode(data, max_size=max_size)
