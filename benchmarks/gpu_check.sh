#!/usr/bin/env bash
# One prepared check for a lent GPU machine (H100/H200). Read-only on the GPU:
# it never changes a GPU setting (no power limit, clock or mode is written).
#
#   bash benchmarks/gpu_check.sh          # results in $OUT (if set) or ./.gpu-check-out
#
# 1. Environment: nvidia-smi listing and read-only queries; Python and torch.
# 2. Dependencies: this tree's code runs from src/ (PYTHONPATH); missing Python
#    packages (cbor2, pynacl, nvidia-ml-py, torch) are installed into a throw-away
#    venv that sees the system's packages: from ./.gpu-wheels if that folder
#    exists (carry it), else from the package index if it is reachable.
# 3. Guard overhead on CUDA: the same small-transformer training loop plain and
#    under the guard (in-process budget, firmware chip state, agent lease),
#    interleaved in one run (pausebutton.bench.guard with device=cuda), with NVML
#    energy and power read around each block. Without CUDA torch: the CPU run.
# 4. NVML read-out of every GPU through the agent's NvmlBackend: UUID, serial,
#    name, power, the cumulative energy counter over a 5 s idle window, power
#    limits (read only) and processes.
# Results: gpu_check.json (and gpu_check.log) in the output folder. Budget: < 5 min.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTDIR="${OUT:-$ROOT/.gpu-check-out}"
mkdir -p "$OUTDIR"
exec > >(tee -a "$OUTDIR/gpu_check.log") 2>&1
START=$(date +%s)
PY="${PYTHON:-$(command -v python3 || command -v python)}"
echo "== gpu_check $(date -u +%FT%TZ) on $(hostname)"

echo "== nvidia-smi (read-only)"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi -L || true
  nvidia-smi --query-gpu=index,uuid,serial,name,driver_version,power.draw,power.limit,power.min_limit,power.max_limit,temperature.gpu,utilization.gpu \
    --format=csv | tee "$OUTDIR/nvidia-smi.csv" || true
else
  echo "nvidia-smi not found"
fi

echo "== python"
"$PY" --version
VENV="${TMPDIR:-/tmp}/pb-gpu-check-venv"
if [ -n "${PB_GPU_CHECK_NO_VENV:-}" ]; then
  VENV=""  # use $PYTHON as it is (an environment that already has everything)
elif [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv --system-site-packages "$VENV" || { echo "venv failed; using $PY directly"; VENV=""; }
fi
if [ -n "$VENV" ]; then PY="$VENV/bin/python"; fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"

missing=()
for pair in cbor2:cbor2 nacl:pynacl pynvml:nvidia-ml-py; do
  mod="${pair%%:*}"; pkg="${pair##*:}"
  "$PY" -c "import $mod" 2>/dev/null || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  if [ -d "$ROOT/.gpu-wheels" ]; then
    timeout 120 "$PY" -m pip install -q --no-index --find-links "$ROOT/.gpu-wheels" "${missing[@]}" || true
  else
    timeout 120 "$PY" -m pip install -q "${missing[@]}" || echo "pip install failed (no index?)"
  fi
fi
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "== torch missing: trying to install it (time-limited)"
  if [ -d "$ROOT/.gpu-wheels" ]; then
    timeout 150 "$PY" -m pip install -q --no-index --find-links "$ROOT/.gpu-wheels" torch || true
  else
    timeout 150 "$PY" -m pip install -q torch || echo "torch could not be installed"
  fi
fi

LEFT=$(( 285 - ($(date +%s) - START) ))
if [ "$LEFT" -lt 60 ]; then LEFT=60; fi
echo "== measuring (elapsed $(( $(date +%s) - START )) s, ${LEFT} s left)"
timeout "$LEFT" "$PY" - "$OUTDIR/gpu_check.json" <<'PYEOF'
import json, platform, sys, time, traceback

out_path = sys.argv[1]
res = {"host": platform.node(), "python": sys.version.split()[0], "started": int(time.time())}

def save():
    with open(out_path, "w") as fh:
        json.dump(res, fh, indent=2, sort_keys=True, default=str)

# NVML, read only, through the agent's backend
try:
    from pausebutton.agent.nvml import NvmlBackend
    backend = NvmlBackend()
    gpus = []
    e0 = {g.uuid: backend.energy_mj(g.uuid) for g in backend.gpus()}
    t0 = time.monotonic()
    time.sleep(5)
    dt = time.monotonic() - t0
    for g in backend.gpus():
        e1 = backend.energy_mj(g.uuid)
        lim = backend.power_limits(g.uuid)
        gpus.append({
            "index": g.index, "uuid": g.uuid, "serial": g.serial, "name": g.name,
            "power_mw": backend.power_mw(g.uuid), "energy_mj": e1,
            "idle_energy_mj_per_s": round((e1 - e0[g.uuid]) / dt, 1),
            "power_limit_mw": lim.current_mw, "power_limit_range_mw": [lim.min_mw, lim.max_mw],
            "processes": backend.processes(g.uuid),
        })
    backend.close()
    res["nvml_gpus"] = gpus
except Exception as exc:  # report, never fail the whole check
    res["nvml_error"] = repr(exc)
save()

try:
    import torch
    res["torch"] = torch.__version__
    res["cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        res["cuda_device"] = torch.cuda.get_device_name(0)
except Exception as exc:
    res["torch_error"] = repr(exc)
save()

if "torch" in res:
    from pausebutton.bench.guard import run
    device = "cuda" if res.get("cuda_available") else "cpu"
    try:
        t = time.monotonic()
        res["guard_" + device] = run(quick=False, device=device,
                                     rounds=None if device == "cuda" else 30)
        res["guard_" + device + "_seconds"] = round(time.monotonic() - t, 1)
    except Exception:
        res["guard_error"] = traceback.format_exc()
save()
print(json.dumps(res, indent=2, sort_keys=True, default=str))
PYEOF
echo "== done in $(( $(date +%s) - START )) s; results in $OUTDIR/gpu_check.json"
