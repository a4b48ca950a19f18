"""The regime simulator's scaling: chip-days simulated per second on 1, 2 and all cores.

One scenario (the defaults: a members' pause on day 10, 1 % offline chips, 5 %
intermittent, hybrid sample of 2 chips per shard through the real code) runs fresh into a
temporary directory on an embedded Dask cluster of each size in turn, in one process,
one after the other. Reported per size: the cluster's start time, the run's wall time
(cluster start excluded; shard results saved, the hybrid check included), chip-days per
second, and the scaling efficiency ``rate(n) / (n * rate(1))``. The one-worker run is
repeated at the end: the gap between its two rates is the benchmark's noise on this machine.
First, one shard runs in this process without Dask (``inline``): the per-core rate the
clusters' rates are read against. The workers' CPU time (user + system) during each run
is read too: ``cores_obtained`` (CPU time / wall time) says how much of its cores a
cluster got, which on a shared machine is what limits the speed-up; ``cpu_efficiency``
(one worker's CPU time over n workers' for the same work) is the scaling efficiency the
cluster would reach where its cores were its own, since it counts only the work added by
coordinating more workers.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from pausebutton.errors import UsageError
from pausebutton.regime import engine
from pausebutton.regime import scenario as sc


def _sizes(text: str) -> list[int]:
    cores = os.cpu_count() or 1
    out: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        try:
            n = cores if part == "all" else int(part)
        except ValueError:
            raise UsageError(f"--workers-list: {part!r} is not a number or 'all'") from None
        if n < 1:
            raise UsageError("--workers-list: a cluster needs at least one worker")
        if n not in out:
            out.append(n)
    return out


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def run(
    *,
    quick: bool = False,
    chips: int | None = None,
    days: int | None = None,
    workers_list: str = "1,2,all",
    shard_chips: int | None = None,
) -> dict[str, Any]:
    chips = chips or (200_000 if quick else 4_000_000)
    days = days or (30 if quick else 90)
    sizes = _sizes(workers_list)
    shard = shard_chips or max(1_000, min(250_000, chips // (4 * max(sizes))))
    scenario = sc.parse(
        {
            "name": "bench",
            "world": {"stock_chips": chips},
            "days": days,
            "shard_chips": shard,
            "pause": {"day": min(10, days // 3)},
            "adversaries": {"offline_chips": {"share": 0.01}},
        }
    )
    tasks = len(engine.plan(scenario))
    result: dict[str, Any] = {
        "chips": chips,
        "days": days,
        "chip_days": chips * days,
        "shards": tasks,
        "shard_chips": shard,
        "cpu_count": os.cpu_count(),
    }
    # one shard in this process, no Dask: the per-core reference the clusters are read against
    first = engine.plan(scenario)[0]
    start = time.perf_counter()
    engine.shard_task(scenario, first)
    inline = time.perf_counter() - start
    result["inline_shard_s"] = round(inline, 3)
    result["inline_chip_days_per_s"] = round((first.stop - first.start) * days / inline)
    rates: dict[str, float] = {}
    runs = [*sizes, sizes[0]] if len(sizes) > 1 and not quick else sizes
    with tempfile.TemporaryDirectory(prefix="pb-bench-sim-") as tmp:
        for i, n in enumerate(runs):
            label = f"{n}w" if i < len(sizes) else f"{n}w_repeat"
            start = time.perf_counter()
            with engine.cluster(
                workers=n, address=None, scratch=Path(tmp) / f"scratch-{i}"
            ) as client:
                procs = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
                cpu0 = sum(_cpu(p) for p in procs)
                ready = time.perf_counter()
                computed = engine.compute(scenario, Path(tmp) / f"run-{i}", client=client)
                wall = time.perf_counter() - ready
                cpu = sum(_cpu(p) for p in procs) - cpu0
            rate = chips * days / wall
            rates[label] = rate
            result[f"{label}_cluster_start_s"] = round(ready - start, 2)
            result[f"{label}_wall_s"] = round(wall, 2)
            result[f"{label}_chip_days_per_s"] = round(rate)
            result[f"{label}_hybrid_chip_days"] = computed.hybrid_days
            result[f"{label}_worker_cpu_s"] = round(cpu, 2)
            result[f"{label}_cores_obtained"] = round(cpu / wall, 2)
    base = rates[f"{sizes[0]}w"]
    base_cpu = result[f"{sizes[0]}w_worker_cpu_s"]
    for n in sizes:
        result[f"{n}w_speedup"] = round(rates[f"{n}w"] / base, 2)
        result[f"{n}w_efficiency"] = round(rates[f"{n}w"] / (n / sizes[0] * base), 2)
        # the same work's CPU time on n workers against one: the share of the extra cores'
        # time that goes into simulating (not into coordinating), whatever else loads them
        cpu = result[f"{n}w_worker_cpu_s"]
        result[f"{n}w_chip_days_per_cpu_s"] = round(chips * days / cpu) if cpu else None
        result[f"{n}w_cpu_efficiency"] = round(base_cpu / cpu, 2) if cpu else None
    return result
