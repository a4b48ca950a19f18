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
    assert all(f["source"] in (epoch.SOURCE, epoch.DC_SOURCE) for f in facilities)
    assert not any(f["verified"] for f in facilities)
    assert any(f["declared_chips"] for f in facilities)
    # the frontier data centres come first, each with its coordinates
    located = [f for f in facilities if f["source"] == epoch.DC_SOURCE]
    assert len(located) == len(epoch.read_data_centers(epoch_dir)) >= 15
    assert all(f["latitude"] is not None and f["longitude"] is not None for f in located)
    abilene = next(f for f in located if "abilene" in f["id"])
    assert abilene["country"] == "US"
    assert abs(abilene["latitude"] - 32.4997) < 1e-3 and abs(abilene["longitude"] + 99.7839) < 1e-3


def test_data_centres_are_located(epoch_dir: Path) -> None:
    rows = epoch.read_data_centers(epoch_dir)
    assert {r["country"] for r in rows} >= {"US", "CN", "AE"}
    assert all(-90 <= float(str(r["latitude"])) <= 90 for r in rows)
    zhangbei = next(r for r in rows if "zhangbei" in str(r["id"]))
    assert zhangbei["country"] == "CN" and float(str(zhangbei["longitude"])) > 100
    assert "Data on Frontier AI Data Centers" in epoch.credit(epoch_dir)


def test_positions_in_degrees_minutes_seconds() -> None:
    lat, lon = epoch.parse_dms("""24°9'15"N 54°26'39"E""")
    assert abs(lat - 24.154167) < 1e-6 and abs(lon - 54.444167) < 1e-6
    lat, lon = epoch.parse_dms("""33°46'27"S  100°52'08"W""")
    assert lat < 0 and lon < 0
    for bad in ("32.5 -90.1", """32°35'25"E 90°05'35"N""", """95°0'0"N 10°0'0"E""", ""):
        with pytest.raises(errors.DataError):
            epoch.parse_dms(bad)


def test_an_older_folder_without_data_centres_seeds_the_clusters(
    epoch_dir: Path, tmp_path: Path
) -> None:
    import shutil

    shutil.copytree(epoch_dir / "gpu_clusters", tmp_path / "gpu_clusters")
    text, n = epoch.facilities_csv(tmp_path, limit=5)
    assert n == 5 and epoch.DC_SOURCE not in text
    with pytest.raises(errors.DataError):
        epoch.read_data_centers(tmp_path)


def test_missing_data_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(errors.DataError):
        epoch.read_clusters(tmp_path)
