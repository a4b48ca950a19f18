"""The ``pausebutton`` command. Each role's verbs live in their own module."""

from __future__ import annotations

import os
import sys

import typer

from pausebutton import __version__
from pausebutton.cli import (
    agent,
    authority,
    bench,
    chip,
    conformance,
    demo,
    detect,
    geo,
    keys,
    landmark,
    license,
    license_online,
    log,
    pause,
    pause_online,
    protocol,
    registry,
    timecmd,
    vendor,
    witness,
)
from pausebutton.cli.common import EXIT_ERROR, err, exit_code_for
from pausebutton.errors import PausebuttonError

app = typer.Typer(
    name="pausebutton",
    help=(
        "Compute governance through AI chips: chip-bound licenses, K-of-N pause orders,"
        " a transparency log, location verification and a verification engine."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# By role: the authority and member states; chips, vendors and operators; auditors;
# location and detection; tools.
app.command("demo")(demo.demo)
app.add_typer(authority.app, name="authority")
app.add_typer(registry.app, name="registry")
app.add_typer(license.app, name="license")
app.add_typer(pause.app, name="pause")
app.add_typer(pause.resume_app, name="resume")
app.add_typer(timecmd.app, name="time")
app.add_typer(vendor.app, name="vendor")
app.add_typer(chip.app, name="chip")
app.add_typer(conformance.app, name="conformance")
app.add_typer(agent.app, name="agent")
app.add_typer(log.app, name="log")
app.add_typer(witness.app, name="witness")
app.add_typer(landmark.app, name="landmark")
app.add_typer(geo.app, name="geo")
app.add_typer(detect.app, name="detect")
app.add_typer(keys.app, name="keys")
app.add_typer(protocol.app, name="protocol")
app.add_typer(bench.app, name="bench")
# The license, pause and resume groups hold offline verbs (files, an authority
# directory) and online verbs (against a running authority's URL).
license_online.register(license.app)
pause_online.register(pause.app)
pause_online.register_resume(pause.resume_app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pausebutton {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """pausebutton: the reference implementation of the AI pause button."""


def run(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn project errors into one line and an exit code."""
    try:
        result = app(args=argv, prog_name="pausebutton", standalone_mode=False)
    except PausebuttonError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(exit_code_for(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except typer.exceptions.TyperException as exc:
        # Usage errors (unknown option, bad value): typer's bundled click prints them.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {exc}", markup=False)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except OSError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # last resort: one line, never a traceback
        if os.environ.get("PAUSEBUTTON_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} "
            "(a bug in pausebutton; set PAUSEBUTTON_DEBUG=1 for the traceback)",
            markup=False,
        )
        sys.exit(EXIT_ERROR)
    sys.exit(result if isinstance(result, int) else 0)
