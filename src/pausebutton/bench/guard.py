"""Guard overhead on a real training loop, measured side by side in one run.

The same small transformer trains with and without the guard; blocks of steps
alternate between the variants (the order rotates every round) so drift in
machine load hits all of them alike. Variants:

- ``plain``: the loop without a guard;
- ``local``: the guard over an in-process budget (metering cost only);
- ``chip``:  the guard over a firmware chip's state directory (standalone use;
  reservations written to secure NVM);
- ``lease``: the guard over the node agent's Unix-socket lease, served from
  another process by a firmware-backed ledger (what a production job does);
- ``control``: the unguarded loop again, timed like the others: its
  "overhead" is the benchmark's own noise floor.

Reported: median per-step time of each variant; the overhead relative to
``plain`` as the median over rounds of the paired ratio (each round runs every
variant back to back, so load drift cancels) with its interquartile range (on
a loaded machine the spread is far wider than 1 %: read it before the median);
the guard's own cost per step measured directly (an empty step body, so
machine noise does not enter); the time spent in the budget source during the
timed steps; the time of one chip reservation (a secure-NVM write, made about
every ``reserve_seconds``: the chip ledgers start the timed rounds at their
steady-state reservation size, as after a run's first minute); how many lease
steps made a socket round trip (the rest ran on the agent's credit); and the
FLOP the guard metered against a full FlopCounterMode count and 6·N·D. On
CUDA, NVML energy and power are read (read-only).
"""

from __future__ import annotations

import math
import multiprocessing
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pausebutton.bench import phase
from pausebutton.guard.budget import LocalBudget
from pausebutton.guard.examples import analytic_train_flops, make_batch, tiny_gpt, train_step
from pausebutton.guard.torch import Guard, _torch, count_flops


def _chip_dir(directory: Path, flop: int) -> Path:
    from pausebutton.agent.ledger import StateDirChip, encode_record
    from pausebutton.chip.lab import Lab
    from pausebutton.chip.nvm import FileNvm

    lab = Lab.create(b"bench-guard")
    record = lab.new_record()
    FileNvm(directory).create(encode_record(record))
    chip = StateDirChip(directory, verifier=lab.verifier())
    data, inclusion = lab.logged(lab.license(record.chip_id, flop=flop))
    with chip.locked():
        outcome = chip.firmware.install(data, inclusion)
        chip.persist(outcome.record)
    return directory


def _steady_reservation(ledger: Any, step_s: float) -> None:
    """Size a chip ledger's reservation as a run reaches within its first minute: about
    ``reserve_seconds`` of steps (so the timed rounds see no growth-phase NVM writes)."""
    ledger.reserve_steps = max(16, math.ceil(ledger.reserve_seconds / step_s))


def _serve_lease(sock: str, chip_dir: str | None, step_s: float, ready: Any, stop: Any) -> None:
    """The agent's side of the ``lease`` variant, in its own process."""
    from pausebutton.agent.lease import LeaseServer, LeaseService

    ledger: Any
    if chip_dir is None:
        ledger = LocalBudget(10**30)
    else:
        from pausebutton.agent.ledger import ChipLedger, StateDirChip

        ledger = ChipLedger(StateDirChip(chip_dir))
        _steady_reservation(ledger, step_s)
    server = LeaseServer(sock, LeaseService({"GPU-bench": ledger})).start()
    ready.set()
    try:
        stop.wait(3600)
    finally:
        server.stop()


class _LeaseProcess:
    """A lease server in a child process (spawned: no torch state is shared)."""

    def __init__(self, sock: Path, chip_dir: Path | None, step_s: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.stop_event = ctx.Event(), ctx.Event()
        args = (str(sock), None if chip_dir is None else str(chip_dir), step_s)
        self.process = ctx.Process(
            target=_serve_lease, args=(*args, self.ready, self.stop_event), daemon=True
        )
        self.process.start()
        if not self.ready.wait(120):
            self.close()
            from pausebutton.errors import ServiceError

            raise ServiceError("the benchmark's lease server did not start")

    def close(self) -> None:
        self.stop_event.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class _VariantClock:
    """A clock that runs only while its variant's blocks run. The variants take turns,
    so on the wall clock each one sees a fifth of the time pass per step it makes:
    its time-driven work (a chip's periodic full check, a lease credit's expiry)
    would then look five times cheaper or dearer per step than in a job that has
    the machine to itself. With its own clock it happens as often per step as there."""

    def __init__(self) -> None:
        self.base = 0.0
        self.started: float | None = None

    def __call__(self) -> float:
        if self.started is None:
            return self.base
        return self.base + time.perf_counter() - self.started

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> None:
        if self.started is not None:
            self.base += time.perf_counter() - self.started
            self.started = None


class _Nvml:
    """Read-only NVML energy/power of the GPU torch uses (None when unavailable)."""

    def __init__(self, device: str) -> None:
        self.backend: Any = None
        self.uuid: str | None = None
        self.error: str | None = None
        if not device.startswith("cuda"):
            return
        try:
            from pausebutton.agent.nvml import NvmlBackend

            self.backend = NvmlBackend()
            torch = _torch()
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            want = str(getattr(props, "uuid", "")).removeprefix("GPU-")
            gpus = self.backend.gpus()
            match = [g for g in gpus if g.uuid.removeprefix("GPU-") == want]
            self.uuid = (match or gpus)[0].uuid
        except Exception as exc:  # noqa: BLE001 - report, do not fail the benchmark
            self.backend = None
            self.error = repr(exc)

    def energy(self) -> int | None:
        if self.backend is None or self.uuid is None:
            return None
        value: int = self.backend.energy_mj(self.uuid)
        return value

    def power(self) -> int | None:
        if self.backend is None or self.uuid is None:
            return None
        value: int = self.backend.power_mw(self.uuid)
        return value

    def info(self) -> dict[str, Any]:
        if self.backend is None or self.uuid is None:
            return {"nvml": None, "nvml_error": self.error}
        gpu = next(g for g in self.backend.gpus() if g.uuid == self.uuid)
        limits = self.backend.power_limits(self.uuid)
        return {
            "nvml": {
                "uuid": gpu.uuid,
                "serial": gpu.serial,
                "name": gpu.name,
                "power_limit_mw": limits.current_mw,
                "power_limit_range_mw": [limits.min_mw, limits.max_mw],
            }
        }


def _check_options(device: str, rounds: int | None, block: int | None, threads: int | None) -> None:
    from pausebutton.errors import UsageError

    if device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", device):
        raise UsageError(f"device must be cpu, cuda or cuda:N, not {device!r}", field="device")
    for name, value in (("rounds", rounds), ("block", block), ("threads", threads)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1", field=name)


def _sizes(
    quick: bool, device: str, rounds: int | None, block: int | None
) -> tuple[dict[str, int], int, int, int]:
    """The model config, batch size, rounds and steps per block of this run."""
    if quick:
        cfg = {"vocab": 256, "d_model": 64, "n_layer": 2, "n_head": 4, "ctx": 32}
        return cfg, 4, rounds or 10, block or 1
    if device.startswith("cuda"):
        cfg = {"vocab": 4096, "d_model": 512, "n_layer": 6, "n_head": 8, "ctx": 256}
        return cfg, 16, rounds or 150, block or 2
    cfg = {"vocab": 512, "d_model": 128, "n_layer": 2, "n_head": 4, "ctx": 32}
    return cfg, 8, rounds or 600, block or 2


@dataclass
class _Workload:
    """The training step every variant runs, and the guards and clocks of the variants."""

    model: Any
    opt: Any
    x: Any
    y: Any
    sync: Callable[[], None]
    block: int
    guards: dict[str, Guard] = field(default_factory=dict)
    clocks: dict[str, _VariantClock] = field(
        default_factory=lambda: {"chip": _VariantClock(), "lease": _VariantClock()}
    )

    def step(self) -> None:
        train_step(self.model, self.opt, self.x, self.y)

    def _steps(self, guard: Guard | None, n: int) -> None:
        if guard is None:
            for _ in range(n):
                self.step()
            return
        for _ in range(n):
            with guard.step(self.x, self.y):
                self.step()

    def one_block(self, variant: str) -> float:
        """Seconds per step over one block of ``variant`` (on its own clock)."""
        clock = self.clocks.get(variant)
        self.sync()
        if clock is not None:
            clock.start()
        t0 = time.perf_counter()
        self._steps(self.guards.get(variant), self.block)
        self.sync()
        t1 = time.perf_counter()
        if clock is not None:
            clock.stop()
        return (t1 - t0) / self.block

    def empty_body(self, name: str, n: int) -> float:
        """Seconds per step of guard ``name`` around an empty body (charged the cached
        FLOP of the real step): the guard's own cost, measured directly."""
        guard = self.guards[name]
        clock = self.clocks.get(name)
        if clock is not None:
            clock.start()
        t0 = time.perf_counter()
        for _ in range(n):
            with guard.step(self.x, self.y):
                pass
        seconds = (time.perf_counter() - t0) / n
        if clock is not None:
            clock.stop()
        return seconds

    def metered_flop(self) -> int:
        value: int = next(iter(self.guards["local"].stats.flop_by_shape.values()))
        return value


@dataclass
class _Setup:
    """The guarded variants' budget sources: chip ledgers, the lease server process and
    the variants skipped (with why)."""

    chip_ledgers: list[Any] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    lease_server: _LeaseProcess | None = None


def _start_guards(work: _Workload, directory: Path, step_s: float) -> _Setup:
    """Add the ``local``, ``chip`` and ``lease`` guards to ``work`` (the lease served from
    another process); on failure whatever was started is stopped."""
    from pausebutton.agent.lease import LeaseBudget

    huge = 10**30
    setup = _Setup()
    work.guards["local"] = Guard(LocalBudget(huge))
    lease_chip: Path | None = None
    try:  # the firmware needs cbor2 and pynacl; without them only the chip variant is skipped
        from pausebutton.agent.ledger import ChipBudget

        chip_state = _chip_dir(directory / "chip", huge)
        lease_chip = _chip_dir(directory / "lease-chip", huge)
        work.guards["chip"] = Guard(ChipBudget(chip_state, clock=work.clocks["chip"]))
        setup.chip_ledgers.append(work.guards["chip"].budget)
    except ImportError as exc:
        setup.skipped["chip"] = f"firmware dependencies missing: {exc}"
        setup.skipped["lease"] = "served from an in-process ledger, not a firmware chip"
    sock = directory / "lease.sock"
    try:
        setup.lease_server = _LeaseProcess(sock, lease_chip, step_s)
        work.guards["lease"] = Guard(LeaseBudget(sock, clock=work.clocks["lease"]))
    except BaseException:
        if setup.lease_server is not None:
            setup.lease_server.close()
        raise
    return setup


@dataclass
class _Measured:
    """The raw figures of the timed rounds."""

    times: dict[str, list[float]]
    energy: dict[str, int]
    power: dict[str, list[int]]
    guard_s: dict[str, float] = field(default_factory=dict)
    write_ms: list[float] = field(default_factory=list)
    empty: dict[str, float] = field(default_factory=dict)
    steps_timed: int = 0
    lease_round_trips: int = 0


def _reservation_writes(work: _Workload, chip_ledgers: list[Any], step_s: float) -> list[float]:
    """Put the chip ledgers at their steady-state reservation and time one reservation
    (a secure-NVM write) on each, in ms."""
    write_ms: list[float] = []
    for ledger in chip_ledgers:
        _steady_reservation(ledger, step_s)
        ledger.close(0)  # give back the growth-phase reservation
        t0 = time.perf_counter()
        ledger.step(0, work.metered_flop())
        write_ms.append((time.perf_counter() - t0) * 1e3)
    return write_ms


def _timed_round(work: _Workload, order: list[str], nvml: _Nvml, m: _Measured) -> None:
    for variant in order:
        e0 = nvml.energy()
        m.times[variant].append(work.one_block(variant))
        e1 = nvml.energy()
        if e0 is not None and e1 is not None:
            m.energy[variant] += e1 - e0
        p = nvml.power()
        if p is not None:
            m.power[variant].append(p)
    m.steps_timed += work.block


def _measure(
    work: _Workload, setup: _Setup, rounds: int, step_s: float, nvml: _Nvml, quick: bool
) -> _Measured:
    """Warm up, then ``rounds`` rounds of every variant back to back (the order rotating
    every round), then the guards' cost around an empty body."""
    from pausebutton.agent.lease import LeaseBudget

    variants = ["plain", *work.guards, "control"]
    m = _Measured(
        times={v: [] for v in variants},
        energy=dict.fromkeys(variants, 0),
        power={v: [] for v in variants},
    )
    lease_budget = work.guards["lease"].budget
    assert isinstance(lease_budget, LeaseBudget)
    for variant in variants:  # warm-up: the first guarded step meters the shape
        work.one_block(variant)
    m.write_ms = _reservation_writes(work, setup.chip_ledgers, step_s)
    for guard in work.guards.values():
        guard.stats.budget_seconds = 0.0
    round_trips0 = lease_budget.slow_steps
    for r in range(rounds):
        _timed_round(work, variants[r % len(variants) :] + variants[: r % len(variants)], nvml, m)
    m.guard_s = {name: guard.stats.budget_seconds for name, guard in work.guards.items()}
    m.lease_round_trips = lease_budget.slow_steps - round_trips0
    n_empty = 200 if quick else 2000
    m.empty = {name: work.empty_body(name, n_empty) for name in work.guards}
    return m


def _iqr(values: list[float]) -> list[float]:
    """The interquartile range of sorted ratios, as overhead percentages."""
    if len(values) < 4:
        return [round((values[0] - 1) * 100, 2), round((values[-1] - 1) * 100, 2)]
    q = statistics.quantiles(values, n=4)
    return [round((q[0] - 1) * 100, 2), round((q[2] - 1) * 100, 2)]


def _overheads(m: _Measured, compared: list[str]) -> dict[str, Any]:
    """Step times and overheads relative to ``plain``. Paired: each round ran every
    variant back to back, so the ratio within a round cancels the machine's load drift;
    the median over rounds is the estimate."""
    med = {v: statistics.median(ts) for v, ts in m.times.items()}
    ratios = {
        v: sorted(g / p for g, p in zip(m.times[v], m.times["plain"], strict=True))
        for v in compared
    }
    plain, steps = med["plain"], m.steps_timed
    return {
        "step_ms": {v: round(t * 1e3, 3) for v, t in med.items()},
        "overhead_pct": {v: round((statistics.median(r) - 1) * 100, 2) for v, r in ratios.items()},
        "overhead_pct_iqr": {v: _iqr(r) for v, r in ratios.items()},
        "overhead_pct_of_medians": {v: round((med[v] / plain - 1) * 100, 2) for v in compared},
        "guard_us_per_step_empty_body": {v: round(t * 1e6, 1) for v, t in m.empty.items()},
        "guard_pct_of_plain_step": {v: round(t / plain * 100, 3) for v, t in m.empty.items()},
        "guard_budget_us_per_step": {v: round(s / steps * 1e6, 1) for v, s in m.guard_s.items()},
        "guard_budget_pct_of_step": {
            v: round(s / steps / plain * 100, 3) for v, s in m.guard_s.items()
        },
    }


def _extras(m: _Measured, setup: _Setup, nvml: _Nvml) -> dict[str, Any]:
    """The reservation write, skipped variants and NVML figures, where there are any."""
    out: dict[str, Any] = {}
    if m.write_ms:
        reserve_s = setup.chip_ledgers[0].reserve_seconds
        write = statistics.median(m.write_ms)
        out["reservation_write_ms"] = round(write, 2)
        out["reservation_seconds"] = reserve_s
        out["reservation_write_pct_steady"] = round(write / (reserve_s * 1e3) * 100, 3)
    if setup.skipped:
        out["skipped"] = setup.skipped
    out |= nvml.info()
    if any(m.energy.values()):
        steps = m.steps_timed
        out["nvml_energy_mj_per_step"] = {v: round(e / steps, 1) for v, e in m.energy.items()}
        out["nvml_power_w_median"] = {
            v: round(statistics.median(p) / 1000, 1) for v, p in m.power.items() if p
        }
    return out


def run(
    quick: bool = False,
    *,
    device: str = "cpu",
    rounds: int | None = None,
    block: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run the benchmark; the figures as one JSON-ready dict (module docstring)."""
    from pausebutton.errors import HardwareError

    _check_options(device, rounds, block, threads)
    torch = _torch()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HardwareError("CUDA is not available to torch on this machine")
    if threads:
        torch.set_num_threads(threads)
    cfg, batch, n_rounds, n_block = _sizes(quick, device, rounds, block)
    torch.manual_seed(0)
    model = tiny_gpt(**cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = make_batch(model, batch, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    work = _Workload(model, opt, x, y, sync, n_block)

    # accuracy: cached metering vs a full count and 6·N·D
    work.step()
    phase("metering accuracy")
    full = count_flops(work.step)
    analytic = analytic_train_flops(model, x.numel())

    # chip ledgers start at their steady-state reservation; the time of one reservation
    # (a secure-NVM write) is measured and reported on its own
    step_s = statistics.median(work.one_block("plain") for _ in range(5))
    with tempfile.TemporaryDirectory(prefix="pb-bench-guard-") as tmp:
        setup = _start_guards(work, Path(tmp), step_s)
        assert setup.lease_server is not None
        nvml = _Nvml(device)
        try:
            phase("guarded and plain training rounds")
            m = _measure(work, setup, n_rounds, step_s, nvml, quick)
        finally:
            for guard in work.guards.values():
                guard.close()
            setup.lease_server.close()
    metered_step = work.metered_flop()
    return {
        "device": device,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "model": cfg | {"batch": batch, "params_matmul": analytic // (6 * x.numel())},
        "rounds": n_rounds,
        "steps_per_block": n_block,
        "steps_per_variant": m.steps_timed,
        "flop_per_step_metered": metered_step,
        "flop_per_step_full_count": full,
        "flop_per_step_6nd": analytic,
        "metered_vs_full": round(metered_step / full, 4),
        "metered_vs_6nd": round(metered_step / analytic, 4),
        **_overheads(m, [*work.guards, "control"]),
        "lease_round_trips": m.lease_round_trips,
        "lease_steps_per_round_trip": round(m.steps_timed / max(m.lease_round_trips, 1), 1),
        **_extras(m, setup, nvml),
    }
