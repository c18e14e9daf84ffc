#!/usr/bin/env bash
# GPU check (a machine with a GPU and no network): offline installs from .whl/, then the GPU preset
# (`experiment=gpu`: seed on 1..5 digits, a larger NoPE model, committee judge) with its wall time and
# the 10-digit adder check (both operands uniform in 0..9,999,999,999), then the benchmark.
# The run is cut at GPU_SECONDS (its summary.json, rewritten after every generation, still comes back),
# and the adder check runs on whatever champion it reached.
set -uo pipefail
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$PWD/.whl" PYTHONUNBUFFERED=1 WANDB_MODE=disabled
OUT=${OUT:-/tmp}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if ! make venv > "$OUT/venv.log" 2>&1; then
  echo "make venv failed; installing the carried wheels without dependency resolution"; tail -5 "$OUT/venv.log"
  .venv/bin/python -m pip install -q --no-deps .whl/*.whl && .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . && touch .venv/.ready
fi
.venv/bin/python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)"
start=$(date +%s)
timeout "${GPU_SECONDS:-540}" make loop ARGS="experiment=gpu logger=none ${EXTRA:-}" > "$OUT/loop_gpu.log" 2>&1
echo "gpu preset wall seconds (seed and set-up included): $(( $(date +%s) - start ))"
grep -E '^gen|seed|stopped' "$OUT/loop_gpu.log"
run=$(ls -d runs/gpu/*/ | tail -1)
mkdir -p "$OUT/gpu" && cp "$run"/{summary.json,report.md,accuracy.png} "$OUT/gpu/" 2>/dev/null
.venv/bin/python -m pipeline.adder_check "$run" --digits 10 --n 10000
make bench ARGS="--hidden 256 --layers 6 --heads 8 --batch-size 512" 2>&1 | tail -6
