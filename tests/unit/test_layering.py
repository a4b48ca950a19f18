"""Layering rules import-linter cannot state (the contracts are in pyproject.toml, run by
``lint-imports`` in ./scripts/test): only the CLI exits, the package reads nothing outside
itself, and the protocol contract's list of forbidden modules is complete."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "pausebutton"
CLI = PACKAGE / "cli"


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(node: ast.expr) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


EXITS = {"sys.exit", "os._exit", "exit", "quit", "typer.Exit", "SystemExit", "Exit"}


def exits_in(tree: ast.AST) -> list[tuple[int, str]]:
    """Calls and raises that end the process: ``sys.exit(...)``, ``raise SystemExit``,
    ``raise typer.Exit(...)``, ``os._exit(...)``."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        target: ast.expr | None = None
        if isinstance(node, ast.Call):
            target = node.func
        elif isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if target is not None and _dotted(target) in EXITS:
            found.add((node.lineno, _dotted(target)))
    return sorted(found)


def test_the_exit_scan_sees_every_form() -> None:
    code = (
        "import sys, os, typer\n"
        "sys.exit(1)\n"
        "raise SystemExit(2)\n"
        "raise SystemExit\n"
        "raise typer.Exit(3)\n"
        "os._exit(4)\n"
        "print('exit')\n"
    )
    assert [n for _, n in exits_in(ast.parse(code))] == [
        "sys.exit",
        "SystemExit",
        "SystemExit",
        "typer.Exit",
        "os._exit",
    ]


def test_only_the_cli_exits() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {name}"
        for path in _sources()
        if CLI not in path.parents
        for line, name in exits_in(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not offenders, "only pausebutton.cli may end the process:\n" + "\n".join(offenders)


def test_no_module_walks_up_out_of_the_package() -> None:
    """Package data is found through importlib.resources (pausebutton.data); no module
    reaches for files of a checkout beside the package (``parents[N]``, ``../shared``)."""
    offenders = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "parents"
            ):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: parents[...]")
        if '"shared"' in text or "../shared" in text:
            offenders.append(f"{path.relative_to(REPO)}: names a shared folder")
    assert not offenders, "\n".join(offenders)


def test_the_contracts_name_every_top_level_module() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}
    forbidden = set(contracts["protocol-alone"]["forbidden_modules"])
    top = {
        f"pausebutton.{p.stem if p.is_file() else p.name}"
        for p in PACKAGE.iterdir()
        if (p.is_file() and p.suffix == ".py" and not p.name.startswith("__"))
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert forbidden == top - {"pausebutton.protocol", "pausebutton.errors"}
    outside_cli = set(contracts["only-cli-exits"]["source_modules"])
    assert outside_cli == top - {"pausebutton.cli"}
    layered = {
        f"pausebutton.{part.strip()}"
        for layer in contracts["layers"]["layers"]
        for part in layer.replace("|", ":").split(":")
    }
    assert layered == top
