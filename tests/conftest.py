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
DATA = REPO / "tests" / "data"


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
    """Where the test command promises torch (scripts/test sets PB_REQUIRE_TORCH), a missing
    torch is an error, not a reason to skip the guard's tests."""
    if os.environ.get("PB_REQUIRE_TORCH"):
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise pytest.UsageError(
                f"PB_REQUIRE_TORCH is set but torch cannot be imported: {exc}"
            ) from exc
