# Successor. `make loop` and `make test` do all set-up themselves on a fresh machine.
.DEFAULT_GOAL := help
.PHONY: help venv loop regimes test test-fast lint bench clean
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready
TORCH_CPU := torch==2.13.0
ARGS ?=
# make regimes: the presets in conf/experiment/ to run, the seeds, and what every run of the sweep shares
# (the four-stage loop, 3 generations at most and an 8-level ladder keep it affordable on a CPU: improve's claim is
# seed + 2 = 7 and the default reaches 8 in one generation, so improve-like runs stop there; plateau and collapse get three)
REGIMES ?= improve,upper_bound,plateau,collapse,no_humans
SEEDS ?= 0,1,2
REGIMES_ARGS ?= 'loop.stages=[weaknesses,curate,train,verify]' loop.max_generations=3 eval.max_level=8
SWEEP := $(or $(RUN),runs/regimes/$(shell date +%Y-%m-%d_%H-%M-%S))

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'
	@echo "  extra Hydra overrides: make loop ARGS='judge=oracle loop.max_generations=3'"
	@echo "  resume a run:          make loop RUN=runs/default/<timestamp>"
	@echo "  resume regimes:        make regimes RUN=runs/regimes/<timestamp>   (its own overrides; finished runs are not redone)"
	@echo "  regimes report:        $(PY) -m pipeline.tools.regimes runs/regimes/<timestamp>"
	@echo "  gate error rates:      $(PY) -m pipeline.tools.gate_check"

# The virtual environment. torch first: if the python3 that runs make already has torch
# (a GPU machine's CUDA build), the venv reuses it; otherwise it gets the pinned CPU wheel,
# never a multi-GB CUDA download. pip installs without byte-compiling, then compileall does it on
# every core (pip compiles on one: docs/performance.md). A second call finds $(READY) and does nothing.
$(READY): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	@if python3 -c 'import torch' 2>/dev/null; then \
		echo "reusing this machine's torch: $$(python3 -c 'import torch; print(torch.__version__)')"; \
		python3 -c 'import site, sys; print("\n".join(site.getsitepackages()))' > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz_host_site.pth; \
	else \
		$(PY) -m pip install -q --no-compile $(TORCH_CPU); \
	fi
	$(PY) -m pip install -q --no-compile -c constraints.txt -e '.[dev]'
	$(PY) -m compileall -q -j 0 $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') > /dev/null || true  # torch ships a Python 3.12-only test file, which pip skips too
	@touch $(READY)

venv: $(READY) ## create the virtual environment and install everything (done by loop/test)

loop: $(READY) ## run the successor loop on the default config (RUN=<run folder> resumes it)
	$(PY) -m pipeline.loop $(if $(RUN),hydra.run.dir=$(RUN) $$(sed -n 's/^- //p' $(RUN)/.hydra/overrides.yaml)) $(ARGS)

# One Hydra multirun: every regime x every seed, each run in <sweep>/<regime>-seed<k>/ (a name that depends on
# nothing else, so RUN=<sweep> finds each run again: the loop resumes what is unfinished and skips what is done,
# with the overrides the sweep recorded in its multirun.yaml; a RUN folder without one starts a new sweep there).
# Seeds are trained once per seed in cache_dir and shared by every regime.
regimes: $(READY) ## run every regime preset on SEEDS (>= 3), then regimes.md and regimes.png (RUN=<sweep> resumes)
	$(PY) -m pipeline.loop --multirun hydra.sweep.dir=$(SWEEP) 'hydra.sweep.subdir=$${name}-seed$${seed}' \
		$(if $(wildcard $(SWEEP)/multirun.yaml),$$(sed -n '/^    task:/,/^  job:/s/^    - //p' $(SWEEP)/multirun.yaml),experiment=$(REGIMES) seed=$(SEEDS) $(REGIMES_ARGS)) $(ARGS)
	$(PY) -m pipeline.tools.regimes $(SWEEP)

test: $(READY) ## run all tests, the slow end-to-end ones included
	$(PY) -m pytest -q --durations=12 $(ARGS)

test-fast: $(READY) ## run the fast tests only
	$(PY) -m pytest -q -m 'not slow' $(ARGS)

lint: $(READY) ## check the code with ruff (configured in pyproject.toml), then the package layout (no import cycle, no stage importing a stage)
	$(VENV)/bin/ruff check .
	$(PY) -m pipeline.tools.imports_check

clean: ## remove the virtual environment (runs/ is kept)
	rm -rf $(VENV) *.egg-info

bench: $(READY) ## this machine's speed (the yardstick, first line), then training and sampling speed (prints numbers)
	$(PY) -m pipeline.tools.bench $(ARGS)
