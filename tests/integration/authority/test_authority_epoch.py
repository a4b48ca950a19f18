"""Seeding the registry from Epoch AI's GPU clusters and ML hardware data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pausebutton import errors
from pausebutton.authority import epoch


def test_clusters_become_facilities(epoch_dir: Path) -> None:
    data = epoch_dir
    rows = epoch.read_clusters(data)
    assert len(rows) > 200
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert all(len(str(r["country"])) == 2 for r in rows)
    colossus = [r for r in rows if "Colossus" in str(r["name"])]
    assert colossus and all(r["country"] == "US" for r in colossus)
    peaks = epoch.hardware_peaks(data)
    assert peaks["NVIDIA H100 SXM5 80GB"] == 989_400_000_000_000
    text = epoch.credit(data)
    assert "Epoch AI" in text and "Data on GPU Clusters" in text
    assert "Data on Machine Learning Hardware" in text


def test_seed_through_the_api(epoch_dir: Path, api: Any) -> None:
    csv_text, n = epoch.facilities_csv(epoch_dir, limit=40)
    out = api.admin.request(
        "POST", "/v1/registry/facilities.csv", content=csv_text.encode(), content_type="text/csv"
    )
    assert out["imported"] == n == 40
    facilities = api.admin.get("/v1/facilities")
    assert len(facilities) == 40
    assert all(f["source"] == epoch.SOURCE and not f["verified"] for f in facilities)
    assert any(f["declared_chips"] for f in facilities)


def test_missing_data_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(errors.DataError):
        epoch.read_clusters(tmp_path)
