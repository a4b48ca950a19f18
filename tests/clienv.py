"""The environment of a CLI subprocess that imports this checkout's ``src`` (a plain module,
importable from every test: the ``conftest`` modules of several folders share one name)."""

from __future__ import annotations

import os
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a CLI subprocess that imports this checkout's ``src``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("COLUMNS", "200")
    if extra:
        env.update(extra)
    return env
