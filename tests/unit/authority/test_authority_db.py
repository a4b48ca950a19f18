"""Engines, the FIFO write lock, and two independent apps in one process."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from pausebutton.authority.api import create_app
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.db import FairLock, normalise_url
from pausebutton.authority.demo import demo_world
from pausebutton.authority.inprocess import serve_in_process


def test_normalise_url_selects_psycopg() -> None:
    assert normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_fair_lock_serves_waiters_in_arrival_order() -> None:
    lock = FairLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for i in range(5):
        th = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i), lock.release()))
        th.start()
        threads.append(th)
        time.sleep(0.05)  # let each thread queue before the next
    lock.release()
    for th in threads:
        th.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_two_apps_share_nothing(tmp_path: Path) -> None:
    world = demo_world(seed=b"two-apps")
    a = create_app(world.settings(f"sqlite:///{tmp_path / 'a.db'}"))
    b = create_app(world.settings(f"sqlite:///{tmp_path / 'b.db'}"))
    with serve_in_process(a) as ha, serve_in_process(b) as hb:
        ca = AuthorityClient("http://testserver", world.admin, http=ha)
        cb = AuthorityClient("http://testserver", world.admin, http=hb)
        ca.post("/v1/owners", {"id": "only-a", "name": "A", "country": "US"})
        assert [o["id"] for o in ca.get("/v1/owners")] == ["only-a"]
        assert cb.get("/v1/owners") == []


def test_writer_lock_excludes_another_process(tmp_path: Path) -> None:
    """Two worker processes of one SQLite database queue on the writer lock file: while
    this process holds it, another process's acquire waits, and it gets it when released."""
    import subprocess
    import sys

    from pausebutton.authority.db import WriterLock

    path = tmp_path / "authority.db-writer.lock"
    lock = WriterLock(path)
    child = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from pausebutton.authority.db import WriterLock\n"
        "lock = WriterLock(Path(sys.argv[1]))\n"
        "print('ready', flush=True)\n"
        "t = time.monotonic(); lock.acquire(); print(time.monotonic() - t, flush=True)\n"
        "lock.release()\n"
    )
    lock.acquire()
    with subprocess.Popen(
        [sys.executable, "-c", child, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")},
    ) as proc:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        time.sleep(0.5)
        waiting = proc.poll() is None  # still waiting for the lock
        lock.release()
        out, _ = proc.communicate(timeout=60)
    assert ready == "ready\n" and waiting
    assert proc.returncode == 0 and float(out) >= 0.45
    lock.close()
