"""The console benchmark's pieces: the bulk-loaded registry aggregates to the states it
was loaded with, and a tiny run of ``pausebutton bench console`` prints its figures."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pausebutton.authority.db import Database
from pausebutton.bench.console import CHROMIUM, bulk_registry
from pausebutton.console import queries


def test_the_bulk_registry_aggregates_to_the_states_it_was_loaded_with(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    n = 5000
    loaded = bulk_registry(url, 50, n)
    assert loaded["chips"] == n
    expected = dict.fromkeys(queries.STATES, 0)
    for i in range(n):
        if i % 1000 == 7:
            expected["alert"] += 1
        elif i % 100 == 3:
            expected["unverified"] += 1
        elif i % 2 == 0:
            expected[("licensed", "throttled", "paused")[i % 3]] += 1
        else:
            expected["throttled"] += 1  # no report, no licence
    db = Database.connect(url)
    try:
        with db.read.connect() as conn:
            data = queries.map_data(conn, int(time.time()))
    finally:
        db.dispose()
    assert dict(zip(data["states"], data["totals"]["chips"], strict=True)) == expected
    assert len(data["facilities"]) == 50
    assert sum(sum(f[6]) for f in data["facilities"]) == n


@pytest.mark.skipif(
    not Path(os.environ.get("PB_CHROMIUM", CHROMIUM)).exists(), reason="needs chromium"
)
def test_bench_console_tiny_run_prints_its_figures(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "bench",
        "console",
        "--quick",
        "--json",
        "--facilities",
        "20",
        "--chips",
        "300",
        "--fleet",
        "2",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["map_api_facilities"] == 20 and doc["map_api_bytes"] > doc["map_api_wire_bytes"] > 0
    assert doc["map_page_interactive_s_median"] > 0
    assert doc["delivery_chips"] == 2 and doc["kth_signature_to_page_100pct_s_median"] > 0
    assert doc["kth_signature_to_fleet_reported_s_median"] > 0
