"""Data files shipped with the package (Epoch AI tables, CC BY 4.0: see README.md here).

Found through :mod:`importlib.resources`, so they are there in a source checkout and in an
installed wheel alike; nothing reads files outside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pausebutton.errors import DataError

EPOCH = "epoch"
"""The Epoch AI data folder, laid out as Epoch publishes it (``gpu_clusters/``,
``ml_hardware/``, each with its README and citation)."""


def path(*parts: str) -> Path:
    """A bundled file or folder as a filesystem path (the package is installed unpacked)."""
    root = resources.files(__name__)
    if not isinstance(root, Path):
        raise DataError(f"the bundled data of {__name__} is not on the filesystem ({root})")
    target = root.joinpath(*parts)
    if not target.exists():
        raise DataError(f"bundled data file missing: {target}", file=str(target))
    return target


def epoch_dir() -> Path:
    """The bundled Epoch AI data folder (GPU clusters and ML hardware tables)."""
    return path(EPOCH)


def read_text(*parts: str) -> str:
    """A bundled text file's contents."""
    return path(*parts).read_text(encoding="utf-8")
