"""Small file-system and process helpers used at the edges (never by the pure core)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from pausebutton.errors import DataError, OversizedError

DEFAULT_READ_LIMIT = 16 * 1024 * 1024


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new content, never a mix:
    write a temporary file in the same folder, fsync it, rename it over, fsync the folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_limited(path: str | os.PathLike[str], limit: int = DEFAULT_READ_LIMIT) -> bytes:
    """Read a whole file, refusing one larger than ``limit`` before reading it."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limit:
            raise OversizedError(f"{p}: {size} bytes exceeds the limit of {limit}", file=str(p))
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise DataError(f"{p}: no such file", file=str(p)) from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a directory", file=str(p)) from None
    except PermissionError:
        raise DataError(f"{p}: permission denied", file=str(p)) from None
    if len(data) > limit:
        raise OversizedError(f"{p}: larger than the limit of {limit}", file=str(p))
    return data


def package_home() -> Path:
    """The folder the running ``pausebutton`` package is imported from: a checkout's ``src``
    or an installed environment's ``site-packages``."""
    import pausebutton

    return Path(pausebutton.__file__).resolve().parent.parent


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child ``python -m pausebutton`` that imports this same package
    (:func:`package_home` first on ``PYTHONPATH``)."""
    home = str(package_home())
    env = dict(os.environ)
    env["PYTHONPATH"] = home + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if extra:
        env.update(extra)
    return env


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container's or
    ``taskset``'s CPU set), else every core the machine has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)
