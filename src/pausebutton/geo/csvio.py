"""CSV formats for landmarks, measurements and the WonderProxy ping dataset (pure:
parses text; the CLI reads the files).

- Landmarks ``id,lat,lon`` (more columns are ignored).
- Measurements ``landmark_id,rtt_ms``; rows may repeat a landmark (the minimum
  counts).
- WonderProxy / WonderNetwork "a day in the life of the Internet" (2020):
  ``servers.csv`` with ``id,name,title,location,state,country,state_abbv,
  continent,latitude,longitude`` and ``pings.csv`` with ``source,destination,
  timestamp,min,avg,max,mdev`` (``ping -c 30`` summaries; ``min`` counts), or the
  per-pair day summary shipped with the package (``source,destination,min_ms,avg_ms,
  max_ms,mdev_ms``; ``min_ms`` counts).

Every bad row is rejected with a DataError naming the file, the row (the line
number, header = 1) and the field.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pausebutton.errors import DataError
from pausebutton.geo.physics import MAX_RTT_MS
from pausebutton.geo.verdict import Landmark

MAX_ID = 128


def _rows(text: str, name: str, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames
    if not header:
        raise DataError(f"{name}: empty file, expected columns {','.join(required)}", file=name)
    header = [h.strip() for h in header]
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {','.join(missing)}", file=name, row=1, field=missing[0]
        )
    try:
        for i, row in enumerate(reader, start=2):
            if None in row or any(row.get(c) is None for c in required):
                raise DataError(
                    f"{name}, row {i}: wrong number of fields", file=name, row=i, field="*"
                )
            yield i, {k: (v or "").strip() for k, v in row.items() if k is not None}
    except csv.Error as exc:
        raise DataError(f"{name}: malformed CSV ({exc})", file=name) from None


def _float(value: str, name: str, row: int, fieldname: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DataError(
            f"{name}, row {row}, field {fieldname}: {value!r} is not a number",
            file=name,
            row=row,
            field=fieldname,
        ) from None
    if not math.isfinite(number):
        raise DataError(
            f"{name}, row {row}, field {fieldname}: {value!r} is not finite",
            file=name,
            row=row,
            field=fieldname,
        )
    return number


def _id(value: str, name: str, row: int, fieldname: str) -> str:
    if not value or len(value) > MAX_ID:
        raise DataError(
            f"{name}, row {row}, field {fieldname}: id must be 1-{MAX_ID} characters",
            file=name,
            row=row,
            field=fieldname,
        )
    return value


def _coords(lat: float, lon: float, name: str, row: int, fields: tuple[str, str]) -> None:
    if not -90.0 <= lat <= 90.0:
        raise DataError(
            f"{name}, row {row}, field {fields[0]}: latitude {lat} is outside [-90, 90]",
            file=name,
            row=row,
            field=fields[0],
        )
    if not -180.0 <= lon <= 180.0:
        raise DataError(
            f"{name}, row {row}, field {fields[1]}: longitude {lon} is outside [-180, 180]",
            file=name,
            row=row,
            field=fields[1],
        )


def _rtt(value: str, name: str, row: int, fieldname: str) -> float:
    rtt = _float(value, name, row, fieldname)
    if rtt <= 0.0 or rtt > MAX_RTT_MS:
        raise DataError(
            f"{name}, row {row}, field {fieldname}: RTT {rtt} ms is not in (0, {MAX_RTT_MS:.0f}]",
            file=name,
            row=row,
            field=fieldname,
        )
    return rtt


def parse_landmarks(text: str, name: str = "landmarks.csv") -> dict[str, Landmark]:
    """Landmarks by id from ``id,lat,lon`` rows; duplicate ids are rejected."""
    out: dict[str, Landmark] = {}
    for row_no, row in _rows(text, name, ("id", "lat", "lon")):
        lid = _id(row["id"], name, row_no, "id")
        lat = _float(row["lat"], name, row_no, "lat")
        lon = _float(row["lon"], name, row_no, "lon")
        _coords(lat, lon, name, row_no, ("lat", "lon"))
        if lid in out:
            raise DataError(
                f"{name}, row {row_no}, field id: duplicate landmark {lid!r}",
                file=name,
                row=row_no,
                field="id",
            )
        out[lid] = Landmark(lid, lat, lon)
    if not out:
        raise DataError(f"{name}: no landmarks", file=name)
    return out


def parse_measurements(
    text: str, landmarks: dict[str, Landmark], name: str = "measurements.csv"
) -> list[tuple[str, float]]:
    """(landmark_id, rtt_ms) rows; every id must be a known landmark."""
    out: list[tuple[str, float]] = []
    for row_no, row in _rows(text, name, ("landmark_id", "rtt_ms")):
        lid = _id(row["landmark_id"], name, row_no, "landmark_id")
        if lid not in landmarks:
            raise DataError(
                f"{name}, row {row_no}, field landmark_id: unknown landmark {lid!r}",
                file=name,
                row=row_no,
                field="landmark_id",
            )
        out.append((lid, _rtt(row["rtt_ms"], name, row_no, "rtt_ms")))
    if not out:
        raise DataError(f"{name}: no measurements", file=name)
    return out


def format_measurements(rows: Sequence[tuple[str, float]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["landmark_id", "rtt_ms"])
    for lid, rtt in rows:
        writer.writerow([lid, f"{rtt:.6f}"])
    return buf.getvalue()


# -- WonderProxy ping dataset -------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    id: str
    title: str
    country: str
    lat: float
    lon: float

    def landmark(self) -> Landmark:
        return Landmark(self.id, self.lat, self.lon)


@dataclass(frozen=True)
class Ping:
    source: str
    destination: str
    min_ms: float


def parse_wonderproxy_servers(text: str, name: str = "servers.csv") -> dict[str, Server]:
    out: dict[str, Server] = {}
    for row_no, row in _rows(text, name, ("id", "latitude", "longitude")):
        sid = _id(row["id"], name, row_no, "id")
        lat = _float(row["latitude"], name, row_no, "latitude")
        lon = _float(row["longitude"], name, row_no, "longitude")
        _coords(lat, lon, name, row_no, ("latitude", "longitude"))
        if sid in out:
            raise DataError(
                f"{name}, row {row_no}, field id: duplicate server {sid!r}",
                file=name,
                row=row_no,
                field="id",
            )
        title = row.get("title") or row.get("name") or sid
        out[sid] = Server(sid, title, row.get("country", ""), lat, lon)
    if not out:
        raise DataError(f"{name}: no servers", file=name)
    return out


def _header(text: str) -> list[str]:
    first = text.split("\n", 1)[0]
    return [h.strip() for h in first.split(",")]


def parse_wonderproxy_pings(
    text: str, servers: dict[str, Server], name: str = "pings.csv"
) -> tuple[list[Ping], int]:
    """Pings and the number of rows skipped because ``min`` is empty (failed pings).

    Also reads the per-pair summary shipped with the package (``min_ms`` column)."""
    out: list[Ping] = []
    skipped = 0
    column = "min_ms" if _header(text).count("min_ms") else "min"
    for row_no, row in _rows(text, name, ("source", "destination", column)):
        src = _id(row["source"], name, row_no, "source")
        dst = _id(row["destination"], name, row_no, "destination")
        for fieldname, sid in (("source", src), ("destination", dst)):
            if sid not in servers:
                raise DataError(
                    f"{name}, row {row_no}, field {fieldname}: unknown server {sid!r}",
                    file=name,
                    row=row_no,
                    field=fieldname,
                )
        if not row[column]:
            skipped += 1
            continue
        out.append(Ping(src, dst, _rtt(row[column], name, row_no, column)))
    return out, skipped
