# Two entry points: `make demo` (main job on the embedded NSL-KDD data) and `make test`.
# Both create .venv with python3 and install what they need; nothing else is assumed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-ingest results clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[edge,train,dev,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ltcn demo

test: $(STAMP)
	NUMBA_NUM_THREADS=2 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# A MachineLearningCVE CSV to repeat to 1 M rows; results/ingest used the 10,180-row published
# sample: make bench-ingest INGEST_SOURCE=<data>/cicids2017/cicids_sample.csv
INGEST_SOURCE ?= tests/fixtures/cicids2017/MachineLearningCVE_subset.csv

bench-ingest: $(STAMP)
	NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python experiments/bench_ingest.py --source $(INGEST_SOURCE) --rows 1000000 --repeats 3 --out results/ingest

# Every experiment config, one after the other, into results/<name>/ (about 75 min on 2 cores).
# CICIDS2017 and BoT-IoT configs read the published files under LTCN_DATA
# (results/ used the staged samples: make results LTCN_DATA=<folder with cicids2017/, bot-iot/>).
LTCN_DATA ?= data
CONFIGS ?= nsl_kdd_quickstart nsl_kdd_quickstart_minmax nsl_kdd_random_forest nsl_kdd_lstm \
	nsl_kdd_transformer nsl_kdd_cnn default cicids2017_samples cicids2017_random_forest \
	cicids2017_time_block cicids2017_per_flow bot_iot_sample bot_iot_random_forest bot_iot_per_flow \
	nsl_kdd_ablation cicids2017_ablation bot_iot_ablation cicids2017_per_flow_ablation \
	bot_iot_per_flow_ablation

results: $(STAMP)
	for c in $(CONFIGS); do LTCN_DATA=$(LTCN_DATA) $(BIN)/ltcn run experiments/$$c.py || exit 1; done
	$(BIN)/python experiments/summarize_results.py

clean:
	rm -rf $(VENV) build *.egg-info
