"""Fixtures shared by every test: run the CLI in-process (``cli``) or as a real subprocess of
this tree's code (``cli_subprocess``)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
DATA = REPO / "tests" / "data"


from clienv import cli_env  # noqa: E402  (tests/ is on sys.path: this file's folder)

CliRunner = Callable[..., subprocess.CompletedProcess[str]]

_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def run_cli_in_process(
    *args: object,
    input: str | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``pausebutton ARGS`` in this process, as ``python -m pausebutton`` would: same exit
    status (``execute``), stdout and stderr captured apart, ``input`` on stdin, ``env`` set
    for the run only. Whatever a run changes in the process (logging handlers and levels,
    signal handlers, the working directory) is put back afterwards. ``timeout`` is the
    subprocess runner's; here pytest-timeout bounds the test."""
    from pausebutton.cli.inprocess import run_captured

    unhonoured = sorted(k for k in env or {} if k.startswith("PYTHON"))
    if unhonoured:  # read when an interpreter starts: this process started long ago
        pytest.fail(f"{unhonoured} cannot reach an in-process run: use cli_subprocess")
    overrides: dict[str, str | None] = {"COLUMNS": os.environ.get("COLUMNS", "200")}
    overrides.update(env or {})
    known = logging.root.manager.loggerDict.values()
    loggers = [logging.root, *(lg for lg in known if isinstance(lg, logging.Logger))]
    saved_logging = [(lg, lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    saved_disable = logging.root.manager.disable
    in_main_thread = threading.current_thread() is threading.main_thread()
    saved_signals = {sig: signal.getsignal(sig) for sig in _SIGNALS} if in_main_thread else {}
    cwd = os.getcwd()
    try:
        proc = run_captured([str(a) for a in args], input=input, env=overrides)
    finally:
        os.chdir(cwd)
        for sig, handler in saved_signals.items():
            if handler is not None:  # None: a handler not set from Python, left alone
                signal.signal(sig, handler)
        logging.disable(saved_disable)
        for lg, level, handlers, propagate in saved_logging:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
    return proc


def run_cli_subprocess(
    *args: object,
    input: str | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pausebutton ARGS`` as a real subprocess of this tree's code."""
    return subprocess.run(
        [sys.executable, "-m", "pausebutton", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(env),
        check=False,
    )


@pytest.fixture
def cli() -> CliRunner:
    """``cli("chip", "status", path, input=None, env=None)`` runs the CLI in this process and
    returns ``returncode``, ``stdout`` and ``stderr``. Use ``cli_subprocess`` for what needs a
    process of its own: servers, daemons, signals, fork, or environment read at import."""
    return run_cli_in_process


@pytest.fixture
def cli_subprocess() -> CliRunner:
    """``cli_subprocess("chip", "status", path, input=None, timeout=60, env=None)`` runs
    ``python -m pausebutton`` as a subprocess."""
    return run_cli_subprocess


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The tests' own data folder (RFC 6962 vectors, Epoch AI notable models): tests/data."""
    return DATA


@pytest.fixture(scope="session")
def epoch_dir() -> Path:
    """The Epoch AI data folder shipped with the package (GPU clusters, ML hardware)."""
    from pausebutton import data

    return data.epoch_dir()


@pytest.fixture(scope="session")
def notable_models_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Epoch AI's notable models table, unpacked from tests/data (kept gzip-compressed)."""
    import gzip

    path = tmp_path_factory.mktemp("epoch") / "notable_ai_models.csv"
    with gzip.open(DATA / "epoch" / "ai_models" / "notable_ai_models.csv.gz", "rb") as f:
        path.write_bytes(f.read())
    return path


def pytest_configure(config: pytest.Config) -> None:
    """Where the test command promises torch and Chromium (scripts/test sets
    PB_REQUIRE_TORCH and PB_REQUIRE_CHROMIUM), a missing one is an error, not a reason to
    skip the guard's or the console's tests."""
    if os.environ.get("PB_REQUIRE_TORCH"):
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise pytest.UsageError(
                f"PB_REQUIRE_TORCH is set but torch cannot be imported: {exc}"
            ) from exc
    # likewise the browser the console's tests drive (scripts/test installs Debian's)
    if os.environ.get("PB_REQUIRE_CHROMIUM"):
        browser = Path(os.environ.get("PB_CHROMIUM", "/usr/bin/chromium"))
        if not browser.exists():
            raise pytest.UsageError(f"PB_REQUIRE_CHROMIUM is set but {browser} is missing")
