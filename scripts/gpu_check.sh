#!/usr/bin/env bash
# GPU check on a machine with a GPU, its own torch and no network: the packages it lacks come as wheels
# in .whl/ (installed into /tmp/site, no resolver), then the GPU preset (`experiment=gpu`: seed on
# 1..5 digits, a larger NoPE model, the default's split judge) with its wall time, then the 10-digit adder check
# (both operands uniform in 0..9,999,999,999) on the champion it reached, then the benchmark.
# The loop is cut at GPU_SECONDS (summary.json is rewritten after every generation); a loop that fails
# before that ends the script at once, so the device time left can go to a rerun.
set -uo pipefail
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled
OUT=${OUT:-/tmp}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
python3 -c "import torch, transformers, datasets, hydra; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'datasets', datasets.__version__)" || exit 1
start=$(date +%s)
timeout "${GPU_SECONDS:-500}" python3 -m pipeline.loop experiment=gpu logger=none ${EXTRA:-} > "$OUT/loop_gpu.log" 2>&1
rc=$?
echo "gpu preset: exit $rc, wall seconds (seed and set-up included): $(( $(date +%s) - start ))"
grep -E '^gen|seed|stopped|Error|error' "$OUT/loop_gpu.log" | head -40
run=$(ls -d runs/gpu/*/ | tail -1)
mkdir -p "$OUT/gpu" && cp "$run"/{summary.json,report.md} "$OUT/gpu/" 2>/dev/null
[ $rc -ne 0 ] && [ $rc -ne 124 ] && { tail -30 "$OUT/loop_gpu.log"; exit $rc; }
python3 -m pipeline.tools.adder_check "$run" --digits 10 --n 10000
timeout 60 python3 -m pipeline.tools.bench --hidden 256 --layers 6 --heads 8 --batch-size 512 2>&1 | tail -6
