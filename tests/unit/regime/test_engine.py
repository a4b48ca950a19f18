"""The Dask engine: a real embedded cluster, resumable run directories, bad addresses."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from pausebutton.errors import ConflictError, ServiceError, UsageError
from pausebutton.regime import engine
from pausebutton.regime import scenario as sc


def _scenario(**extra: object) -> sc.Scenario:
    return sc.parse(
        {"world": {"stock_chips": 4000}, "shard_chips": 1000, "days": 20, "seeds": [1, 2], **extra}
    )


@pytest.fixture(scope="module")
def running() -> Iterator[LocalCluster]:
    """A Dask cluster started outside the engine (shared by the tests that only need one)."""
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(running: LocalCluster) -> Iterator[Client]:
    with Client(running, set_as_default=False) as c:
        yield c


def test_an_interrupted_run_cleans_up_and_resumes(tmp_path: Path, client: Client) -> None:
    s = _scenario()

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    # its own embedded cluster: the interruption must stop it and remove its scratch space
    with pytest.raises(KeyboardInterrupt):
        engine.compute(s, tmp_path, workers=1, progress=stop_after_three)
    kept = sorted(p.name for p in (tmp_path / engine.SHARDS).glob("*.npz"))
    assert len(kept) == 3 and len(engine.plan(s)) == 8
    assert not (tmp_path / engine.SCRATCH).exists()
    assert not list(tmp_path.rglob("*.tmp"))

    again = engine.compute(s, tmp_path, client=client)
    assert (again.resumed, again.computed) == (3, 5)
    straight = engine.compute(s, tmp_path / "other", client=client)
    for seed in s.seeds:  # the resumed run equals one run straight through
        assert (again.fleet[seed].running == straight.fleet[seed].running).all()
    assert again.hybrid_days == straight.hybrid_days == 8 * 2 * 20
    third = engine.compute(s, tmp_path)  # nothing missing: no cluster needed
    assert (third.resumed, third.computed) == (8, 0)


def test_a_directory_of_another_scenario_is_refused(tmp_path: Path) -> None:
    engine.prepare(_scenario(), tmp_path)
    with pytest.raises(ConflictError, match="holds a run of another scenario"):
        engine.prepare(_scenario(days=21), tmp_path)
    engine.prepare(_scenario(days=21), tmp_path, fresh=True)


def test_an_unreachable_scheduler_is_a_named_error_soon(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(
        ServiceError, match=re.escape("cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    ):
        engine.compute(_scenario(), tmp_path, address="tcp://127.0.0.1:9", connect_timeout=1.0)
    assert time.monotonic() - start < 20


def test_a_malformed_address_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a Dask scheduler address"):
        engine.compute(_scenario(), tmp_path, address="not a scheduler", connect_timeout=1.0)
    with pytest.raises(UsageError, match="unknown address scheme 'foo'"):
        engine.compute(_scenario(), tmp_path, address="foo://x:1", connect_timeout=1.0)


def test_a_damaged_shard_file_is_computed_again(tmp_path: Path, client: Client) -> None:
    s = _scenario(seeds=[1])
    engine.compute(s, tmp_path, client=client)
    victim = tmp_path / engine.SHARDS / "seed-1-00001.npz"
    victim.write_bytes(b"not a shard")
    again = engine.compute(s, tmp_path, client=client)
    assert (again.resumed, again.computed) == (3, 1)


def test_a_run_joins_a_running_scheduler(
    tmp_path: Path, running: LocalCluster, client: Client
) -> None:
    s = _scenario(seeds=[3])
    joined = engine.compute(s, tmp_path / "joined", address=running.scheduler_address)
    assert running.scheduler_info["workers"]  # still up: a run leaves a cluster it joined
    direct = engine.compute(s, tmp_path / "direct", client=client)
    assert joined.computed == 4 and (joined.fleet[3].running == direct.fleet[3].running).all()


def test_the_embedded_workers_keep_glibcs_malloc_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dask's default MALLOC_TRIM_THRESHOLD_ makes every temporary array a fresh mapping
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with engine.cluster(workers=1, address=None, scratch=tmp_path / "scratch") as client:
        seen = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
    assert list(seen.values()) == [None]
    assert not (tmp_path / "scratch").exists()
