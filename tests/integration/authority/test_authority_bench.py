"""The authority benchmark runs end to end and reports measured figures."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pausebutton.authority.db import head_revision


@pytest.mark.slow
def test_bench_authority_small(cli: Any) -> None:
    r = cli(
        "bench",
        "authority",
        "--quick",
        "--json",
        "--chips",
        "300",
        "--reports",
        "2000",
        "--scaling",
        "1,2",
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ingest_accepted"] == out["ingest_reports"] >= 2000
    assert out["ingest_errors"] == []
    assert out["ingest_reports_per_s"] > 0 and out["ed25519_verify_per_s"] > 0
    assert out["ed25519_verify_all_cores_per_s"] > 0
    assert out["ingest_vs_raw_verify_all_cores"] > 0
    assert out["ingest_client_cores"] > 0
    # two independent counts agree: the machine was busy (/proc/stat) at least as many
    # cores as the server's processes used (/proc/<pid>/stat), the clock's ticks aside
    busy = (1 - out["ingest_idle_cpu_share"]) * (os.cpu_count() or 1)  # /proc/stat: all
    server = out["ingest_server_cpu_us_per_report"] * out["ingest_reports_per_s"] / 1e6
    assert busy >= 0.75 * server > 0
    # the server's processes did the verifying: about a raw verify per report at least (a
    # figure that measured some other process would not; 0.8 for the clock's ticks)
    assert out["ingest_server_cpu_us_per_report"] >= out["ingest_cpu_verify_us"] * 0.8
    cores = len(os.sched_getaffinity(0))
    assert [(row["workers"], row["cores"]) for row in out["scaling"]] == [
        (1, 1),
        (2, min(2, cores)),
    ]
    for row in out["scaling"]:
        assert row["accepted"] >= 2000 and row["errors"] == [] and row["reports_per_s"] > 0
    one, two = out["scaling"]
    ideal = one["reports_per_s"] * min(2, cores)
    assert two["efficiency"] == round(two["reports_per_s"] / ideal, 3)
    parts = ("decode", "verify", "rest")
    assert all(out[f"ingest_cpu_{p}_us"] > 0 for p in parts)
    assert out["ingest_cpu_us_per_report"] >= sum(out[f"ingest_cpu_{p}_us"] for p in parts) - 0.2
    assert 0 < out["ingest_cpu_vs_verify"] < 1
    assert out["pause_chips_holding"] == out["pause_chips"] == 300
    assert 0 < out["pause_p50_s"] <= out["pause_p99_s"] <= out["pause_max_s"]
    assert out["license_failures"] == 0 and out["license_requests"] == 200
    assert out["license_p50_ms"] <= out["license_p99_ms"]


def test_authority_migrate_cli(cli: Any, tmp_path: Any) -> None:
    assert cli("authority", "init", tmp_path / "a").returncode == 0
    r = cli("authority", "migrate", tmp_path / "a")
    assert r.returncode == 0 and f"revision {head_revision()}" in r.stdout, r.stderr
    assert head_revision() == "0011"
    r = cli("authority", "serve", tmp_path / "nope")
    assert r.returncode == 2 and "not an authority directory" in r.stderr
