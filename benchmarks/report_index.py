"""Usage reports keyed by the chip's 64-character id against the chip's number: the
write cost of a fleet's batches as the reports pile up.

The measurement behind migration 0011 (docs/scaling.md, "At a fleet's scale"). Two
SQLite databases with the authority's pragmas (WAL, synchronous=FULL, foreign keys on)
hold the usage-report table in its two layouts: the primary key (chip_id, sequence)
with the chip's hex id (the layout before 0011), and (chip_no, sequence) with the
chip's number (the layout since). Agents of ``--batch`` chips each (interleaved over
the registry, as a fleet's data centres are) send one report of each of their chips
per batch, one transaction per batch, every chip once per round; the two layouts take
the same batches in turn, batch by batch, in one run. Printed per stretch of rounds:
CPU and wall time per batch (the wall time is what the writer lock is held), and the
ratio of the two.

    python benchmarks/report_index.py [--chips 8000] [--batch 1000] [--rounds 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

_COLUMNS = (
    "hash BLOB NOT NULL, time BIGINT NOT NULL, flop_full TEXT NOT NULL,"
    " license_id BIGINT, license_flop_used TEXT, state VARCHAR(32) NOT NULL,"
    " envelope BLOB NOT NULL, received_at BIGINT NOT NULL"
)
LAYOUTS = {
    "chip_id": (
        "CREATE TABLE chips (chip_id VARCHAR(64) PRIMARY KEY, pad BLOB)",
        "CREATE TABLE usage_reports (chip_id VARCHAR(64) NOT NULL REFERENCES chips (chip_id),"
        f" sequence BIGINT NOT NULL, {_COLUMNS}, PRIMARY KEY (chip_id, sequence))",
    ),
    "chip_no": (
        "CREATE TABLE chips (chip_no INTEGER PRIMARY KEY, chip_id VARCHAR(64) UNIQUE, pad BLOB)",
        "CREATE TABLE usage_reports (chip_no INTEGER NOT NULL REFERENCES chips (chip_no),"
        f" sequence BIGINT NOT NULL, {_COLUMNS}, PRIMARY KEY (chip_no, sequence))",
    ),
}
ENVELOPE_SIZE = 330
"""About a signed usage report's size."""


def _open(path: Path, layout: str, chips: int) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    for ddl in LAYOUTS[layout]:
        db.execute(ddl)
    db.execute("BEGIN")
    if layout == "chip_id":
        db.executemany("INSERT INTO chips VALUES (?, ?)", [(_hex(i), b"") for i in range(chips)])
    else:
        db.executemany(
            "INSERT INTO chips VALUES (?, ?, ?)", [(i + 1, _hex(i), b"") for i in range(chips)]
        )
    db.execute("COMMIT")
    return db


def _hex(i: int) -> str:
    return f"{i:064x}"


def run(chips: int, batch: int, rounds: int) -> dict[str, Any]:
    if batch < 1 or chips < batch or chips % batch or rounds < 1:
        raise ValueError("chips must be a positive multiple of batch, and rounds at least 1")
    agents = chips // batch
    envelope = os.urandom(ENVELOPE_SIZE)
    marks = sorted({max(1, rounds // 10), rounds // 3, 2 * rounds // 3, rounds} - {0})
    # per layout: [round, cpu s, wall s] of every batch
    times: dict[str, list[tuple[int, float, float]]] = {name: [] for name in LAYOUTS}
    with tempfile.TemporaryDirectory(prefix="pb-bench-report-index-") as tmp:
        dbs = {name: _open(Path(tmp) / f"{name}.db", name, chips) for name in LAYOUTS}
        for rnd in range(1, rounds + 1):
            for a in range(agents):
                numbers = range(a, chips, agents)  # an agent's chips, spread over the registry
                digest = os.urandom(32)
                for name, db in dbs.items():
                    keys = (
                        [_hex(i) for i in numbers]
                        if name == "chip_id"
                        else [i + 1 for i in numbers]
                    )
                    rows = [
                        (k, rnd, digest, rnd, "1000", None, None, "licensed", envelope, rnd)
                        for k in keys
                    ]
                    c0, w0 = time.process_time(), time.perf_counter()
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany(
                        "INSERT INTO usage_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                    )
                    db.execute("COMMIT")
                    times[name].append((rnd, time.process_time() - c0, time.perf_counter() - w0))
            if rnd % 10 == 0:  # the authority checkpoints the WAL in the background
                for db in dbs.values():
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        stored = {
            name: db.execute("SELECT count(*) FROM usage_reports").fetchone()[0]
            for name, db in dbs.items()
        }
        for db in dbs.values():
            db.close()
    stretches = []
    start = 0
    for mark in marks:
        row: dict[str, Any] = {"rounds": f"{start + 1}-{mark}"}
        for name in LAYOUTS:
            part = [t for t in times[name] if start < t[0] <= mark]
            row[f"{name}_cpu_ms"] = round(sum(t[1] for t in part) / len(part) * 1e3, 2)
            row[f"{name}_wall_ms"] = round(sum(t[2] for t in part) / len(part) * 1e3, 2)
        row["cpu_ratio"] = round(row["chip_no_cpu_ms"] / row["chip_id_cpu_ms"], 3)
        row["wall_ratio"] = round(row["chip_no_wall_ms"] / row["chip_id_wall_ms"], 3)
        stretches.append(row)
        start = mark
    return {
        "chips": chips,
        "batch": batch,
        "rounds": rounds,
        "reports_stored": stored,
        "per_batch": stretches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=8000, help="registered chips")
    parser.add_argument("--batch", type=int, default=1000, help="chips per agent (batch size)")
    parser.add_argument("--rounds", type=int, default=300, help="reports per chip")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    try:
        out = run(args.chips, args.batch, args.rounds)
    except ValueError as exc:
        parser.error(str(exc))
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"{out['chips']:,} chips, batches of {out['batch']:,}, {out['rounds']} rounds;"
        " per batch (CPU / wall ms):"
    )
    print(f"{'rounds':>10}  {'chip id key':>16}  {'chip number key':>16}  {'ratio':>12}")
    for r in out["per_batch"]:
        print(
            f"{r['rounds']:>10}  {r['chip_id_cpu_ms']:>7.1f} / {r['chip_id_wall_ms']:<6.1f}"
            f"  {r['chip_no_cpu_ms']:>7.1f} / {r['chip_no_wall_ms']:<6.1f}"
            f"  {r['cpu_ratio']:>5.2f} / {r['wall_ratio']:<5.2f}"
        )


if __name__ == "__main__":
    main()
