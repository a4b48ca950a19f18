"""``pausebutton bench sim``: the scaling benchmark runs and prints its figures."""

from __future__ import annotations

import json


def test_bench_sim_reports_rates_and_efficiency(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "bench",
        "sim",
        "--json",
        "--quick",
        "--chips",
        "20000",
        "--days",
        "10",
        "--workers-list",
        "1,2",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["chip_days"] == 200_000 and doc["shards"] >= 4
    assert doc["1w_chip_days_per_s"] > 0 and doc["2w_chip_days_per_s"] > 0
    assert doc["1w_efficiency"] == 1.0 and doc["2w_efficiency"] > 0
    assert doc["1w_hybrid_chip_days"] == doc["2w_hybrid_chip_days"] > 0
    assert doc["1w_worker_cpu_s"] > 0 and 0 < doc["2w_cores_obtained"] <= 2.5
    assert doc["inline_chip_days_per_s"] > 0


def test_bench_sim_refuses_a_bad_cluster_size(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("bench", "sim", "--quick", "--workers-list", "0")
    assert r.returncode == 2 and "at least one worker" in r.stderr
