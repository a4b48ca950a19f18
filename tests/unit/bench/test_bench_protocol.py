"""``pausebutton bench protocol --quick --json``: the figures are present and sane
(their speed is not tested)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

CliRunner = Callable[..., subprocess.CompletedProcess[str]]

RATES = (
    "raw_sign_per_s",
    "raw_verify_per_s",
    "envelope_sign_per_s",
    "envelope_verify_per_s",
    "envelope_open_verify_per_s",
    "reference_open_verify_per_s",
)
RATIOS = (
    "envelope_sign_ratio",
    "envelope_verify_ratio",
    "envelope_open_verify_ratio",
    "reference_open_verify_ratio",
)


def test_bench_protocol_quick_json(cli: CliRunner) -> None:
    proc = cli("bench", "protocol", "--quick", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["quick"] is True
    assert result["message_type"] == "license"
    assert result["backend"].startswith("pynacl")
    assert result["envelope_bytes"] > result["signing_input_bytes"] > 0
    for key in RATES:
        assert isinstance(result[key], int) and result[key] > 0, key
    # Sanity, not speed: a loaded CI machine can disturb a short run, so the bounds
    # are wide; an envelope operation includes the raw call, so it is not 10x faster.
    for key in RATIOS:
        assert 0 < result[key] < 10, key
        assert 0 < result[f"{key}_best"] < 10, key
    # the ratios are of the reported medians' order of magnitude
    ratio = result["envelope_verify_per_s"] / result["raw_verify_per_s"]
    assert 0.2 * ratio < result["envelope_verify_ratio"] < 5 * ratio
    for key in (
        "envelope_verify",
        "envelope_open_verify",
        "reference_open_verify",
        "envelope_sign",
    ):
        assert isinstance(result[f"{key}_overhead_us"], float), key
    assert result["target_verify_ratio"] == 0.8
    assert result["meets_target"] is (result["envelope_verify_ratio"] >= 0.8)
    assert result["target_open_verify_ratio"] == 0.85
    assert result["meets_open_verify_target"] is (result["envelope_open_verify_ratio"] >= 0.85)


def test_bench_protocol_text_output(cli: CliRunner) -> None:
    proc = cli("bench", "protocol", "--quick", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "envelope_verify_ratio" in proc.stdout
