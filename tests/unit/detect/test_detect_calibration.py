"""Recompute the calibration on Epoch AI's notable-models data and measure coverage."""

from __future__ import annotations

from pathlib import Path

import pytest

from pausebutton.detect import estimate as est
from pausebutton.detect.io import bundled_hardware


@pytest.fixture(scope="module")
def records(notable_models_csv: Path) -> list[est.ModelRecord]:
    text = notable_models_csv.read_text(encoding="utf-8")
    return est.parse_models_csv(text, bundled_hardware())


@pytest.mark.parametrize("method", ["chips", "energy"])
def test_shipped_calibration_is_what_the_data_gives(
    records: list[est.ModelRecord], method: str
) -> None:
    table = bundled_hardware()
    cal = est.fit(est.log_ratios(records, table, method), method)
    assert cal == est.CALIBRATION[method]
    assert cal.n >= 130


@pytest.mark.parametrize("method", ["chips", "energy"])
def test_cross_validated_coverage_is_near_nominal(
    records: list[est.ModelRecord], method: str
) -> None:
    ratios = est.log_ratios(records, bundled_hardware(), method)
    cv = est.cross_validate(ratios, method)
    # Figures published in docs/detect.md (5-fold, out of sample).
    published = {
        "chips": {0.8: 0.781, 0.9: 0.883, 0.95: 0.934},
        "energy": {0.8: 0.794, 0.9: 0.875, 0.95: 0.934},
    }[method]
    for lv in est.LEVELS:
        assert abs(cv[lv] - published[lv]) < 0.001, (lv, cv[lv])
        assert abs(cv[lv] - lv) < 0.05, (lv, cv[lv])


def test_docs_state_the_same_coverage() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs/detect.md").read_text(encoding="utf-8")
    for figure in ("0.781", "0.883", "0.934", "0.794", "0.875"):
        assert figure in doc


def test_docs_document_every_signal_column() -> None:
    from pausebutton.detect.signals import SCHEMAS

    doc = (Path(__file__).resolve().parents[3] / "docs/detect.md").read_text(encoding="utf-8")
    for method, schema in SCHEMAS.items():
        assert f"`{method.value}` (version {schema.version})" in doc
        for f in schema.fields:
            assert f"| `{f.name}` |" in doc, (method, f.name)
