"""Fixtures shared by every test: run the CLI as a real subprocess of this tree's code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
SHARED = REPO.parent / "shared"


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a CLI subprocess that imports this checkout's ``src``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("COLUMNS", "200")
    if extra:
        env.update(extra)
    return env


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli() -> CliRunner:
    """``cli("chip", "status", path, input=None, timeout=60)`` runs ``python -m pausebutton``."""

    def run(
        *args: object,
        input: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pausebutton", *map(str, args)],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(env),
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared data folder (Epoch AI data, RFC 6962 vectors)."""
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED}")
    return SHARED


def pytest_configure(config: pytest.Config) -> None:
    """Where the test command promises torch (scripts/test sets PB_REQUIRE_TORCH), a missing
    torch is an error, not a reason to skip the guard's tests."""
    if os.environ.get("PB_REQUIRE_TORCH"):
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise pytest.UsageError(
                f"PB_REQUIRE_TORCH is set but torch cannot be imported: {exc}"
            ) from exc
