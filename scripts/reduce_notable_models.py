"""Reduce Epoch AI's notable AI models table to the rows and columns the compute
estimates are calibrated on (``src/pausebutton/data/epoch/ai_models/
notable_models_compute.csv``, shipped with the package for ``bench detect``).

Kept: rows with reported training compute, one training hardware type named in the
bundled ML hardware table, a hardware quantity and a training time (the rows
``pausebutton.detect.estimate.parse_models_csv`` accepts); columns: Model, Publication
date, Training compute (FLOP), Training hardware, Hardware quantity, Training time
(hours), Training power draw (W), Numerical format, Hardware utilization (MFU),
unchanged. Licence CC BY 4.0, credit Epoch AI (see the folder's README.md).

Usage: ``PYTHONPATH=src python scripts/reduce_notable_models.py notable_ai_models.csv
> src/pausebutton/data/epoch/ai_models/notable_models_compute.csv`` (the input may be
``.csv.gz``, e.g. tests/data/epoch/ai_models/notable_ai_models.csv.gz).
"""

from __future__ import annotations

import csv
import gzip
import io
import sys

from pausebutton.detect.estimate import parse_models_csv
from pausebutton.detect.io import bundled_hardware

COLUMNS = (
    "Model",
    "Publication date",
    "Training compute (FLOP)",
    "Training hardware",
    "Hardware quantity",
    "Training time (hours)",
    "Training power draw (W)",
    "Numerical format",
    "Hardware utilization (MFU)",
)


def main(path: str) -> None:
    raw = open(path, "rb").read()  # noqa: SIM115 - a one-off script
    text = (gzip.decompress(raw) if path.endswith(".gz") else raw).decode("utf-8")
    keep = {r.name for r in parse_models_csv(text, bundled_hardware())}
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(COLUMNS)
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["Model"] in keep]
    for row in sorted(rows, key=lambda r: r["Model"]):
        out.writerow([row.get(c, "") for c in COLUMNS])


if __name__ == "__main__":
    main(sys.argv[1])
