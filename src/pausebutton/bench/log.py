"""Benchmark of the transparency log store: what ``pausebutton bench log`` prints.

- durable appends per second: batches of 1,000 entries, each batch one committed
  transaction on SQLite in WAL mode with ``synchronous=FULL`` (fsync per commit);
- median inclusion-proof generation (one indexed query of O(log n) subtree hashes)
  at the final size, and median consistency-proof generation;
- peak RSS of the process while building the log (``ru_maxrss``), next to the RSS
  before it started, so the growth is visible.

The full run builds 1,000,000 entries; ``quick`` builds 20,000.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pausebutton.errors import UsageError
from pausebutton.translog import merkle
from pausebutton.translog.store import LogStore, create_log_engine, meta_table, metadata

ENTRY_SIZE = 256
BATCH = 1000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _entries(rng: random.Random, start: int, n: int) -> list[bytes]:
    pad = rng.randbytes(ENTRY_SIZE - 16)
    return [i.to_bytes(16, "big") + pad for i in range(start, start + n)]


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
        rss_before = _rss_mb()
        batch_times: list[float] = []
        t0 = time.perf_counter()
        for start in range(0, total, BATCH):
            batch = _entries(rng, start, BATCH)
            t = time.perf_counter()
            store.append(batch)
            batch_times.append(time.perf_counter() - t)
        build_s = time.perf_counter() - t0
        rss_peak = _rss_mb()
        size, root = store.root()
        samples = 1000 if not quick else 300
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
        db_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
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
        "append_batch_median_ms": round(statistics.median(batch_times) * 1000, 3),
        "append_batch_p99_ms": round(sorted(batch_times)[int(len(batch_times) * 0.99)] * 1000, 3),
        "inclusion_proof_median_ms": round(statistics.median(inc) * 1000, 4),
        "inclusion_proof_p99_ms": round(sorted(inc)[int(len(inc) * 0.99)] * 1000, 4),
        "consistency_proof_median_ms": round(statistics.median(cons) * 1000, 4),
        "rss_before_build_mb": round(rss_before, 1),
        "rss_peak_mb": round(rss_peak, 1),
        "db_size_mb": round(db_mb, 1) if db_url is None else None,
        "cpus": os.cpu_count(),
        "targets": {"appends_per_s": ">= 10000", "inclusion_proof_median_ms": "<= 1 at 1e6"},
    }
