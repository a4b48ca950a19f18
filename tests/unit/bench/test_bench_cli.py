"""``pausebutton bench cli``: start times of real subprocesses, and their slowest imports."""

from __future__ import annotations

import json

from pausebutton.bench.cli import TARGET_S


def test_bench_cli_measures_each_command_and_lists_imports(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("bench", "cli", "--quick", "--runs", "1", "--importtime", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["runs"] == 1 and doc["target_s"] == TARGET_S
    names = ["python -c pass", "pausebutton --version", "pausebutton chip status"]
    for name in names:
        assert 0 < doc[f"{name} median_s"] < 60
    assert isinstance(doc["pausebutton chip status within_target"], bool)
    assert "pausebutton --help median_s" not in doc  # quick: no help commands
    top = doc["import_top"]["pausebutton chip status"]
    assert 0 < len(top) <= 8
    assert [t["cumulative_ms"] for t in top] == sorted(
        (t["cumulative_ms"] for t in top), reverse=True
    )
    assert any(t["module"].startswith("pausebutton") for t in top)


def test_bench_cli_refuses_zero_runs(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("bench", "cli", "--runs", "0")
    assert r.returncode == 2 and "runs" in r.stderr and "Traceback" not in r.stderr


def test_bench_authority_refuses_a_bad_scaling_list(cli) -> None:  # type: ignore[no-untyped-def]
    for bad in ("1,x", "0,2", ""):
        r = cli("bench", "authority", "--scaling", bad)
        assert r.returncode == 2 and "--scaling" in r.stderr and "Traceback" not in r.stderr


def test_bench_authority_refuses_bad_sizes_before_starting_anything(cli) -> None:  # type: ignore[no-untyped-def]
    for option, bad in (
        ("--reports", "0"),
        ("--reports", "-5"),
        ("--chips", "-1"),
        ("--workers", "0"),
    ):
        r = cli("bench", "authority", "--quick", option, bad)
        assert r.returncode == 2 and option in r.stderr and "Traceback" not in r.stderr


def test_raw_verify_on_all_cores_counts_every_process() -> None:
    from pausebutton.bench.authority import _verify_loop
    from pausebutton.protocol.keys import PrivateKey

    key = PrivateKey.from_seed_material(b"bench/all-cores")
    work = [(key.public.raw, b"m%d" % i, key.sign(b"m%d" % i)) for i in range(20)]
    assert _verify_loop(work, 0.05) > 0
