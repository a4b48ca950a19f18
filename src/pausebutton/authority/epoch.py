"""Seed the registry from Epoch AI's public datasets (GPU clusters, ML hardware).

Data: Epoch AI, 'Data on GPU Clusters' and 'Data on Machine Learning
Hardware', published at epoch.ai under CC BY 4.0. Every seeded facility names
its source, and :func:`credit` returns the citations from the datasets'
README files.

Each existing, located cluster becomes a facility (unverified: registration
from public reporting is not an inspection) with its declared power and its
primary chip type and quantity; :func:`hardware_peaks` gives each chip model's
dense 16-bit peak FLOP/s from the hardware table.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from pausebutton.errors import DataError

COUNTRIES = {
    "China": "CN",
    "United States of America": "US",
    "Japan": "JP",
    "France": "FR",
    "Korea (Republic of)": "KR",
    "India": "IN",
    "Germany": "DE",
    "Saudi Arabia": "SA",
    "Brazil": "BR",
    "United Arab Emirates": "AE",
    "Italy": "IT",
    "United Kingdom of Great Britain and Northern Ireland": "GB",
    "Sweden": "SE",
    "Russia": "RU",
    "Canada": "CA",
    "Taiwan": "TW",
    "Singapore": "SG",
    "Thailand": "TH",
    "Finland": "FI",
    "Australia": "AU",
    "Switzerland": "CH",
    "Hong Kong": "HK",
    "Poland": "PL",
    "Malaysia": "MY",
    "Norway": "NO",
    "Israel": "IL",
    "Netherlands": "NL",
    "Iceland": "IS",
    "Vietnam": "VN",
    "Philippines (the)": "PH",
    "Spain": "ES",
    "Denmark": "DK",
    "Luxembourg": "LU",
    "Czechia": "CZ",
    "Slovenia": "SI",
    "Mexico": "MX",
    "Indonesia": "ID",
}
CLUSTERS = Path("gpu_clusters") / "gpu_clusters.csv"
HARDWARE = Path("ml_hardware") / "ml_hardware.csv"
SOURCE = "Epoch AI GPU clusters (CC BY 4.0)"


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower()
    return ("epoch-" + s)[:120] or "epoch-unnamed"


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if v >= 0 else None


def read_clusters(data_dir: Path) -> list[dict[str, object]]:
    """Existing clusters with a known country, as facility records."""
    path = Path(data_dir) / CLUSTERS
    if not path.is_file():
        raise DataError(f"{path} not found (expected the Epoch AI data folder)", file=str(path))
    out: list[dict[str, object]] = []
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("Status") != "Existing":
                continue
            country = COUNTRIES.get(row.get("Country", ""))
            if country is None:
                continue
            fid = _slug(row["Name"])
            if fid in seen:
                continue
            seen.add(fid)
            chips = _number(row.get("Chip quantity (primary)") or "") or _number(
                row.get("Total number of AI chips") or ""
            )
            power = _number(row.get("Power Capacity (MW)") or "")
            out.append(
                {
                    "id": fid,
                    "name": row["Name"][:1024],
                    "country": country,
                    "power_mw": power,
                    "declared_chips": int(chips) if chips is not None else None,
                    "chip_model": (row.get("Chip type (primary)") or "")[:256] or None,
                    "owner": (row.get("Owner") or "")[:256] or None,
                }
            )
    return out


def hardware_peaks(data_dir: Path) -> dict[str, int]:
    """Dense 16-bit tensor peak FLOP/s per chip model (Epoch AI ML hardware)."""
    path = Path(data_dir) / HARDWARE
    if not path.is_file():
        raise DataError(f"{path} not found", file=str(path))
    out: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            v = _number(row.get("Tensor-FP16/BF16 performance (FLOP/s)") or "")
            if v:
                out[row["Hardware name"]] = int(v)
    return out


def facilities_csv(data_dir: Path, limit: int | None = None) -> tuple[str, int]:
    """The clusters as a facilities CSV for the registry import; returns (csv, rows)."""
    rows = read_clusters(data_dir)
    if limit is not None:
        rows = rows[:limit]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "name", "country", "power_mw", "declared_chips", "chip_model", "source"])
    for r in rows:
        w.writerow(
            [
                r["id"],
                r["name"],
                r["country"],
                "" if r["power_mw"] is None else r["power_mw"],
                "" if r["declared_chips"] is None else r["declared_chips"],
                r["chip_model"] or "",
                SOURCE,
            ]
        )
    return buf.getvalue(), len(rows)


def credit(data_dir: Path) -> str:
    """The citations from the datasets' README files (CC BY 4.0 requires them)."""
    lines = ["Data: Epoch AI (CC BY 4.0)."]
    for sub in ("gpu_clusters", "ml_hardware"):
        readme = Path(data_dir) / sub / "README.md"
        if not readme.is_file():
            continue
        text = readme.read_text(encoding="utf-8")
        m = re.search(r"### Citation\s*```\s*(.+?)\s*```", text, re.S)
        if m:
            lines.append(m.group(1).strip())
    return "\n".join(lines)
