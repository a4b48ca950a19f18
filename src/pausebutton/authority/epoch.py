"""Seed the registry from Epoch AI's public datasets (data centres, GPU clusters, hardware).

Data: Epoch AI, 'Data on Frontier AI Data Centers', 'Data on GPU Clusters' and
'Data on Machine Learning Hardware', published at epoch.ai under CC BY 4.0. Every
seeded facility names its source, and :func:`credit` returns the citations from
the datasets' README files.

Each frontier data centre becomes a facility with its coordinates (so it can be
mapped and location-verified), current power and H100-equivalent count; each
existing cluster in a known country becomes a facility with its declared power and
its primary chip type and quantity (the clusters table has no coordinates). Both
are unverified: registration from public reporting is not an inspection.
:func:`hardware_peaks` gives each chip model's dense 16-bit peak FLOP/s.
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
DATA_CENTERS = Path("data_centers") / "data_centers.csv"
SOURCE = "Epoch AI GPU clusters (CC BY 4.0)"
DC_SOURCE = "Epoch AI frontier data centers (CC BY 4.0)"
H100 = "NVIDIA H100 SXM5 80GB"
"""The data-centre table counts compute in H100 equivalents: seeded as that chip model."""

# The data-centre table has no country column: the address names the place. US
# addresses end in a state (name or postal code); the others name their region.
_US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
    ]
) | frozenset(
    [
        "Alabama",
        "Alaska",
        "Arizona",
        "Arkansas",
        "California",
        "Colorado",
        "Connecticut",
        "Delaware",
        "Florida",
        "Georgia",
        "Hawaii",
        "Idaho",
        "Illinois",
        "Indiana",
        "Iowa",
        "Kansas",
        "Kentucky",
        "Louisiana",
        "Maine",
        "Maryland",
        "Massachusetts",
        "Michigan",
        "Minnesota",
        "Mississippi",
        "Missouri",
        "Montana",
        "Nebraska",
        "Nevada",
        "Ohio",
        "Oklahoma",
        "Oregon",
        "Pennsylvania",
        "Tennessee",
        "Texas",
        "Utah",
        "Vermont",
        "Virginia",
        "Washington",
        "Wisconsin",
        "Wyoming",
    ]
)
_REGIONS = {"Hebei": "CN", "Abu Dhabi": "AE"}
_DMS = re.compile(r"""(\d+(?:\.\d+)?)°\s*(\d+(?:\.\d+)?)'\s*(\d+(?:\.\d+)?)"\s*([NSEW])""")


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


def parse_dms(text: str) -> tuple[float, float]:
    """``32°35'25"N 90°05'35"W`` as (latitude, longitude) in degrees."""
    parts = _DMS.findall(text)
    if len(parts) != 2:
        raise DataError(f"not a degrees-minutes-seconds position: {text!r}")
    out: list[float] = []
    for (deg, minutes, sec, hemi), axis in zip(parts, ("NS", "EW"), strict=True):
        if hemi not in axis:
            raise DataError(f"position {text!r}: expected {axis[0]} or {axis[1]} in that place")
        value = float(deg) + float(minutes) / 60 + float(sec) / 3600
        out.append(-value if hemi in "SW" else value)
    lat, lon = out
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise DataError(f"position {text!r} is off the globe")
    return lat, lon


def _country_of(address: str, handle: str) -> str | None:
    for region, code in _REGIONS.items():
        if region in address or region in handle:
            return code
    words = set(re.findall(r"[A-Za-z]+", address)) | set(handle.split())
    return "US" if words & _US_STATES else None


def read_data_centers(data_dir: Path) -> list[dict[str, object]]:
    """The frontier data centres, located, as facility records."""
    path = Path(data_dir) / DATA_CENTERS
    if not path.is_file():
        raise DataError(f"{path} not found (expected the Epoch AI data folder)", file=str(path))
    out: list[dict[str, object]] = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            handle = row["Handle"].strip()
            country = _country_of(row.get("Address", ""), handle)
            if not handle or country is None:
                continue
            lat, lon = parse_dms(f"{row['Latitude']} {row['Longitude']}")
            h100 = _number(row.get("Current H100 equivalents") or "")
            power = _number(row.get("Current power (MW)") or "")
            owner = (row.get("Owner") or "").split("#")[0].strip()
            out.append(
                {
                    "id": _slug("dc-" + handle),
                    "name": handle[:1024],
                    "country": country,
                    "latitude": round(lat, 6),
                    "longitude": round(lon, 6),
                    "power_mw": power or None,
                    "declared_chips": round(h100) if h100 else None,
                    "chip_model": H100 if h100 else None,
                    "owner": owner[:256] or None,
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
    """The data centres, then the clusters, as a facilities CSV for the registry import.

    A folder without the data-centre table (an older Epoch AI download) seeds the
    clusters alone. Returns (csv, rows).
    """
    located = read_data_centers(data_dir) if (Path(data_dir) / DATA_CENTERS).is_file() else []
    rows = [(r, DC_SOURCE) for r in located] + [(r, SOURCE) for r in read_clusters(data_dir)]
    if limit is not None:
        rows = rows[:limit]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "facility_id",
            "name",
            "country",
            "latitude",
            "longitude",
            "declared_capacity",
            "declared_chips",
            "chip_model",
            "source",
        ]
    )
    for r, source in rows:
        w.writerow(
            [
                r["id"],
                r["name"],
                r["country"],
                _blank(r.get("latitude")),
                _blank(r.get("longitude")),
                "" if r["power_mw"] is None else f"{r['power_mw']} MW",
                _blank(r["declared_chips"]),
                r["chip_model"] or "",
                source,
            ]
        )
    return buf.getvalue(), len(rows)


def _blank(value: object) -> object:
    return "" if value is None else value


def credit(data_dir: Path) -> str:
    """The citations from the datasets' README files (CC BY 4.0 requires them)."""
    lines = ["Data: Epoch AI (CC BY 4.0)."]
    for sub in ("data_centers", "gpu_clusters", "ml_hardware"):
        readme = Path(data_dir) / sub / "README.md"
        if not readme.is_file():
            continue
        text = readme.read_text(encoding="utf-8")
        m = re.search(r"### Citation\s*```\s*(.+?)\s*```", text, re.S)
        if m:
            lines.append(m.group(1).strip())
    return "\n".join(lines)
