"""The report-signature helper process an authority worker starts
(``authority/verifier.py``): ``python -m pausebutton.cli.verifier``.

Not a command for people: it answers the worker's frames on standard input until that
closes. A malformed frame ends it with one line on standard error and exit status 2
(the worker logs and counts the failure, checks the chunk itself and starts another)."""

from __future__ import annotations

import signal
import sys

from pausebutton.authority.verifier import serve


def main() -> None:
    # Ctrl-C reaches the server's whole process group: the worker stops its helpers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except (ValueError, EOFError) as exc:
        print(f"error: verifier helper: malformed frame: {exc}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # the worker went away while it was answered
        sys.exit(1)


if __name__ == "__main__":
    main()
