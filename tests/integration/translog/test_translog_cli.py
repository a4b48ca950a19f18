"""The log CLI: append, bundle, verify offline, serve, and the benchmark's quick mode."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pausebutton.issuing.keydir import AuthorityDir
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.store import LogService, LogStore, create_log_engine

Cli = Callable[..., Any]


def test_append_bundle_verify(cli: Cli, tmp_path: Path) -> None:
    auth_dir = tmp_path / "authority"
    assert cli("authority", "init", auth_dir, "--members", 3, "--threshold", 2).returncode == 0
    db = f"sqlite:///{tmp_path / 'log.db'}"
    files = []
    for i in range(5):
        f = tmp_path / f"entry{i}"
        f.write_bytes(f"license {i}".encode())
        files.append(f)
    r = cli("log", "append", *files, "--db", db, "--authority", auth_dir, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["indices"] == [0, 1, 2, 3, 4]
    bundle = tmp_path / "b.cbor"
    r = cli("log", "bundle", bundle, "--db", db, "--authority", auth_dir, "--index", 3)
    assert r.returncode == 0, r.stderr
    root = auth_dir / "trust-root.cbor"
    r = cli("log", "verify", bundle, "--trust", root)
    assert r.returncode == 3 and "below_threshold" in r.stderr  # no witness has cosigned
    # two witnesses of the authority cosign
    adir = AuthorityDir.load(auth_dir)
    engine = create_log_engine(db)
    svc = LogService(LogStore(engine), adir.keys.key("log"), LogPolicy.from_trust_root(adir.root))
    cp = svc.checkpoint()
    now = int(time.time())
    for i in range(2):
        svc.add_cosignature(
            cp.with_signatures([cp.cosign(adir.keys.key("witness", i), now)]).encode()
        )
    engine.dispose()
    r = cli("log", "bundle", bundle, "--db", db, "--authority", auth_dir, "--index", 3)
    r = cli("log", "verify", bundle, "--trust", root, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["leaf_index"] == 3 and len(doc["witnesses"]) == 2
    r = cli("log", "bundle", bundle, "--db", db, "--authority", auth_dir, "--index", 9)
    assert r.returncode == 2 and "not_found" in r.stderr
    r = cli("log", "append", tmp_path / "missing", "--db", db, "--authority", auth_dir)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_log_serve(cli: Cli, tmp_path: Path) -> None:
    auth_dir = tmp_path / "authority"
    assert cli("authority", "init", auth_dir).returncode == 0
    db = f"sqlite:///{tmp_path / 'log.db'}"
    entry = tmp_path / "e"
    entry.write_bytes(b"hello")
    assert cli("log", "append", entry, entry, "--db", db, "--authority", auth_dir).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = Path(__file__).resolve().parents[3] / "src"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pausebutton", "log", "serve", "--db", db,
         "--authority", str(auth_dir), "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(src)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "log serve did not come up"
                time.sleep(0.1)
        assert health["size"] == 2
        note = httpx.get(f"http://127.0.0.1:{port}/v1/log/checkpoint").text
        assert note.startswith(health["origin"] + "\n2\n")
        r = httpx.get(f"http://127.0.0.1:{port}/v1/log/entries", params={"start": 0, "end": 3})
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def test_bench_log_quick(cli: Cli) -> None:
    r = cli("bench", "log", "--json", "--entries", 3000, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["entries"] == 3000
    assert doc["appends_per_s"] > 0 and doc["inclusion_proof_median_ms"] > 0
    assert doc["rss_peak_mb"] >= doc["rss_before_build_mb"]
    # the minimal writer ran beside it on the same entries (its root checked equal)
    assert doc["minimal_writer_appends_per_s"] > 0
    ratio = doc["appends_per_s"] / doc["minimal_writer_appends_per_s"]
    assert abs(doc["logstore_to_minimal"] - ratio) < 0.01 * ratio + 0.002


def test_minimal_writer_builds_the_same_tree(tmp_path: Path) -> None:
    from pausebutton.bench.log import MinimalWriter
    from pausebutton.translog import merkle

    entries = [b"entry-%d" % i for i in range(2500)]
    writer = MinimalWriter(tmp_path / "minimal.db")
    store = LogStore(create_log_engine(f"sqlite:///{tmp_path / 'log.db'}"))
    for start in range(0, len(entries), 1000):
        writer.append(entries[start : start + 1000])
        store.append(entries[start : start + 1000])
    expected = merkle.tree_root([merkle.leaf_hash(e) for e in entries])
    assert writer.root() == store.root()[1] == expected
    rows = writer.db.execute("SELECT count(*) FROM nodes").fetchone()[0]
    assert rows == 2 * len(entries) - bin(len(entries)).count("1")  # every perfect subtree
    writer.close()


def test_bench_log_refuses_a_database_holding_a_log(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    engine = create_log_engine(url)
    LogStore(engine).append([b"precious"])
    engine.dispose()
    r = cli("bench", "log", "--entries", 1000, "--db", url)
    assert r.returncode == 2 and "without a log" in r.stderr
    engine = create_log_engine(url)
    assert LogStore(engine).entries(0, 1) == [b"precious"]
    engine.dispose()
