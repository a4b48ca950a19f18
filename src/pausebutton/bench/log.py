"""Benchmark of the transparency log store: what ``pausebutton bench log`` prints.

- durable appends per second: batches of 1,000 entries, each batch one committed
  transaction on SQLite in WAL mode with ``synchronous=FULL`` (fsync per commit);
- beside it, in the same run on the same entries, a minimal ``sqlite3`` writer doing the
  same durable work (``MinimalWriter``: same tables and index, same pragmas, every entry,
  leaf hash and completed interior node stored, one transaction per batch), its batches
  interleaved with LogStore's so that load on the machine hits both alike; the ratio
  ``logstore_to_minimal`` is LogStore's rate over the minimal writer's;
- median inclusion-proof generation (one indexed query of O(log n) subtree hashes)
  at the final size, and median consistency-proof generation;
- peak RSS of the process while building the log (``ru_maxrss``), next to the RSS
  before it started, so the growth is visible.

The full run builds 1,000,000 entries; ``quick`` builds 20,000.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pausebutton.bench import phase
from pausebutton.errors import CorruptStateError, UsageError
from pausebutton.translog import merkle
from pausebutton.translog.store import LogStore, create_log_engine, meta_table, metadata

ENTRY_SIZE = 256
BATCH = 1000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _entries(rng: random.Random, start: int, n: int) -> list[bytes]:
    pad = rng.randbytes(ENTRY_SIZE - 16)
    return [i.to_bytes(16, "big") + pad for i in range(start, start + n)]


class MinimalWriter:
    """The least a durable RFC 9162 log writer on SQLite does per batch: the baseline
    LogStore's appends are measured against. Same durability (WAL, ``synchronous=FULL``,
    one transaction per batch), same rows (the size row, every entry with its leaf hash
    under the same (epoch, hash) index, every completed perfect subtree), no checks."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA cache_size=-32768")
        self.db.execute("PRAGMA wal_autocheckpoint=16384")
        self.db.executescript(
            "CREATE TABLE meta (id INTEGER PRIMARY KEY, size INTEGER NOT NULL);"
            "INSERT INTO meta VALUES (1, 0);"
            "CREATE TABLE entries (idx INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,"
            " leaf_hash BLOB NOT NULL, data BLOB NOT NULL);"
            "CREATE INDEX ix_entries ON entries (epoch, leaf_hash);"
            "CREATE TABLE nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL) WITHOUT ROWID;"
        )
        self.edge: list[bytes] = []  # right-edge perfect subtrees, largest first
        self.size = 0

    def append(self, batch: list[bytes]) -> None:
        sha, start, edge = hashlib.sha256, self.size, self.edge
        leaves: list[tuple[int, int, bytes, bytes]] = []
        nodes: list[tuple[int, bytes]] = []
        for i, e in enumerate(batch):
            idx = start + i
            h = sha(b"\x00" + e).digest()
            leaves.append((idx, idx >> 14, h, e))
            nodes.append((2 * idx, h))
            level = 0
            while idx & 1:
                h = sha(b"\x01" + edge.pop() + h).digest()
                level += 1
                idx >>= 1
                nodes.append((((2 * idx + 1) << level) - 1, h))
            edge.append(h)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("UPDATE meta SET size = size + ? WHERE id = 1", (len(batch),))
        self.db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", leaves)
        self.db.executemany("INSERT INTO nodes VALUES (?, ?)", nodes)
        self.db.execute("COMMIT")
        self.size += len(batch)

    def root(self) -> bytes:
        """The tree's root from the right edge (checked against LogStore's root)."""
        return merkle.fold_blocks(self.edge) if self.edge else merkle.EMPTY_ROOT

    def close(self) -> None:
        self.db.close()


def run(
    quick: bool = False,
    entries: int | None = None,
    db_dir: str | None = None,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Build a log and measure it. ``db_url`` runs on another database (e.g. PostgreSQL);
    it must not hold a log yet, and the log's tables are dropped afterwards."""
    total = entries if entries is not None else (20_000 if quick else 1_000_000)
    total = max(BATCH, total - total % BATCH)
    rng = random.Random(2024)
    with tempfile.TemporaryDirectory(dir=db_dir, prefix="pb-bench-log-") as tmp:
        path = Path(tmp) / "log.db"
        engine = create_log_engine(db_url or f"sqlite:///{path}")
        if db_url is not None and sa.inspect(engine).has_table(meta_table.name):
            engine.dispose()
            raise UsageError("the benchmark needs a database without a log (translog_ tables)")
        store = LogStore(engine)
        minimal = MinimalWriter(Path(tmp) / "minimal.db")
        rss_before = _rss_mb()
        phase(f"appending {total:,} entries beside the minimal writer")
        batch_times: list[float] = []
        minimal_times: list[float] = []
        for start in range(0, total, BATCH):
            batch = _entries(rng, start, BATCH)
            order = (True, False) if (start // BATCH) % 2 else (False, True)
            for is_store in order:  # alternate which goes first
                t = time.perf_counter()
                if is_store:
                    store.append(batch)
                else:
                    minimal.append(batch)
                (batch_times if is_store else minimal_times).append(time.perf_counter() - t)
        minimal_root = minimal.root()
        minimal.close()
        build_s = sum(batch_times)
        minimal_s = sum(minimal_times)
        rss_peak = _rss_mb()
        size, root = store.root()
        if root != minimal_root:
            raise CorruptStateError("the minimal writer built another tree than LogStore")
        samples = 1000 if not quick else 300
        phase("inclusion and consistency proofs")
        inc: list[float] = []
        checked = 0
        for _ in range(samples):
            i = rng.randrange(size)
            t = time.perf_counter()
            m, proof = store.inclusion_proof(i)
            inc.append(time.perf_counter() - t)
            if checked < 20:  # the proofs measured are real: verify some
                merkle.verify_inclusion(merkle.leaf_hash(store.entry(i)), i, m, proof, root)
                checked += 1
        cons: list[float] = []
        for _ in range(samples // 3):
            old = rng.randrange(1, size)
            t = time.perf_counter()
            store.consistency_proof(old)
            cons.append(time.perf_counter() - t)
        db_mb = sum(f.stat().st_size for f in Path(tmp).glob("log.db*")) / 1e6
        backend = "sqlite (WAL, synchronous=FULL)"
        if db_url is not None:
            backend = engine.dialect.name
            metadata.drop_all(engine)
        engine.dispose()
    return {
        "entries": size,
        "entry_bytes": ENTRY_SIZE,
        "batch": BATCH,
        "backend": backend,
        "appends_per_s": round(size / build_s),
        "minimal_writer_appends_per_s": round(size / minimal_s),
        "logstore_to_minimal": round(minimal_s / build_s, 3),
        "append_batch_median_ms": round(statistics.median(batch_times) * 1000, 3),
        "append_batch_p99_ms": round(sorted(batch_times)[int(len(batch_times) * 0.99)] * 1000, 3),
        "inclusion_proof_median_ms": round(statistics.median(inc) * 1000, 4),
        "inclusion_proof_p99_ms": round(sorted(inc)[int(len(inc) * 0.99)] * 1000, 4),
        "consistency_proof_median_ms": round(statistics.median(cons) * 1000, 4),
        "rss_before_build_mb": round(rss_before, 1),
        "rss_peak_mb": round(rss_peak, 1),
        "db_size_mb": round(db_mb, 1) if db_url is None else None,
        "cpus": os.cpu_count(),
        "targets": {
            "appends_per_s": ">= 10000",
            "logstore_to_minimal": ">= 0.8 (SQLite)",
            "inclusion_proof_median_ms": "<= 1 at 1e6",
        },
    }
