"""The ``pausebutton`` command. Each role's verbs live in their own module.

A command group's module is imported only when that group runs, so
``pausebutton --version`` or ``pausebutton chip status`` does not pay for scipy, fastapi,
sqlalchemy or httpx. The groups are named, in help order, in ``GROUPS``.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

from pausebutton import __version__
from pausebutton.cli.common import (
    EXIT_ERROR,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    closers_mark,
    err,
    error_line,
    exit_code_for,
    run_closers,
)
from pausebutton.errors import PausebuttonError

if TYPE_CHECKING:  # typer bundles its own click
    from typer._click import Command, Context, HelpFormatter


def _sub_app(module: str, extra: Callable[[typer.Typer], None] | None = None) -> typer.Typer:
    app: typer.Typer = importlib.import_module(f"pausebutton.cli.{module}").app
    if extra is not None:
        extra(app)
    return app


def _license() -> typer.Typer:
    # The license, pause and resume groups hold offline verbs (files, an authority
    # directory) and online verbs (against a running authority's URL).
    from pausebutton.cli import license_online

    return _sub_app("license", license_online.register)


def _pause() -> typer.Typer:
    from pausebutton.cli import pause_online

    return _sub_app("pause", pause_online.register)


def _resume() -> typer.Typer:
    from pausebutton.cli import pause, pause_online

    pause_online.register_resume(pause.resume_app)
    return pause.resume_app


def _demo() -> typer.Typer:
    from pausebutton.cli import demo

    single = typer.Typer(add_completion=False)
    single.command("demo")(demo.demo)
    return single


GROUPS: dict[str, Callable[[], typer.Typer]] = {
    # By role: the authority and member states; chips, vendors and operators; auditors;
    # location and detection; tools.
    "demo": _demo,
    "authority": functools.partial(_sub_app, "authority"),
    "member": functools.partial(_sub_app, "member"),
    "root": functools.partial(_sub_app, "root"),
    "registry": functools.partial(_sub_app, "registry"),
    "supply": functools.partial(_sub_app, "supply"),
    "license": _license,
    "pause": _pause,
    "resume": _resume,
    "prohibited": functools.partial(_sub_app, "prohibited"),
    "time": functools.partial(_sub_app, "timecmd"),
    "vendor": functools.partial(_sub_app, "vendor"),
    "chip": functools.partial(_sub_app, "chip"),
    "conformance": functools.partial(_sub_app, "conformance"),
    "agent": functools.partial(_sub_app, "agent"),
    "log": functools.partial(_sub_app, "log"),
    "witness": functools.partial(_sub_app, "witness"),
    "landmark": functools.partial(_sub_app, "landmark"),
    "geo": functools.partial(_sub_app, "geo"),
    "detect": functools.partial(_sub_app, "detect"),
    "detection": functools.partial(_sub_app, "detection"),
    "keys": functools.partial(_sub_app, "keys"),
    "protocol": functools.partial(_sub_app, "protocol"),
    "sim": functools.partial(_sub_app, "sim"),
    "bench": functools.partial(_sub_app, "bench"),
}
"""Command name -> loader of the Typer app that holds its verbs ("demo" is one command)."""

SUMMARIES: dict[str, str] = {
    "demo": (
        "Run the pause-button story end to end: found an authority, serve it on 127.0.0.1,"
        " license fake GPUs, pause them with K-of-N signatures, resume, and show the"
        " attacks, location checks, verification engine and transparency log. Exits 0 only"
        " if every step's expectation held (1 naming the failed step otherwise)."
    ),
    "authority": "Found and run the licensing authority.",
    "member": "Member states: make your own key; send only your public card.",
    "root": "Trust-root ceremonies: propose, sign (each member), assemble (K of N).",
    "registry": "The authority's registry: owners, keys, facilities, chips, custody.",
    "supply": "The supply chain: parties, fab tools, export licences, custody signed by parties.",
    "license": "Issue chip-bound compute licenses (offline, from an authority directory).",
    "pause": "Pause orders: propose, sign (each member), assemble (K of N).",
    "resume": "Resume orders: propose, sign, assemble (needs a log proof).",
    "prohibited": "Prohibited-artifact lists: propose, sign, assemble (K of N), submit.",
    "time": "Issue time tokens signed by the authority's time role.",
    "vendor": "Chip vendor tools: the manufacturer key that certifies device keys.",
    "chip": "A simulated pause-button-compatible chip (firmware over secure NVM).",
    "conformance": "The firmware conformance kit: scenarios as data, any chip CLI.",
    "agent": (
        "The node agent: one firmware chip per GPU, the lease socket for guarded jobs, "
        "license renewal, pause orders, usage reports."
    ),
    "log": "The transparency log: serve it, append entries, verify proof bundles.",
    "witness": "Witness a transparency log: cosign checkpoints that extend the last one.",
    "landmark": "Landmark servers for location verification, and the chip-side probe.",
    "geo": (
        "Location verification from round-trip times: verify a claimed facility, locate a "
        "chip, validate the solver on real ping data. See docs/geo.md."
    ),
    "detect": "Verification engine: signals of ten methods, compute estimates, rules, alerts.",
    "detection": "The verification engine inside the authority: sources, signals, runs, alerts.",
    "keys": "Generate and inspect Ed25519 key files (private keys are written 0600).",
    "protocol": "Inspect and verify signed protocol objects (canonical CBOR envelopes).",
    "sim": "The regime simulator: a world fleet under the regime, on Dask.",
    "bench": "Benchmarks: measured figures, ratios taken side by side in one run.",
}
"""Each group's help, as ``pausebutton --help`` lists it without importing the group (a
test holds them equal to the groups' own)."""


@functools.cache
def load_command(name: str) -> Command:
    """The click command for group ``name``, built once per process, its help polished
    (``polish``)."""
    sub = GROUPS[name]()
    # "demo" is a single command; every other name is a group, even one with one verb.
    command = typer.main.get_command(sub) if name == "demo" else typer.main.get_group(sub)
    command.name = name
    polish(command, name)
    return command


def unwrap(text: str | None) -> str | None:
    """``text`` with the hard line breaks inside each paragraph joined (the terminal wraps;
    typer's rich help would keep them). Paragraphs are separated by a blank line; a
    paragraph starting with ``\\b`` or whose later lines are indented or bulleted (a
    list, a block of commands) keeps its lines."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    kept = []
    for para in paragraphs:
        lines = para.split("\n")
        block = para.startswith("\b") or any(
            ln.startswith((" ", "\t", "- ", "* ", "|")) for ln in lines[1:]
        )
        kept.append(para if block else " ".join(ln.strip() for ln in lines))
    return "\n\n".join(kept)


def polish(command: Command, path: str) -> None:
    """Join hard-wrapped help (commands, options, arguments) under ``command`` and give each
    verb without an ``Example:`` paragraph its example from ``cli/examples.py``."""
    from pausebutton.cli.examples import EXAMPLES

    command.help = unwrap(command.help)
    if command.short_help:
        command.short_help = unwrap(command.short_help)
    for param in command.params:
        help_text = getattr(param, "help", None)
        if help_text:
            param.help = unwrap(help_text)  # type: ignore[attr-defined]
    children = getattr(command, "commands", None)
    if children:
        for child_name, child in children.items():
            polish(child, f"{path} {child_name}")
        return
    example = EXAMPLES.get(path)
    if example and "Example:" not in (command.help or ""):
        command.help = f"{command.help or ''}\n\nExample: {example}".lstrip()


class LazyGroup(TyperGroup):
    """The top-level group: its subcommands are imported on first use; its help lists them
    from ``SUMMARIES``."""

    _listing = False

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*GROUPS, *(n for n in super().list_commands(ctx) if n not in GROUPS)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if self._listing and cmd_name not in self.commands and cmd_name in SUMMARIES:
            return TyperGroup(name=cmd_name, help=SUMMARIES[cmd_name])  # its help line only
        if cmd_name not in self.commands and cmd_name in GROUPS:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except typer.TyperException as exc:
            # typer suggests close names among the loaded commands only: offer every group
            message = getattr(exc, "message", None)
            if args and isinstance(message, str) and "Did you mean" not in message:
                matches = difflib.get_close_matches(args[0], list(GROUPS))
                if matches:
                    names = ", ".join(repr(m) for m in matches)
                    exc.message = f"{message.rstrip('.')}. Did you mean {names}?"
            raise


app = typer.Typer(
    name="pausebutton",
    cls=LazyGroup,
    help=(
        "Compute governance through AI chips: chip-bound licenses, K-of-N pause orders,"
        " a transparency log, location verification and a verification engine."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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


def execute(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: ``sys.argv[1:]``) and return its exit status; project
    errors become one line on stderr. ``run`` exits with it; tests call it in-process."""
    mark = closers_mark()
    try:
        return _execute(argv)
    finally:
        run_closers(since=mark)


def _execute(argv: Sequence[str] | None) -> int:
    try:
        result = app(args=argv, prog_name="pausebutton", standalone_mode=False)
    except PausebuttonError as exc:
        err.print(error_line(exc), markup=False)
        return exit_code_for(exc)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        return EXIT_INTERRUPTED
    except typer.exceptions.TyperException as exc:
        # Usage errors (unknown option, bad value): typer's bundled click prints them.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {exc}", markup=False)
        return int(getattr(exc, "exit_code", 2))
    except OSError as exc:
        err.print(f"error: {exc}", markup=False)
        # a path that names no file (or the wrong kind) is bad input; a failing disk is not
        missing = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
        return EXIT_INPUT if isinstance(exc, missing) else EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # sys.exit(...) in a verb: the interpreter's rules
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        err.print(str(exc.code), markup=False)
        return EXIT_ERROR
    except Exception as exc:  # last resort: one line, never a traceback
        if os.environ.get("PAUSEBUTTON_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} "
            "(a bug in pausebutton; set PAUSEBUTTON_DEBUG=1 for the traceback)",
            markup=False,
        )
        return EXIT_ERROR
    return result if isinstance(result, int) else 0


def run(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and exit with its status."""
    sys.exit(execute(argv))
