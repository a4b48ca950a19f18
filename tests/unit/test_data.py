"""The data shipped with the package: found through importlib.resources, with its credit."""

from __future__ import annotations

import pytest

from pausebutton import data
from pausebutton.authority import epoch
from pausebutton.detect.io import bundled_hardware
from pausebutton.errors import DataError


def test_the_epoch_tables_ship_with_their_credit() -> None:
    folder = data.epoch_dir()
    assert folder.is_relative_to(data.path())
    for table in ("gpu_clusters/gpu_clusters.csv", "ml_hardware/ml_hardware.csv"):
        assert (folder / table).stat().st_size > 10_000
    credit = epoch.credit(folder)
    assert "CC BY 4.0" in credit
    assert "Data on GPU Clusters" in credit and "Data on Machine Learning Hardware" in credit


def test_the_bundled_tables_are_the_ones_the_code_reads() -> None:
    assert len(epoch.read_clusters(data.epoch_dir())) > 100
    assert bundled_hardware().get("NVIDIA H100 SXM5 80GB").peak("bf16") == 989_400_000_000_000


def test_the_conformance_scenarios_ship_as_package_data() -> None:
    assert len(list(data.path("conformance").glob("*.json"))) >= 40


def test_a_missing_bundled_file_is_a_data_error() -> None:
    with pytest.raises(DataError, match="bundled data file missing"):
        data.path("epoch", "no-such-table.csv")
