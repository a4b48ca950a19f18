"""ML hardware specifications (Epoch AI's ML hardware table). Pure: parses text.

Names are exactly those of Epoch's ``Hardware name`` column. The peak rate
used for training is chosen by precision with a documented fallback chain:
``bf16`` uses the fastest of the tensor FP16/BF16, plain FP16 and FP32 rates
(older chips have no tensor rate, and some consumer cards run FP16 at 1/64 of
FP32); ``fp8``, ``tf32`` and ``fp32`` use that column alone.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

from pausebutton.errors import DataError

PRECISIONS: dict[str, tuple[str, ...]] = {
    "bf16": (
        "Tensor-FP16/BF16 performance (FLOP/s)",
        "FP16 (half precision) performance (FLOP/s)",
        "FP32 (single precision) performance (FLOP/s)",
    ),
    "fp8": ("FP8 performance (FLOP/s)",),
    "tf32": ("TF32 (TensorFloat-32) performance (FLOP/s)",),
    "fp32": ("FP32 (single precision) performance (FLOP/s)",),
}

NAME_COLUMN = "Hardware name"
TDP_COLUMN = "TDP (W)"


def _num(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) and v > 0 else None


@dataclass(frozen=True)
class Hardware:
    """One accelerator: peak FLOP/s per precision and thermal design power (W)."""

    name: str
    manufacturer: str
    peaks: dict[str, float]
    tdp_w: float | None
    kind: str = ""
    """Epoch's "Type": GPU, TPU, ..."""
    release_year: int | None = None

    def peak(self, precision: str = "bf16") -> float:
        """Peak dense FLOP/s at ``precision`` (DataError when the table has none)."""
        if precision not in PRECISIONS:
            raise DataError(
                f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}",
                field="precision",
            )
        v = self.peaks.get(precision)
        if v is None:
            raise DataError(
                f"{self.name}: Epoch's table gives no {precision} rate", field="precision"
            )
        return v

    def efficiency(self, precision: str = "bf16") -> float:
        """Peak FLOP per joule of chip (TDP) energy."""
        if self.tdp_w is None:
            raise DataError(f"{self.name}: Epoch's table gives no TDP", field="hardware")
        return self.peak(precision) / self.tdp_w


class HardwareTable:
    """Lookup by exact Epoch name; unknown names raise DataError with close matches."""

    def __init__(self, items: Iterable[Hardware]) -> None:
        self._by_name: dict[str, Hardware] = {h.name: h for h in items}

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def close_matches(self, name: str, n: int = 5) -> list[str]:
        names = self.names()
        low = name.lower().strip()
        out = sorted((c for c in names if low and low in c.lower()), key=len)
        for cand in difflib.get_close_matches(name, names, n=n, cutoff=0.4):
            if cand not in out:
                out.append(cand)
        return out[:n]

    def resolve(self, name: str) -> Hardware | None:
        """The hardware a registry's model name means: the Epoch name itself, else the one
        Epoch name that contains it (case aside: a vendor's ``H100 SXM5`` is Epoch's
        ``NVIDIA H100 SXM5 80GB``); None when no name or several names fit."""
        hw = self._by_name.get(name)
        if hw is not None:
            return hw
        low = name.lower().strip()
        fits = [h for n, h in self._by_name.items() if low and low in n.lower()]
        return fits[0] if len(fits) == 1 else None

    def get(self, name: str) -> Hardware:
        hw = self._by_name.get(name)
        if hw is None:
            close = self.close_matches(name)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise DataError(
                f"unknown hardware {name!r} (names as in Epoch's ML hardware table){hint}",
                field="hardware",
                close_matches=", ".join(close),
            )
        return hw


def _year(text: str | None) -> int | None:
    head = (text or "").strip()[:4]
    return int(head) if head.isdigit() else None


def parse_hardware_csv(text: str) -> HardwareTable:
    """Parse Epoch's ``ml_hardware.csv`` text."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or NAME_COLUMN not in reader.fieldnames:
        raise DataError(f"not Epoch's ML hardware table: no {NAME_COLUMN!r} column")
    items: list[Hardware] = []
    for row in reader:
        name = (row.get(NAME_COLUMN) or "").strip()
        if not name:
            continue
        peaks: dict[str, float] = {}
        for prec, cols in PRECISIONS.items():
            values = [v for v in (_num(row.get(col)) for col in cols) if v is not None]
            if values:
                peaks[prec] = max(values)
        items.append(
            Hardware(
                name=name,
                manufacturer=(row.get("Manufacturer") or "").strip(),
                peaks=peaks,
                tdp_w=_num(row.get(TDP_COLUMN)),
                kind=(row.get("Type") or "").strip(),
                release_year=_year(row.get("Release date")),
            )
        )
    return HardwareTable(items)
