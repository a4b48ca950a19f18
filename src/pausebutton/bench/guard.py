"""Guard overhead on a real training loop, measured side by side in one run.

The same small transformer trains with and without the guard; blocks of steps
alternate between the variants (the order rotates every round) so drift in
machine load hits all of them alike. Variants:

- ``plain``: the loop without a guard;
- ``local``: the guard over an in-process budget (metering cost only);
- ``chip``:  the guard over a firmware chip's state directory (standalone use;
  reservations written to secure NVM);
- ``lease``: the guard over the node agent's Unix-socket lease, served by a
  firmware-backed ledger (what a production job does).

Reported: median per-step time of each variant; the overhead relative to
``plain`` as the median over rounds of the paired ratio (each round runs every
variant back to back, so load drift cancels) with its interquartile range (on
a loaded machine the spread is far wider than 1 %: read it before the median);
the guard's own cost per step measured directly (an empty step body, so
machine noise does not enter); the time spent in the budget source during the
timed steps; the time of one chip reservation (a secure-NVM write, made about
every ``reserve_seconds``: the chip ledgers start the timed rounds at their
steady-state reservation size, as after a run's first minute); and the FLOP
the guard metered against a full FlopCounterMode count and 6·N·D. On CUDA,
NVML energy and power are read (read-only).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

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


def run(
    quick: bool = False,
    *,
    device: str = "cpu",
    rounds: int | None = None,
    block: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    torch = _torch()
    if device.startswith("cuda") and not torch.cuda.is_available():
        from pausebutton.errors import HardwareError

        raise HardwareError("CUDA is not available to torch on this machine")
    if threads:
        torch.set_num_threads(threads)
    if quick:
        cfg = {"vocab": 256, "d_model": 64, "n_layer": 2, "n_head": 4, "ctx": 32}
        batch, rounds, block = 4, rounds or 10, block or 1
    elif device.startswith("cuda"):
        cfg = {"vocab": 4096, "d_model": 512, "n_layer": 6, "n_head": 8, "ctx": 256}
        batch, rounds, block = 16, rounds or 150, block or 2
    else:
        cfg = {"vocab": 512, "d_model": 128, "n_layer": 2, "n_head": 4, "ctx": 32}
        batch, rounds, block = 8, rounds or 300, block or 1
    torch.manual_seed(0)
    model = tiny_gpt(**cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = make_batch(model, batch, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    # accuracy: cached metering vs a full count and 6·N·D
    train_step(model, opt, x, y)
    full = count_flops(lambda: train_step(model, opt, x, y))
    analytic = analytic_train_flops(model, x.numel())

    tmp = tempfile.TemporaryDirectory(prefix="pb-bench-guard-")
    from pausebutton.agent.lease import LeaseBudget, LeaseServer, LeaseService

    huge = 10**30
    skipped: dict[str, str] = {}
    chip_ledgers: list[Any] = []

    def metered_flop() -> int:
        return next(iter(guards["local"].stats.flop_by_shape.values()))

    guards: dict[str, Guard] = {"local": Guard(LocalBudget(huge))}
    ledger: Any
    try:  # the firmware needs cbor2 and pynacl; without them only the chip variant is skipped
        from pausebutton.agent.ledger import ChipBudget, ChipLedger, StateDirChip

        chip_state = _chip_dir(Path(tmp.name) / "chip", huge)
        lease_state = _chip_dir(Path(tmp.name) / "lease-chip", huge)
        guards["chip"] = Guard(ChipBudget(chip_state))
        ledger = ChipLedger(StateDirChip(lease_state))
        chip_ledgers.append(guards["chip"].budget)
        chip_ledgers.append(ledger)
    except ImportError as exc:
        skipped["chip"] = f"firmware dependencies missing: {exc}"
        ledger = LocalBudget(huge)
        skipped["lease"] = "served from an in-process ledger, not a firmware chip"
    service = LeaseService({"GPU-bench": ledger})
    server = LeaseServer(Path(tmp.name) / "lease.sock", service).start()
    guards["lease"] = Guard(LeaseBudget(Path(tmp.name) / "lease.sock"))
    nvml = _Nvml(device)
    variants = ["plain", *guards]
    times: dict[str, list[float]] = {v: [] for v in variants}
    energy: dict[str, int] = dict.fromkeys(variants, 0)
    power: dict[str, list[int]] = {v: [] for v in variants}
    guard_s: dict[str, float] = dict.fromkeys(guards, 0.0)

    def one_block(variant: str) -> float:
        guard = guards.get(variant)
        sync()
        t0 = time.perf_counter()
        if guard is None:
            for _ in range(block):
                train_step(model, opt, x, y)
        else:
            for _ in range(block):
                with guard.step(x, y):
                    train_step(model, opt, x, y)
        sync()
        return (time.perf_counter() - t0) / block

    try:
        for variant in variants:  # warm-up: the first guarded step meters the shape
            one_block(variant)
        # chip ledgers start at their steady-state reservation (about reserve_seconds of
        # steps, what a run reaches within its first minute); the time of one reservation
        # (a secure-NVM write) is measured here and reported on its own
        step_s = statistics.median(one_block("plain") for _ in range(5))
        write_ms: list[float] = []
        for ledger in chip_ledgers:
            ledger.reserve_steps = max(16, math.ceil(ledger.reserve_seconds / step_s))
            ledger.close(0)  # give back the growth-phase reservation
            t0 = time.perf_counter()
            ledger.step(0, metered_flop())
            write_ms.append((time.perf_counter() - t0) * 1e3)
        for guard in guards.values():
            guard.stats.budget_seconds = 0.0
        steps_timed = 0
        for r in range(rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for variant in order:
                e0 = nvml.energy()
                times[variant].append(one_block(variant))
                e1 = nvml.energy()
                if e0 is not None and e1 is not None:
                    energy[variant] += e1 - e0
                p = nvml.power()
                if p is not None:
                    power[variant].append(p)
            steps_timed += block
        for name, guard in guards.items():
            guard_s[name] = guard.stats.budget_seconds
        metered = guards["local"].stats.flop_by_shape
        metered_step = next(iter(metered.values()))
        # the guard's whole cost per step (shape key, cache, budget call) with an empty
        # body, charged the cached FLOP of the real step: low-noise, measured directly
        empty: dict[str, float] = {}
        n_empty = 200 if quick else 2000
        for name, guard in guards.items():
            t0 = time.perf_counter()
            for _ in range(n_empty):
                with guard.step(x, y):
                    pass
            empty[name] = (time.perf_counter() - t0) / n_empty
    finally:
        for guard in guards.values():
            guard.close()
        server.stop()
        tmp.cleanup()

    med = {v: statistics.median(ts) for v, ts in times.items()}
    # paired: each round ran every variant back to back, so the ratio within a round
    # cancels the machine's load drift; the median over rounds is the estimate
    ratios = {
        v: sorted(g / p for g, p in zip(times[v], times["plain"], strict=True)) for v in guards
    }
    paired = {v: statistics.median(r) for v, r in ratios.items()}

    def iqr(values: list[float]) -> list[float]:
        if len(values) < 4:
            return [round((values[0] - 1) * 100, 2), round((values[-1] - 1) * 100, 2)]
        q = statistics.quantiles(values, n=4)
        return [round((q[0] - 1) * 100, 2), round((q[2] - 1) * 100, 2)]

    out: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "model": cfg | {"batch": batch, "params_matmul": analytic // (6 * x.numel())},
        "rounds": rounds,
        "steps_per_block": block,
        "steps_per_variant": steps_timed,
        "flop_per_step_metered": metered_step,
        "flop_per_step_full_count": full,
        "flop_per_step_6nd": analytic,
        "metered_vs_full": round(metered_step / full, 4),
        "metered_vs_6nd": round(metered_step / analytic, 4),
        "step_ms": {v: round(m * 1e3, 3) for v, m in med.items()},
        "overhead_pct": {v: round((r - 1) * 100, 2) for v, r in paired.items()},
        "overhead_pct_iqr": {v: iqr(r) for v, r in ratios.items()},
        "overhead_pct_of_medians": {v: round((med[v] / med["plain"] - 1) * 100, 2) for v in guards},
        "guard_us_per_step_empty_body": {v: round(t * 1e6, 1) for v, t in empty.items()},
        "guard_pct_of_plain_step": {v: round(t / med["plain"] * 100, 3) for v, t in empty.items()},
        "guard_budget_us_per_step": {
            v: round(s / steps_timed * 1e6, 1) for v, s in guard_s.items()
        },
        "guard_budget_pct_of_step": {
            v: round(s / steps_timed / med["plain"] * 100, 3) for v, s in guard_s.items()
        },
    }
    if write_ms:
        reserve_s = chip_ledgers[0].reserve_seconds
        out["reservation_write_ms"] = round(statistics.median(write_ms), 2)
        out["reservation_seconds"] = reserve_s
        out["reservation_write_pct_steady"] = round(
            statistics.median(write_ms) / (reserve_s * 1e3) * 100, 3
        )
    if skipped:
        out["skipped"] = skipped
    out |= nvml.info()
    if any(energy.values()):
        out["nvml_energy_mj_per_step"] = {v: round(e / steps_timed, 1) for v, e in energy.items()}
        out["nvml_power_w_median"] = {
            v: round(statistics.median(p) / 1000, 1) for v, p in power.items() if p
        }
    return out
