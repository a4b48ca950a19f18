"""benchmarks/report_index.py: both layouts store every report of every round, each
stretch of rounds is measured for both, and bad sizes are refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.loadfile import load_module

SCRIPT = Path(__file__).parents[3] / "benchmarks" / "report_index.py"


def _module() -> ModuleType:
    return load_module(SCRIPT, "report_index")


def test_both_layouts_store_every_report_and_each_stretch_is_measured() -> None:
    out = _module().run(chips=400, batch=100, rounds=12)
    assert out["reports_stored"] == {"chip_id": 400 * 12, "chip_no": 400 * 12}
    assert [r["rounds"] for r in out["per_batch"]] == ["1-1", "2-4", "5-8", "9-12"]
    for r in out["per_batch"]:
        assert r["chip_id_wall_ms"] > 0 and r["chip_no_wall_ms"] > 0
        assert r["cpu_ratio"] == round(r["chip_no_cpu_ms"] / r["chip_id_cpu_ms"], 3)


def test_the_command_prints_json_and_refuses_sizes_that_do_not_divide() -> None:
    ok = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--chips",
            "200",
            "--batch",
            "100",
            "--rounds",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(ok.stdout)["reports_stored"]["chip_no"] == 600
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--chips", "250", "--batch", "100"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "multiple of batch" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("sizes", [(100, 0, 1), (100, 100, 0), (50, 100, 1)])
def test_run_refuses_sizes_it_cannot_measure(sizes: tuple[int, int, int]) -> None:
    chips, batch, rounds = sizes
    with pytest.raises(ValueError, match="multiple of batch"):
        _module().run(chips, batch, rounds)
