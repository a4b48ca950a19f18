"""Run the ``pausebutton`` command inside this process, its output captured.

What ``python -m pausebutton ARGS`` would give (exit status, stdout, stderr), without a
process start: the conformance kit drives our own chip CLI this way, and the tests use it.
A run replaces ``sys.stdin``, ``sys.stdout`` and ``sys.stderr`` while it lasts, so runs
must not overlap: callers on several threads hold a lock around each run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence


def run_captured(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``pausebutton ARGV`` in-process with ``input`` on stdin and ``env`` set in
    ``os.environ`` for the run only (``None`` unsets); return what a subprocess would."""
    from typer.testing import CliRunner

    from pausebutton.cli.main import execute

    args = [str(a) for a in argv]
    with CliRunner().isolation(input=input, env=env) as (out, err, _):
        try:
            code = execute(args)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue(), err.getvalue()
    return subprocess.CompletedProcess(
        args, code, stdout.decode(errors="replace"), stderr.decode(errors="replace")
    )
