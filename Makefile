# Two entry points: `make demo` (main job on the embedded NSL-KDD data) and `make test`.
# Both create .venv with python3 and install what they need; nothing else is assumed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-ingest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[edge,train,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ltcn demo

test: $(STAMP)
	NUMBA_NUM_THREADS=2 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# The staged real sample when it is beside the repo, else the shipped fixture subset.
INGEST_SOURCE ?= $(firstword $(wildcard ../shared/data/cicids2017/cicids_sample.csv) tests/fixtures/cicids2017/MachineLearningCVE_subset.csv)

bench-ingest: $(STAMP)
	NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python experiments/bench_ingest.py --source $(INGEST_SOURCE) --rows 1000000 --repeats 3 --out results/ingest

clean:
	rm -rf $(VENV) build *.egg-info
