#!/usr/bin/env bash
# GPU check (a machine with a GPU and no network): offline installs from .whl/, then the A/B of the
# README, the default loop and `proposer=fixed` from the same seed, side by side on the one GPU
# (tiny models leave it mostly idle, so two loops share it), then the benchmark.
# Carry runs/cache to reuse the CPU-trained seed; without it each arm trains its own (same key).
# patience = max_generations so both arms run the same number of generations; each arm is cut at
# ARM_SECONDS (its summary.json, rewritten after every generation, still comes back).
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
for arm in rules fixed; do
  timeout "${ARM_SECONDS:-480}" make loop ARGS="logger=none name=ab_$arm proposer=$arm loop.patience=${PATIENCE:-8} ${EXTRA:-}" > "$OUT/loop_$arm.log" 2>&1 &
done
wait
echo "both arms wall seconds: $(( $(date +%s) - start ))"
for arm in rules fixed; do
  grep -E '^gen|stopped' "$OUT/loop_$arm.log"
  mkdir -p "$OUT/$arm" && cp runs/ab_$arm/*/{summary.json,report.md,accuracy.png} "$OUT/$arm/" 2>/dev/null
done
make bench ARGS="--hidden 64 --batch-size 256" 2>&1 | tail -4
