#!/usr/bin/env bash
# One prepared check for a lent GPU machine (H100/H200). Read-only on the GPU:
# it never changes a GPU setting (no power limit, clock or mode is written).
#
#   bash benchmarks/gpu_check.sh          # results in $OUT (if set) or ./.gpu-check-out
#   bash benchmarks/gpu_check.sh --cpu    # CPU mode (CI, ./scripts/test): a few seconds, no
#                                         # installs, the guard's quick run on the CPU
#
# 1. Environment: nvidia-smi listing and read-only queries; Python and torch.
# 2. Dependencies: this tree's code runs from src/ (PYTHONPATH); missing Python
#    packages (cbor2, pynacl, nvidia-ml-py, torch) are installed into a throw-away
#    --target folder on PYTHONPATH: from ./.gpu-wheels if that folder exists (carry
#    it; a machine without a package index needs it), else from the package index.
# 3. Guard overhead on CUDA: the same small-transformer training loop plain and
#    under the guard (in-process budget, firmware chip state, agent lease),
#    interleaved in one run (pausebutton.bench.guard with device=cuda), with NVML
#    energy and power read around each block. Without CUDA torch: the CPU run.
# 4. NVML read-out of every GPU through the agent's NvmlBackend: UUID, serial,
#    name, power, the cumulative energy counter over a 5 s idle window, power
#    limits (read only) and processes.
# The measuring is benchmarks/gpu_check.py, a real file: the guard benchmark's lease server
# is a spawned process, which re-imports the main module by path (never feed it stdin).
# Results: gpu_check.json (and gpu_check.log) in the output folder. Budget: < 5 min.
# Exit status: that of gpu_check.py (1 if the guard benchmark failed; in CPU mode also if
# torch is missing).
set -uo pipefail
MODE=()
case "${1:-}" in
  --cpu) MODE=(--cpu) ;;
  "") ;;
  *) echo "usage: bash benchmarks/gpu_check.sh [--cpu]" >&2; exit 2 ;;
esac

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
# Missing packages go into a throw-away --target folder on PYTHONPATH, so the machine's
# own Python (the one that holds CUDA torch) stays the interpreter; a venv would hide it.
DEPS="${TMPDIR:-/tmp}/pb-gpu-check-deps"
mkdir -p "$DEPS"
export PYTHONPATH="$ROOT/src:$DEPS${PYTHONPATH:+:$PYTHONPATH}"

missing=()
if [ ${#MODE[@]} -gt 0 ]; then
  echo "== CPU mode: no installs, this Python's own packages"
else
  for pair in cbor2:cbor2 nacl:pynacl pynvml:nvidia-ml-py; do
    mod="${pair%%:*}"; pkg="${pair##*:}"
    "$PY" -c "import $mod" 2>/dev/null || missing+=("$pkg")
  done
  if ! "$PY" -c "import torch" 2>/dev/null; then missing+=(torch); fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (time-limited)"
  if [ -d "$ROOT/.gpu-wheels" ]; then
    timeout 200 "$PY" -m pip install -q --target "$DEPS" --no-index --find-links "$ROOT/.gpu-wheels" "${missing[@]}" || echo "pip install failed"
  else
    timeout 200 "$PY" -m pip install -q --target "$DEPS" "${missing[@]}" || echo "pip install failed (no index?)"
  fi
fi

LEFT=$(( 285 - ($(date +%s) - START) ))
if [ "$LEFT" -lt 60 ]; then LEFT=60; fi
echo "== measuring (elapsed $(( $(date +%s) - START )) s, ${LEFT} s left)"
timeout "$LEFT" "$PY" "$ROOT/benchmarks/gpu_check.py" "$OUTDIR/gpu_check.json" "${MODE[@]}"
status=$?
echo "== done in $(( $(date +%s) - START )) s (exit $status); results in $OUTDIR/gpu_check.json"
exit "$status"
