"""docs/tutorials.md, run as written: every role's path through the command line, each
output checked for people (tables with headers, FLOP with units, times in ISO 8601 UTC, no
raw floats, Unix seconds or ``None``) and every file taken by the next verb as it is."""

from __future__ import annotations

import glob
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "tutorials.md"

EXIT = re.compile(r"\s+# exit (\d+)\b.*$")
"""A step's exit status other than 0, as the document says it: ``  # exit 3: refused``."""

EXPECT: dict[tuple[str, str], list[str]] = {
    ("1", "vendor init"): [],
    ("2", "license issue"): ["3.0e25 FLOP until 20", "Z, logged at index 0"],
    ("2", "log verify"): ["— OK"],
    ("2", "chip install"): ["accepted: license 1 accepted: 3.0e25 FLOP until 20"],
    ("2", "chip run"): ["ran 1.0e15 FLOP: 1.0e15 FLOP at full rate, 0 FLOP throttled"],
    ("2", "chip verify-reports"): ["1 report(s) verified"],
    ("3", "pause assemble"): [],
    ("3", "protocol verify"): ["OK"],
    ("3", "chip install"): ["accepted: "],
    ("4", "agent status"): ["GPU", "throttled because", "no licence installed", "GPUs: 2"],
    ("4", "registry facilities"): ["facility", "country", "verified", "power", "150 MW", "yes"],
    ("4", "registry chip-register"): ["registered (GPU "],
    ("4", "registry chips"): ["chip", "status", "registered (UTC)", "chips: 2"],
    ("4", "license list"): ["licence", "budget", "until (UTC)", "1.0e18 FLOP"],
    ("4", "license apply"): ["application ", "FLOP"],
    ("4", "license applications"): ["application", "budget", "3.0e25 FLOP", "refused"],
    ("4", "registry location-checks"): ["no location checks yet"],
    ("4", "registry chip"): ["status", "installed", "peak", "9.89e14 FLOP/s", "installation"],
    ("4", "registry facility"): ["power", "150 MW", "registered chips"],
    ("4", "license show"): ["budget", "1.0e18 FLOP", "until (UTC)"],
    ("5", "detect import"): ["energy row(s) added, 0 bad"],
    ("5", "detect check"): ["alert", "severity", "evidence"],
    ("5", "detect estimate"): ["e23 FLOP", "90% interval"],
}
"""Text each step's stdout must hold (people's output)."""

HEX = re.compile(r"[0-9a-f]{16,}")
UNREADABLE = [
    (re.compile(r"\bNone\b"), "None"),
    (re.compile(r"\d\.\d{5,}"), "an unrounded float"),
    (re.compile(r"\b\d{16,}\b"), "a raw FLOP count"),
    (re.compile(r"\b1[6-9]\d{8}\b"), "Unix seconds"),
]


def steps() -> Iterator[tuple[str, str]]:
    """(section number, command line) for each line of each ``sh`` block."""
    section = "0"
    in_block = False
    for line in DOC.read_text().splitlines():
        heading = re.match(r"## (\d+)\. ", line)
        if heading:
            section = heading.group(1)
        elif line.startswith("```sh"):
            in_block = True
        elif line.startswith("```"):
            in_block = False
        elif in_block and line.strip():
            yield section, line.strip()


def verb(args: list[str]) -> str:
    return " ".join(args[:2])


def readable(text: str) -> list[str]:
    """What in ``text`` (people's output) does not read as intended."""
    plain = HEX.sub("<hex>", text)
    return [what for pattern, what in UNREADABLE if pattern.search(plain)]


def test_every_tutorial_runs_as_written_and_reads_as_intended(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for section, line in steps():
        status = EXIT.search(line)
        want = int(status.group(1)) if status else 0
        capture, _, command = EXIT.sub("", line).partition("=$(")
        if command:
            command = command.removesuffix(")")
        else:
            capture, command = "", EXIT.sub("", line)
        for name, value in env.items():
            command = command.replace(f"${name}", value)
        args = shlex.split(command)
        assert args[0] == "pausebutton", line
        args = [a for arg in args[1:] for a in (sorted(glob.glob(arg)) if "*" in arg else [arg])]
        if args[:2] == ["authority", "serve"]:
            server = server_factory(tmp_path / args[2], db_url, tmp_path / args[4])
            env["URL"] = server.url
            continue
        r = cli(*args, env={"COLUMNS": "160"})
        if verb(args) == "agent run":
            want = r.returncode if r.returncode in (0, 3) else 0  # 3: waits for licences
        assert r.returncode == want, (line, r.stdout, r.stderr)
        if capture:  # output for the next command, not for people
            env[capture] = r.stdout.strip()
            continue
        for text in EXPECT.get((section, verb(args)), []):
            assert text in r.stdout, (line, text, r.stdout)
        seen.add((section, verb(args)))
        people = "--json" not in args and not r.stdout.lstrip().startswith(("{", "["))
        if people:
            assert not readable(r.stdout), (line, readable(r.stdout), r.stdout)
        if verb(args) == "registry custody":
            if ("4", "registry custody-add") not in seen:
                assert "no custody events for chip" in r.stdout, r.stdout
            else:
                assert "at (UTC)" in r.stdout and "2030-01-01T00:00:00Z" in r.stdout
        if args[:2] == ["protocol", "inspect"] and args[2].endswith(".bundle"):
            view = json.loads(r.stdout)
            assert view["bundle"] == "install" and view["payload"]["flop_budget"] == 3 * 10**25
    assert set(EXPECT) <= seen, set(EXPECT) - seen
