"""Edge helpers of the detection engine: read bundled data and input files."""

from __future__ import annotations

from functools import cache
from importlib import resources

from pausebutton.detect.hardware import HardwareTable, parse_hardware_csv


@cache
def bundled_hardware() -> HardwareTable:
    """Epoch AI's ML hardware table, shipped with the package (CC BY 4.0)."""
    text = (
        resources.files("pausebutton.detect")
        .joinpath("data/ml_hardware.csv")
        .read_text(encoding="utf-8")
    )
    return parse_hardware_csv(text)
