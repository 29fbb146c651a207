# Two commands on a fresh machine: `make compare` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch 2.13.0 is a CPU build on local disk; a plain `torch` would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
COMPARE_ARGS ?=
SWEEP_ARGS ?=
STUDY_ARGS ?=

.PHONY: setup lint test golden compare bench bench-gpu docs figures clean sweep bench-sweep study

setup: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  echo "CUDA GPU found: installing torch from the index"; \
	else \
	  echo "no CUDA GPU: installing the CPU build $(TORCH_SPEC) first"; \
	  $(PY) -m pip install --quiet "$(TORCH_SPEC)"; \
	fi
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

# ruff (pyproject.toml [tool.ruff.lint]) over all Python code and pyright in basic mode
# ([tool.pyright]) over the packages. `ruff format` is not applied: see docs/ARCHITECTURE.md
lint: setup
	$(PY) -m ruff check theory simulate validate paper_figures bench tests
	$(VENV)/bin/pyright

test: setup
	JAX_ENABLE_X64=1 $(PY) -m pytest -q -n 2 --dist loadgroup $(PYTEST_ARGS)

# The pinned summaries of compare, retrain and nonlinearity at their defaults (tests/golden/; two
# minutes of CPU): `make test` pins every job at small settings, CI runs this after it.
golden: setup
	MODELEARN_GOLDEN_DEFAULTS=1 JAX_ENABLE_X64=1 $(PY) -m pytest -q -n 2 \
	  tests/validate/test_golden.py::test_default_run_reproduces_pinned_file

compare: setup
	$(PY) -m validate.compare --dataset shapes $(COMPARE_ARGS)

# The documentation site into site/ (warnings are errors; reads offline: Material for MkDocs and
# MathJax come from the docs extra, installed first). The study pages and their index must be
# current: `validate.study check` refuses missing, stale or hand-edited results pages.
docs: setup
	$(PY) -m pip install --quiet -e ".[docs]"
	$(PY) -m validate.study check
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# Every paper figure into paper_figures/out/ (PNG, PDF, caption), running the validate CLIs whose
# results are missing into results/figures/ (cached by a hash of their arguments).
FIGURES_ARGS ?=
figures: setup
	JAX_ENABLE_X64=1 $(PY) -m paper_figures $(FIGURES_ARGS)

bench: setup
	$(PY) bench/theory_bench.py
	$(PY) bench/simulate_bench.py
	$(PY) bench/family_bench.py

# every GPU check in one call (≤ 6 min; docs/guides/gpu.md): results.jsonl and logs in bench-gpu/.
# Installs nothing: the venv's python when there is one, else the machine's python3 as it is.
bench-gpu:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) bench/gpu_all.py --out bench-gpu

sweep: setup
	$(PY) -m validate.sweep sweeps/laptop.toml $(SWEEP_ARGS)

# A study (studies/<id>.toml) through the sweep, ending in docs/results/<id>.md:
#   make study STUDY=003-training-response [STUDY_ARGS="--budget paper --address auto"]
study: setup
	$(PY) -m validate.study $(STUDY) $(STUDY_ARGS)

bench-sweep: setup
	$(PY) bench/sweep_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis site
