# Set-up and checks for swapbench. `make setup` then `make test` on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED_DATA := $(abspath ../shared/data)

.PHONY: setup test lint bench wheel-check clean

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@if [ -d "$(SHARED_DATA)" ]; then \
	  $(PY) -m swapbench.cli data use "$(SHARED_DATA)"; \
	else echo "no ../shared/data here: fetch the data with '$(VENV)/bin/swapbench data fetch' (see README, Quick start)"; fi

test:
	$(PY) -m pytest -q -m "slow or not slow"
	@if [ -d "$(SHARED_DATA)" ]; then $(VENV)/bin/swapbench regress results/ci --workers 2; \
	else echo "regress results/ci skipped: it reruns a study computed on ../shared/data, which is absent"; fi

lint:
	$(VENV)/bin/ruff check swapbench tests bench

# a checkout of SamsungLabs/zero-cost-nas for bench/vs_zero_cost_nas.py (that bench is skipped when empty)
ZCNAS ?=

# the benchmarks are modules of the `bench` package, run from the repository root
bench:
	$(PY) -m bench.bench_swap
	$(PY) -m bench.pass_counts --columns nb201/cifar10 --archs 2 --out bench/results/pass_counts_quick.csv
	$(PY) -m bench.vs_zero_cost_nas $(if $(ZCNAS),--zcnas $(ZCNAS)) --archs 3 --rounds 1 --out bench/results/vs_zero_cost_nas_quick.csv
	$(PY) -m bench.pass_memory --columns nb201/cifar10 --archs 0 --checkpointing off --out bench/results/pass_memory_quick.csv
	$(PY) -m bench.pool_layout --reps 3 --archs 1 --out bench/results/pool_layout_quick.csv
	$(PY) -m bench.block_floor --channels 128 --out bench/results/block_floor_quick.csv
	$(PY) -m bench.study_rss --columns tnb101_macro/class_scene --limit-archs 3 --tag make-bench

# a wheel installed into a fresh virtualenv, every command run from outside the source tree (minutes)
wheel-check:
	PYTHON=$(PYTHON) bash scripts/wheel_check.sh $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA))

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
