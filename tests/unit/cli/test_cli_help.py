"""The house rules of docs/cli.md, checked on every command: each verb has an example of
itself in its help, no help text is hard-wrapped, the same idea has the same option name,
and every ``--help`` renders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pausebutton.cli.main import GROUPS, SUMMARIES, load_command

SYNONYMS = {
    # spelling seen or likely -> the house spelling
    "--output": "--out",
    "--outfile": "--out",
    "--output-file": "--out",
    "--dest": "--out",
    "--out-file": "--out",
    "--valid-days": "--valid-for",
    "--validity": "--valid-for",
    "--authority-url": "--url",
    "--server": "--url",
    "--base-url": "--url",
    "--json-out": "--json",
    "--as-json": "--json",
    "--trust-root": "--trust",
    "--root": "--trust",
    "--max": "--limit",
    "--top": "--limit",
    "--state-dir": "--state",
}
"""Visible option names a verb must not use: the same idea is spelled one way everywhere."""


def walk() -> Iterator[tuple[str, Any]]:
    """Every command under the top level: (``"group verb"``, click command), groups too."""

    def below(path: str, command: Any) -> Iterator[tuple[str, Any]]:
        yield path, command
        for name, child in (getattr(command, "commands", None) or {}).items():
            yield from below(f"{path} {name}", child)

    for name in GROUPS:
        yield from below(name, load_command(name))


def verbs() -> list[tuple[str, Any]]:
    return [(p, c) for p, c in walk() if not getattr(c, "commands", None)]


def visible_params(command: Any) -> Iterator[Any]:
    for param in command.params:
        if not getattr(param, "hidden", False):
            yield param


def hard_wrapped(text: str) -> list[str]:
    """Paragraphs of ``text`` broken by a single newline (not a block: \\b, indented or
    bulleted lines)."""
    bad = []
    for para in text.split("\n\n"):
        lines = para.split("\n")
        block = para.startswith("\b") or any(
            ln.startswith((" ", "\t", "- ", "* ", "|")) for ln in lines[1:]
        )
        if len(lines) > 1 and not block:
            bad.append(para)
    return bad


def test_every_verb_has_an_example_of_itself() -> None:
    missing, wrong = [], []
    for path, command in verbs():
        help_text = command.help or ""
        if "Example: " not in help_text:
            missing.append(path)
            continue
        example = help_text.split("Example: ", 1)[1].strip()
        if not example.startswith(f"pausebutton {path}"):
            wrong.append(f"{path}: {example[:60]}")
    assert not missing, f"verbs without an example (cli/examples.py): {missing}"
    assert not wrong, f"examples that show another verb: {wrong}"


def test_no_help_text_is_hard_wrapped() -> None:
    bad = []
    for path, command in walk():
        for para in hard_wrapped(command.help or ""):
            bad.append(f"{path}: {para[:50]!r}")
        for param in command.params:
            for para in hard_wrapped(getattr(param, "help", None) or ""):
                bad.append(f"{path} {param.name}: {para[:50]!r}")
    for name, line in SUMMARIES.items():
        if "\n" in line:
            bad.append(f"{name} (summary)")
    assert not bad, bad


def test_the_same_idea_has_the_same_option_name() -> None:
    bad = []
    for path, command in walk():
        for param in visible_params(command):
            for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                if opt in SYNONYMS:
                    bad.append(f"{path}: {opt} (spell it {SYNONYMS[opt]})")
                if opt == "--authority" and "director" not in (param.help or "").lower():
                    bad.append(f"{path}: --authority names an authority directory, not a URL")
                if opt == "--url" and "url" not in (param.help or "").lower():
                    bad.append(f"{path}: --url is the authority's (or a service's) base URL")
    assert not bad, bad


def test_listing_verbs_offer_json_and_a_limit() -> None:
    listings = [
        "registry owners",
        "registry keys",
        "registry facilities",
        "registry chips",
        "registry custody",
        "registry reports",
        "registry alerts",
        "registry location-checks",
        "license list",
        "license applications",
        "pause list",
        "pause proposals",
    ]
    commands = dict(walk())
    for path in listings:
        names = {o for p in commands[path].params for o in getattr(p, "opts", [])}
        assert {"--json", "--limit"} <= names, path


WITHOUT_JSON = {
    # verbs whose output is the object itself (a file, or stdout for the next verb)
    "chip certificate": "writes the device certificate",
    "license fetch": "writes the licence envelope",
    "agent certificates": "writes every GPU's certificate as JSON",
    # verbs that stream or serve
    "pause watch": "streams each order as one JSON line",
    "agent run": "a daemon: one log line per event",
    "log serve": "serves the log over HTTP",
    "landmark serve": "serves location challenges",
    # node tools whose output is JSON for the agent's caller (no view for people)
    "agent resync": "JSON of each chip's state",
    "agent respond": "JSON: which GPU answered",
    "agent prohibit": "JSON: the list installed",
    "agent hash": "JSON: an artifact's hashes",
    "protocol inspect": "JSON: what a file holds",
}
"""The only verbs without ``--json``: each writes an object, streams, serves, or prints JSON
already. Every other verb prints a result for people and the same result as JSON under
``--json``."""


def test_every_verb_that_prints_a_result_offers_json() -> None:
    missing = []
    for path, command in verbs():
        names = {o for p in command.params for o in getattr(p, "opts", [])}
        if "--json" not in names and path not in WITHOUT_JSON:
            missing.append(path)
    assert not missing, f"verbs without --json: {missing}"
    stale = set(WITHOUT_JSON) - {p for p, _ in verbs()}
    assert not stale, f"allowed verbs that do not exist: {stale}"


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_help_renders(cli: Any, group: str) -> None:
    paths = [p for p, _ in walk() if p == group or p.startswith(f"{group} ")]
    for path in paths:
        r = cli(*path.split(), "--help", env={"COLUMNS": "100"})
        assert r.returncode == 0 and "Usage:" in r.stdout, (path, r.stderr)


DEAD = "http://127.0.0.1:9"  # nothing listens: a run that gets this far parsed its options


def test_old_spellings_still_work(cli: Any, tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    assert cli("keys", "generate", "--out", key).returncode == 0
    r = cli("authority", "init", tmp_path / "a", "--valid-days", "10")
    assert r.returncode == 0, r.stderr
    online = [
        ["resume", "submit", "3", "--reason", "r"],
        ["license", "apply", "ab" * 32, "--budget", "1e18", "--run", "r", "--purpose", "p",
         "--days", "2"],
        ["registry", "facility-add", "dc", "--name", "D", "--country", "US", "--power-mw", "5"],
    ]  # fmt: skip
    for args in online:
        r = cli(*args, "--url", DEAD, "--key", key)
        assert r.returncode == 1 and "error: service: " in r.stderr, (args, r.stderr)
    r = cli("resume", "submit", "--reason", "r", "--url", DEAD, "--key", key)
    assert r.returncode == 2 and "--lifts is required" in r.stderr
