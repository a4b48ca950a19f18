"""kill -9 in the middle of a batch: nothing acknowledged is lost, no partial batch stays."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from pausebutton.translog import merkle
from pausebutton.translog.store import LogStore, create_log_engine

BATCH = 5000

WRITER = """
import sys
from pausebutton.translog.store import LogStore, create_log_engine
store = LogStore(create_log_engine(sys.argv[1]))
batch = int(sys.argv[2])
while True:
    start = store.size()
    print("begin", start, flush=True)
    indices = store.append([b"entry-%d" % i for i in range(start, start + batch)])
    print("ack", indices[-1] + 1, flush=True)
"""


def _env() -> dict[str, str]:
    src = Path(__file__).resolve().parents[3] / "src"
    return {**os.environ, "PYTHONPATH": str(src)}


def _kill_mid_batch(url: str, acks_before_kill: int, rng: random.Random) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
    )
    acked = 0
    try:
        assert proc.stdout is not None
        acks = 0
        while acks < acks_before_kill:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "writer died"
            if line.startswith("ack "):
                acked = int(line.split()[1])
                acks += 1
        line = proc.stdout.readline()
        assert line.startswith("begin ")  # the next batch is under way
        time.sleep(rng.uniform(0.0, 0.005))  # somewhere inside it
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # an acknowledgement printed before the kill landed counts too
        for line in proc.stdout.read().splitlines():
            if line.startswith("ack "):
                acked = max(acked, int(line.split()[1]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL
    return acked


def test_sigkill_mid_batch_loses_nothing_and_leaves_no_partial_batch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    rng = random.Random(11)
    lost_in_flight = 0
    for round_ in range(3):
        acked = _kill_mid_batch(url, 2 + round_, rng)
        engine = create_log_engine(url)
        store = LogStore(engine)
        size = store.size()
        assert size >= acked, f"acknowledged {acked} entries but only {size} survived"
        assert size % BATCH == 0, f"partial batch: size {size}"
        assert size - acked in (0, BATCH)  # the batch in flight: all of it or none
        lost_in_flight += size == acked
        engine.dispose()
    assert lost_in_flight >= 1, "no kill landed inside an append; the test proved nothing"
    # the surviving tree is whole: every entry, every stored subtree, every proof
    engine = create_log_engine(url)
    store = LogStore(engine)
    size = store.size()
    leaves = []
    for start in range(0, size, 1000):
        chunk = store.entries(start, min(size, start + 1000))
        assert chunk == [b"entry-%d" % i for i in range(start, start + len(chunk))]
        leaves += [merkle.leaf_hash(e) for e in chunk]
    _, root = store.root()
    assert root == merkle.tree_root(leaves)
    for i in (0, size // 2, size - 1):
        m, proof = store.inclusion_proof(i)
        merkle.verify_inclusion(leaves[i], i, m, proof, root)
    assert store.append([b"after"]) == [size]
    engine.dispose()
