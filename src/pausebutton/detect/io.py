"""Edge helpers of the detection engine: read bundled data and input files."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from pausebutton import data as bundled_data
from pausebutton.detect.estimate import ModelRecord, parse_models_csv
from pausebutton.detect.hardware import HardwareTable, parse_hardware_csv
from pausebutton.detect.model import Model, runs_from_records
from pausebutton.detect.model import fit as fit_model
from pausebutton.detect.registry import TABLES, Registry, parse_registry
from pausebutton.detect.rules import SignalSet
from pausebutton.detect.signals import (
    SCHEMAS,
    ImportResult,
    Method,
    export_csv,
    import_csv,
    import_json,
)
from pausebutton.errors import DataError, InputError
from pausebutton.fsutil import atomic_write, read_limited


@cache
def bundled_hardware() -> HardwareTable:
    """Epoch AI's ML hardware table, shipped with the package (CC BY 4.0)."""
    text = bundled_data.read_text(bundled_data.EPOCH, "ml_hardware", "ml_hardware.csv")
    return parse_hardware_csv(text)


@cache
def bundled_notable_models() -> list[ModelRecord]:
    """The 137 rows of Epoch AI's notable AI models table the compute estimates are
    calibrated on (CC BY 4.0; data/epoch/ai_models/README.md)."""
    text = bundled_data.read_text(bundled_data.EPOCH, "ai_models", "notable_models_compute.csv")
    return parse_models_csv(text, bundled_hardware())


@cache
def bundled_compute_model() -> Model:
    """The compute model fitted on every bundled notable-models row."""
    runs, ratios = runs_from_records(bundled_notable_models(), bundled_hardware())
    return fit_model(runs, ratios)


# -- signal store and registry directories (edge) -----------------------------


MAX_INPUT = 256 * 1024 * 1024


def read_text(path: str | os.PathLike[str]) -> str:
    data = read_limited(path, MAX_INPUT)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text", file=str(path)) from None


def import_file(path: str | os.PathLike[str], method: Method | None) -> ImportResult:
    """Parse a CSV or JSON signal file (kind from ``method``, the JSON, or the file name)."""
    p = Path(path)
    text = read_text(p)
    if p.suffix.lower() == ".json":
        return import_json(method, text, p.name)
    if method is None:
        try:
            method = Method(p.stem)
        except ValueError:
            raise DataError(
                f"{p.name}: say which kind of signal it holds (--kind); one of"
                f" {', '.join(m.value for m in Method)}",
                file=p.name,
            ) from None
    return import_csv(method, text, p.name)


def load_store(store: str | os.PathLike[str]) -> tuple[SignalSet, list[InputError]]:
    """Every signal in a store directory (one normalised CSV per method)."""
    d = Path(store)
    ss = SignalSet()
    errs: list[InputError] = []
    if not d.is_dir():
        raise DataError(f"{d}: no such signal store", file=str(d))
    for m in Method:
        f = d / f"{m.value}.csv"
        if f.exists():
            res = import_csv(m, read_text(f), f.name)
            ss.extend(res.signals)
            errs.extend(res.errors)
    ss.sort()
    return ss, errs


def add_to_store(store: str | os.PathLike[str], result: ImportResult) -> int:
    """Append the good rows of ``result`` to the store (atomic per method file).

    Ids already in the store (for methods with an id column) are refused as a
    whole: nothing is written and a DataError names the first duplicate.
    """
    d = Path(store)
    d.mkdir(parents=True, exist_ok=True)
    f = d / f"{result.method.value}.csv"
    existing = import_csv(result.method, read_text(f), f.name).signals if f.exists() else []
    id_field = SCHEMAS[result.method].id_field
    if id_field:
        have = {getattr(s, id_field) for s in existing}
        for s in result.signals:
            if getattr(s, id_field) in have:
                raise DataError(
                    f"{id_field} {getattr(s, id_field)!r} is already in the store",
                    field=id_field,
                )
    atomic_write(f, export_csv([*existing, *result.signals], result.method).encode())
    return len(result.signals)


def load_registry(directory: str | os.PathLike[str]) -> tuple[Registry, list[InputError]]:
    """A registry export: ``owners.csv``, ``facilities.csv``, ``chips.csv``, ``licenses.csv``."""
    d = Path(directory)
    if not d.is_dir():
        raise DataError(f"{d}: no such registry directory", file=str(d))
    texts = {
        t: (f"{t}.csv", read_text(d / f"{t}.csv")) for t in TABLES if (d / f"{t}.csv").exists()
    }
    return parse_registry(texts)
