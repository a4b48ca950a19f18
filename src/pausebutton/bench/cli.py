"""Benchmark of the command line's start: what ``pausebutton bench cli`` prints.

Each timed command runs as a real subprocess (``python -m pausebutton ...`` of the code
being measured), one after the other, interleaved over the repetitions so that a busy
machine slows every command alike. The figure is the median wall time, start to exit, in
seconds; the interpreter's own start (``python -c pass``) is measured beside it.

``pausebutton chip status`` runs on a real chip state made before timing starts (an
authority, a vendor and one chip, made with the CLI). With ``importtime`` the benchmark
also runs each command once under ``python -X importtime`` and lists the modules whose
imports (with their own imports) took longest.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pausebutton.bench import phase
from pausebutton.errors import ServiceError, UsageError
from pausebutton.fsutil import child_env
from pausebutton.issuing.keydir import ROOT_FILE as KEYDIR_ROOT_FILE

TARGET_S = 0.3
"""The start time ``--version`` and ``chip status`` are held to (docs: benchmarks/README.md)."""


def _cli(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pausebutton", *args]


def _check(argv: list[str], env: dict[str, str], ok: Sequence[int] = (0,)) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=120)
    if proc.returncode not in ok:
        raise ServiceError(
            f"{' '.join(argv[2:])} exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
        )
    return proc.stdout


def _make_chip(work: Path, env: dict[str, str]) -> Path:
    """An authority, a vendor and one chip, made with the CLI (not timed)."""
    _check(_cli(["authority", "init", str(work / "authority")]), env)
    _check(_cli(["vendor", "init", str(work / "vendor")]), env)
    chip = work / "chip"
    trust = work / "authority" / KEYDIR_ROOT_FILE
    _check(
        _cli(["chip", "new", str(chip), "--trust", str(trust), "--vendor", str(work / "vendor")]),
        env,
    )
    return chip


def _commands(chip: Path, quick: bool) -> dict[str, list[str]]:
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "pausebutton --version": _cli(["--version"]),
        "pausebutton chip status": _cli(["chip", "status", str(chip)]),
    }
    if not quick:  # help imports every command group
        commands["pausebutton --help"] = _cli(["--help"])
        commands["pausebutton geo --help"] = _cli(["geo", "--help"])
    return commands


def _time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, check=False, timeout=120)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise ServiceError(
            f"{' '.join(argv[2:])} exited {proc.returncode}: "
            f"{proc.stderr.decode(errors='replace').strip()[-300:]}"
        )
    return seconds


def import_top(argv: list[str], env: dict[str, str], top: int = 8) -> list[dict[str, Any]]:
    """The ``top`` modules with the longest cumulative import time in one run of ``argv``
    (``python -X importtime``), as ``{"module", "cumulative_ms"}``, longest first."""
    proc = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    rows: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue  # the header line
        rows.append((int(fields[1]), fields[2].strip()))
    rows.sort(reverse=True)
    return [{"module": name, "cumulative_ms": round(us / 1000, 1)} for us, name in rows[:top]]


def run(quick: bool = False, runs: int | None = None, importtime: bool = False) -> dict[str, Any]:
    """Median start-to-exit time of a few commands (``runs`` each, 3 when quick, else 15;
    quick leaves out the help commands)."""
    n = runs if runs is not None else (3 if quick else 15)
    if n < 1:
        raise UsageError("--runs must be at least 1")
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="pb-bench-cli-") as tmp:
        commands = _commands(_make_chip(Path(tmp), env), quick)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(n):
            phase(f"run {i + 1} of {n} of each command")
            for name, argv in commands.items():
                times[name].append(_time_once(argv, env))
        result: dict[str, Any] = {"runs": n, "target_s": TARGET_S}
        for name, samples in times.items():
            result[f"{name} median_s"] = round(statistics.median(samples), 3)
        for name in ("pausebutton --version", "pausebutton chip status"):
            result[f"{name} within_target"] = statistics.median(times[name]) <= TARGET_S
        if importtime:
            result["import_top"] = {
                name: import_top(argv, env)
                for name, argv in commands.items()
                if name != "python -c pass"
            }
    return result
