"""Real crashes: kill -9 a process metering on a simulated chip, then reopen the chip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fwkit import new_sim

from pausebutton.chip.lab import Lab
from pausebutton.chip.simulated import SimulatedChip

SRC = Path(__file__).resolve().parents[3] / "src"

WORKER = """
import sys
from pausebutton.chip.simulated import SimulatedChip
with SimulatedChip.open(sys.argv[1]) as chip:
    print("ready", flush=True)
    while True:
        chip.run(10**6)
"""


def test_kill_9_while_metering_never_overspends(tmp_path: Path) -> None:
    lab = Lab.create(b"kill")
    budget = 10**6 * 400
    with new_sim(lab, tmp_path / "chip") as chip:
        chip.install_envelope(*lab.logged(lab.license(chip.chip_id, flop=budget)))
    env = dict(os.environ, PYTHONPATH=str(SRC))
    last_full = 0
    for delay in (0.05, 0.2, 0.11, 0.3, 0.07):
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / "chip")],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        with SimulatedChip.open(tmp_path / "chip") as chip:  # opens: no torn state
            record = chip.firmware.record
            assert record.flop_full <= budget
            assert record.flop_full >= last_full  # counters never go back
            assert record.license_used == record.flop_full
            last_full = record.flop_full
    assert last_full > 0
