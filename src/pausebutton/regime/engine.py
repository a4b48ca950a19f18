"""Running a scenario on Dask: one task per (seed, shard), results kept per shard on disk.

The fleet is cut into shards of ``scenario.shard_chips`` chips; each (seed, shard) is one
Dask task that runs the vectorised model (:mod:`pausebutton.regime.model`) and replays its
hybrid sample through the real code (:mod:`pausebutton.regime.truth`). By default an
embedded ``LocalCluster`` (worker processes, one thread each) runs them; ``address`` joins
an existing scheduler instead.

The run directory::

    RUN/manifest.json          the scenario (and its digest) the directory belongs to
    RUN/shards/seed-S-NNNNN.npz one file per completed task (written atomically)
    RUN/.dask/                 the embedded cluster's scratch space (removed at the end)

A run that stops (Ctrl-C, a failure, a killed client) keeps every completed shard;
running the same scenario into the same directory again computes only the missing ones.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pausebutton.errors import ConflictError, DataError, ServiceError, UsageError
from pausebutton.fsutil import atomic_write
from pausebutton.regime import model, truth
from pausebutton.regime.scenario import Scenario
from pausebutton.regime.world import World, build

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SHARDS = "shards"
SCRATCH = ".dask"


NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
"""Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also stops glibc from
raising its mmap threshold: every temporary array of a shard (megabytes, dozens a day) is then
mapped and unmapped afresh, and a shard costs about 1.75 times the CPU (measured: 0.87 s
against 0.49 s for 250,000 chips x 90 days). The embedded cluster's workers keep glibc's
defaults; a cluster joined with ``--address`` keeps its own settings."""


@dataclass(frozen=True)
class Task:
    seed: int
    index: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"seed-{self.seed}-{self.index:05d}"


def plan(scenario: Scenario) -> list[Task]:
    """Every (seed, shard) task of the scenario, in order."""
    stock, size = scenario.world.stock_chips, scenario.shard_chips
    return [
        Task(seed, i, start, min(start + size, stock))
        for seed in scenario.seeds
        for i, start in enumerate(range(0, stock, size))
    ]


_WORLDS: dict[str, World] = {}


def _world(scenario: Scenario) -> World:
    """The scenario's world, built once per worker process."""
    key = scenario.digest()
    if key not in _WORLDS:
        _WORLDS[key] = build(scenario)
    return _WORLDS[key]


def members(scenario: Scenario, world: World) -> list[str]:
    return [c for c, m in zip(world.countries, world.member, strict=True) if m]


def shard_task(scenario: Scenario, task: Task) -> dict[str, Any]:
    """One Dask task: the shard's model result, its hybrid sample checked by the real code
    (a disagreement raises ModelMismatchError, which fails the run)."""
    world = _world(scenario)
    result = model.run_shard(
        scenario, world, task.seed, task.start, task.stop, sample=scenario.hybrid_per_shard
    )
    checked = truth.check_samples(scenario, members(scenario, world), task.seed, result.samples)
    arrays = result.to_arrays()
    arrays["hybrid_days"] = np.array(checked)
    return arrays


def _save(path: Path, arrays: dict[str, Any]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def load_shard(path: Path) -> tuple[model.ShardResult, int] | None:
    """A saved shard, or None (and the file removed) when it is unreadable."""
    try:
        with np.load(path) as data:
            return model.ShardResult.from_arrays(data), int(data["hybrid_days"])
    except (OSError, ValueError, KeyError) as exc:
        log.warning("shard file %s is unreadable (%s); it will be computed again", path, exc)
        path.unlink(missing_ok=True)
        return None


def prepare(scenario: Scenario, run_dir: Path, *, fresh: bool = False) -> None:
    """Bind ``run_dir`` to the scenario (or check that it already is)."""
    manifest = run_dir / MANIFEST
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir / SHARDS, ignore_errors=True)
        manifest.unlink(missing_ok=True)
    if manifest.exists():
        try:
            held = json.loads(manifest.read_text(encoding="utf-8"))["digest"]
        except (OSError, ValueError, KeyError):
            raise DataError(
                f"{manifest} is damaged; use a new run directory", file=str(manifest)
            ) from None
        if held != scenario.digest():
            raise ConflictError(
                f"{run_dir} holds a run of another scenario (digest {held}, this one"
                f" {scenario.digest()}); use a new directory or --fresh"
            )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    body = {"digest": scenario.digest(), "scenario": scenario.model_dump(mode="json")}
    atomic_write(manifest, (json.dumps(body, indent=2) + "\n").encode())


def _reachable(address: str, timeout: float) -> None:
    """Fail fast, before a Dask client is made, when nothing listens at ``address``."""
    from distributed.comm.addressing import get_address_host_port

    try:
        host, port = get_address_host_port(address)
    except ValueError as exc:
        raise UsageError(f"{address!r} is not a Dask scheduler address ({exc})") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ServiceError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({exc})"
        ) from None


@contextlib.contextmanager
def cluster(
    *, workers: int | None, address: str | None, scratch: Path, connect_timeout: float = 5.0
) -> Iterator[Client]:
    """A Dask client: on ``address`` (an existing scheduler), else on an embedded
    LocalCluster of ``workers`` processes (default: the CPU count). Closed, workers
    stopped and the scratch folder removed on the way out, however it is left."""
    from distributed import Client, LocalCluster

    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    if address is not None:
        _reachable(address, connect_timeout)
        try:
            client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ServiceError(
                f"cannot reach the Dask scheduler at {address} within {connect_timeout:g} s ({exc})"
            ) from None
        except ValueError as exc:
            raise UsageError(f"{address!r} is not a Dask scheduler address ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    scratch.mkdir(parents=True, exist_ok=True)
    local = None
    try:
        with dask.config.set(NO_MALLOC_TRIM):
            local = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: 8787 may be taken
                local_directory=str(scratch),
                silence_logs=logging.ERROR,
            )
        client = Client(local, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        if local is not None:
            local.close()
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class Computed:
    """Per seed: the fleet summed over shards; and the chip-days the real code checked."""

    fleet: dict[int, model.ShardResult]
    hybrid_days: int
    computed: int
    resumed: int


def compute(
    scenario: Scenario,
    run_dir: Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    fresh: bool = False,
    progress: Callable[[int, int], None] | None = None,
    connect_timeout: float = 5.0,
    client: Client | None = None,
) -> Computed:
    """Run every missing task of ``scenario`` into ``run_dir`` and sum the shards per seed
    (on ``client`` when given, else on a cluster of its own)."""
    prepare(scenario, run_dir, fresh=fresh)
    shards = run_dir / SHARDS
    tasks = plan(scenario)
    done: dict[Task, tuple[model.ShardResult, int]] = {}
    for task in tasks:
        path = shards / f"{task.name}.npz"
        if path.exists():
            loaded = load_shard(path)
            if loaded is not None:
                done[task] = loaded
    resumed = len(done)
    missing = [t for t in tasks if t not in done]
    if progress is not None:
        progress(len(done), len(tasks))
    if missing and client is not None:
        _run_tasks(client, scenario, missing, shards, done, len(tasks), progress)
    elif missing:
        with cluster(
            workers=workers,
            address=address,
            scratch=run_dir / SCRATCH,
            connect_timeout=connect_timeout,
        ) as own:
            _run_tasks(own, scenario, missing, shards, done, len(tasks), progress)
    fleet: dict[int, model.ShardResult] = {}
    hybrid = 0
    for task in tasks:
        result, checked = done[task]
        hybrid += checked
        fleet[task.seed] = fleet[task.seed].add(result) if task.seed in fleet else result
    return Computed(fleet, hybrid, len(missing), resumed)


def _run_tasks(
    client: Client,
    scenario: Scenario,
    missing: list[Task],
    shards: Path,
    done: dict[Task, tuple[model.ShardResult, int]],
    total: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Submit ``missing``; save each result as it completes; cancel the rest on any exit."""
    from distributed import as_completed

    digest = scenario.digest()
    futures = {
        client.submit(shard_task, scenario, t, key=f"regime-{digest}-{t.name}", pure=False): t
        for t in missing
    }
    try:
        for future in as_completed(list(futures), loop=client.loop):
            task = futures[future]
            arrays = future.result()
            _save(shards / f"{task.name}.npz", arrays)
            done[task] = (model.ShardResult.from_arrays(arrays), int(arrays["hybrid_days"]))
            if progress is not None:
                progress(len(done), total)
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
