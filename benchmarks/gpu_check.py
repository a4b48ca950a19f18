"""The measuring half of benchmarks/gpu_check.sh: NVML read-out and the guard benchmark.

A real file, not code fed through stdin: the guard benchmark serves its lease from a
child process started with multiprocessing's ``spawn``, which re-imports the main
module by its path (``<stdin>`` has none).

    python benchmarks/gpu_check.py OUT.json          # CUDA if torch sees it, else CPU
    python benchmarks/gpu_check.py OUT.json --cpu    # CPU mode: a short run for CI

Read-only on the GPU: it never changes a setting. Results go to OUT.json (rewritten after
each part, so a run cut short keeps what it measured) and to stdout. Exit status: 0 when
every part that could run ran; 1 when the guard benchmark failed, or in CPU mode when
torch is missing (CI promises torch, so its absence is an error there, not a skip).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from typing import Any


def nvml_readout(window_s: float) -> dict[str, Any]:
    """Every GPU through the agent's NVML backend, with the energy counter's rise over an
    idle window of ``window_s`` seconds."""
    from pausebutton.agent.nvml import NvmlBackend

    backend = NvmlBackend()
    try:
        e0 = {g.uuid: backend.energy_mj(g.uuid) for g in backend.gpus()}
        t0 = time.monotonic()
        time.sleep(window_s)
        dt = time.monotonic() - t0
        gpus = []
        for g in backend.gpus():
            e1 = backend.energy_mj(g.uuid)
            lim = backend.power_limits(g.uuid)
            gpus.append(
                {
                    "index": g.index,
                    "uuid": g.uuid,
                    "serial": g.serial,
                    "name": g.name,
                    "power_mw": backend.power_mw(g.uuid),
                    "energy_mj": e1,
                    "idle_energy_mj_per_s": round((e1 - e0[g.uuid]) / dt, 1),
                    "power_limit_mw": lim.current_mw,
                    "power_limit_range_mw": [lim.min_mw, lim.max_mw],
                    "processes": backend.processes(g.uuid),
                }
            )
    finally:
        backend.close()
    return {"nvml_gpus": gpus}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="where to write the JSON results")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="CPU mode: the guard benchmark's quick run on the CPU, a short NVML window",
    )
    args = parser.parse_args(argv)
    res: dict[str, Any] = {
        "host": platform.node(),
        "python": sys.version.split()[0],
        "started": int(time.time()),
        "mode": "cpu" if args.cpu else "auto",
    }

    def save() -> None:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2, sort_keys=True, default=str)

    # NVML is optional (no driver, no GPU): its failure is a result, not a failed check.
    try:
        res.update(nvml_readout(0.2 if args.cpu else 5.0))
    except Exception as exc:  # noqa: BLE001 - any NVML failure is reported in the results
        res["nvml_error"] = repr(exc)
    save()

    try:
        import torch
    except ImportError as exc:
        res["torch_error"] = repr(exc)
        save()
        print(json.dumps(res, indent=2, sort_keys=True, default=str))
        return 1 if args.cpu else 0
    res["torch"] = torch.__version__
    res["cuda_available"] = torch.cuda.is_available()
    if res["cuda_available"]:
        res["cuda_device"] = torch.cuda.get_device_name(0)
    save()

    from pausebutton.bench.guard import run

    device = "cuda" if res["cuda_available"] and not args.cpu else "cpu"
    status = 0
    try:
        t = time.monotonic()
        if args.cpu:
            res["guard_cpu"] = run(quick=True, device="cpu", rounds=3)
        else:
            res["guard_" + device] = run(
                quick=False, device=device, rounds=None if device == "cuda" else 30
            )
        res["guard_" + device + "_seconds"] = round(time.monotonic() - t, 1)
    except Exception:  # noqa: BLE001 - reported in the results and in the exit status
        res["guard_error"] = traceback.format_exc()
        status = 1
    save()
    print(json.dumps(res, indent=2, sort_keys=True, default=str))
    return status


if __name__ == "__main__":  # the spawned lease server re-imports this file: never rerun main
    sys.exit(main())
