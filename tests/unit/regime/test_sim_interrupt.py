"""Ctrl-C in the middle of ``sim run``: workers stopped, scratch removed, shards kept, resumable."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from clienv import cli_env

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "world-pause.toml"
ARGS = ["--chips", "60000", "--days", "30", "--seeds", "1", "--workers", "1"]


def test_an_interrupted_run_stops_its_workers_and_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # 60 shards of 1,000 chips: long enough to interrupt after the first few
    scenario = tmp_path / "s.toml"
    scenario.write_text(EXAMPLE.read_text().replace("shard_chips = 250000", "shard_chips = 1000"))
    cmd = [sys.executable, "-m", "pausebutton", "sim", "run", str(scenario), "--out", str(run_dir)]
    proc = subprocess.Popen(
        [*cmd, *ARGS], env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    shards = run_dir / "shards"
    deadline = time.monotonic() + 90
    children: list[psutil.Process] = []
    while time.monotonic() < deadline and proc.poll() is None:
        children = psutil.Process(proc.pid).children(recursive=True)
        if len(list(shards.glob("*.npz"))) >= 2 and children:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    assert children  # the embedded cluster's worker processes
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: workers stopped" in stderr and "Traceback" not in stderr
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, alive
    assert not (run_dir / ".dask").exists()
    kept = len(list(shards.glob("*.npz")))
    assert 2 <= kept < 60 and not list(run_dir.rglob("*.tmp"))

    resumed = subprocess.run(
        [*cmd, *ARGS, "--json"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr

    doc = json.loads(resumed.stdout)
    assert doc["shards_resumed"] >= kept and doc["shards_resumed"] + doc["shards_computed"] == 60
