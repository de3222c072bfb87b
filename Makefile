# genaug: `make run` sets up and runs the main job, `make test` sets up and runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Configuration environment (conf/<ENV>); empty = conf/base + conf/local, as plain `kedro run`.
ENV ?=
ENV_FLAG := $(if $(ENV),--env $(ENV))
PIPELINE ?= ablation_threshold
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
# mkdocs-material prints a banner about MkDocs 2.0 on every build.
export NO_MKDOCS_2_WARNING := 1

.PHONY: run test test-all lint docs bench viz mlflow-ui jupyter

# The first Python >= 3.11 (and < 3.14) found; `make PYTHON=/path/to/python` picks another.
PYTHON ?= $(firstword $(foreach v,3.11 3.12 3.13,$(shell python$(v) -c 'import sys; print(sys.executable)' 2>/dev/null)))

# A new .venv takes about 7 GiB (PyTorch's CUDA build with its nvidia libraries, measured with du);
# the tests write about 1 GiB more. `make MIN_FREE_GIB=0 ...` skips the check.
MIN_FREE_GIB ?= 8

$(PY):
	@test -n "$(PYTHON)" || { echo "No python3.11, python3.12 or python3.13 on PATH (or set PYTHON=...)." >&2; exit 1; }
	@$(PYTHON) -c 'import shutil, sys; free = shutil.disk_usage(".").free / 2**30; need = float(sys.argv[1]); \
	sys.exit(0 if free >= need else f"Not enough disk for $(VENV): {free:.1f} GiB free here, about {need:g} GiB needed (PyTorch and the tests); free some space, or set MIN_FREE_GIB=0 to try anyway.")' $(MIN_FREE_GIB)
	@echo "Creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(STAMP)

## run: create .venv if missing, install, run the main job on the embedded default
run: $(STAMP)
	$(VENV)/bin/kedro run --pipeline $(PIPELINE) $(ENV_FLAG)

## test: create .venv if missing, install with the dev extra, run lint and the default test suite
test: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mkdocs build --strict --quiet
	$(VENV)/bin/pytest -m "not slow"

## test-all: the default suite plus tests marked slow
test-all: $(DEV_STAMP)
	$(VENV)/bin/pytest

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

## docs: build the manual (docs/, mkdocs.yml) into site/; a broken link fails
docs: $(DEV_STAMP)
	$(VENV)/bin/mkdocs build --strict

## bench: run the benchmarks in order (results in benchmarks/results/*.md; times per script in docs/benchmarks.md)
bench: $(STAMP)
	$(PY) benchmarks/bench_classifier_cost.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_sampling.py
	$(PY) benchmarks/bench_clip.py
	$(PY) benchmarks/bench_scaling.py
	$(PY) benchmarks/bench_seed_batching.py
	$(PY) benchmarks/bench_pretrained_memory.py
	$(PY) benchmarks/bench_pipeline.py --pipeline __default__ --env base --add-seeds 5
	$(PY) benchmarks/bench_reruns.py --env base
	$(PY) benchmarks/bench_dask.py --configs test,mid

viz: $(STAMP)
	$(VENV)/bin/kedro viz run --no-browser $(ENV_FLAG)

## jupyter: JupyterLab with the project loaded (open notebooks/results.ipynb; ENV=test for conf/test)
jupyter: $(STAMP)
	$(VENV)/bin/kedro jupyter lab $(ENV_FLAG)

mlflow-ui: $(STAMP)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db
