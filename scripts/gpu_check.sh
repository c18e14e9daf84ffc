#!/usr/bin/env bash
# GPU check (run on a machine with a GPU and no network): offline installs from .whl/, then the
# same `make loop` as on a CPU, and the benchmark. Prints the wall time of the loop.
set -uo pipefail
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$PWD/.whl" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if ! make venv > "${OUT:-/tmp}/venv.log" 2>&1; then
  echo "make venv failed; installing the carried wheels without dependency resolution"; tail -5 "${OUT:-/tmp}/venv.log"
  .venv/bin/python -m pip install -q --no-deps .whl/*.whl && .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . && touch .venv/.ready
fi
.venv/bin/python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)"
start=$(date +%s)
make loop ARGS="logger=none name=gpu cache_dir=null" 2>&1 | tee "${OUT:-/tmp}/loop.log" | grep -v -E '^\s*$'
echo "make loop wall seconds: $(( $(date +%s) - start ))"
cp runs/gpu/*/summary.json runs/gpu/*/report.md "${OUT:-/tmp}/" 2>/dev/null
make bench ARGS="--hidden 64 --batch-size 256" 2>&1 | tail -4
