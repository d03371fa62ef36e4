# Two entry points: `make demo` (main job on the embedded NSL-KDD data) and `make test`.
# Both create .venv with python3 and install what they need; nothing else is assumed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench-ingest results results-quick results-seeds results-lofo results-tables results-gateway-seeds clean system-deps check-aarch64 lab field

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[edge,train,dev,bench,serve,metrics]"
	touch $(STAMP)

# The .venv with every extra, nothing else (make demo and make test start with it).
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ltcn demo --stored results

# The gateway's system tools: the Argus flow meter (captures -> flow records), nftables and
# iproute2 (the --apply test in a network namespace); and the lab's (`python -m lab`: tcpdump, the
# IoT servers and clients, the attack tools BoT-IoT used). apt-get installs them when running
# as root on Debian / Raspberry Pi OS, with a policy-rc.d that keeps the packaged daemons from
# starting on the machine itself (the lab starts its own, inside its namespaces); elsewhere the
# tests that need them skip and say why.
GATEWAY_PACKAGES := argus-server argus-client nftables iproute2
# The field benchmark's (experiments/field: capinfos, editcap, mergecap; tcprewrite).
FIELD_PACKAGES := wireshark-common tcpreplay
LAB_PACKAGES := tcpdump mosquitto mosquitto-clients libcoap3-bin dnsmasq-base bind9-dnsutils \
  chrony openssh-server openssh-client curl socat openssl iputils-ping busybox hping3 nmap hydra slowhttptest
SYSTEM_TOOLS := argus ra racluster nft ip tcpdump mosquitto mosquitto_pub coap-client-notls \
  dnsmasq dig chronyd sshd ssh ping busybox hping3 nmap hydra slowhttptest socat curl openssl \
  capinfos editcap mergecap tcprewrite
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing the gateway's and the lab's system tools (missing:$$missing)"; \
	  guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1; fi; \
	  $(APT) $(GATEWAY_PACKAGES) $(LAB_PACKAGES) $(FIELD_PACKAGES) >/dev/null 2>&1 \
	  || { apt-get update -q >/dev/null 2>&1 && $(APT) $(GATEWAY_PACKAGES) $(LAB_PACKAGES) $(FIELD_PACKAGES) >/dev/null 2>&1; } \
	  || echo "could not install the system tools; the tests that need them will skip"; \
	  if [ -n "$$guard" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	else echo "not root or no apt-get: the tests that need$$missing will skip"; fi

test: $(STAMP) system-deps
	NUMBA_NUM_THREADS=2 $(BIN)/python -m pytest -q

# kernels/README.md's Raspberry Pi section in a clean Debian arm64 root file system under qemu-user
# (built once with debootstrap, cached in /var/cache/ltcn-aarch64), its predictions and alerts
# compared bit for bit with this machine's -> results/aarch64/. Root; ~15-20 min cold.
check-aarch64: $(STAMP) system-deps
	PYTHON=$(abspath $(BIN))/python bash experiments/aarch64/check.sh

# The gateway lab's results (root; LTCN_DATA=DATA for the BoT-IoT sample and the captures;
# about 40 min): the kept recording, the four lab models (per flow, global windows, per-host
# windows, per-host with the live forms) on the real captures, their comparison, and the live
# time to block of the shipped (live) model -> results/lab/.
LAB_RUNS := per-flow:lab_gateway windows:lab_gateway_windows hosts:lab_gateway_hosts \
  live:lab_gateway_live gaps:lab_gateway_gaps
# The field benchmark (issue 26): the capture set of experiments/field/captures.json, fetched
# once with `python experiments/field/fetch.py --out DIR` (needs the internet), then
# `make field FIELD_DATA=DIR` (about 10 min on one core).
field: $(STAMP) system-deps
	@test -n "$$FIELD_DATA" || { echo "set FIELD_DATA to the folder experiments/field/fetch.py wrote"; exit 2; }
	$(BIN)/python experiments/field/run.py --manifest experiments/field/captures.json \
	  --data $$FIELD_DATA --model results/lab/model.ltcn --allow-unsigned --out results/field

lab: $(STAMP) system-deps
	@test -n "$$LTCN_DATA" || { echo "set LTCN_DATA to the folder holding bot-iot/ and pcap/"; exit 2; }
	PYTHONPATH=experiments $(BIN)/python -m lab record --scenario iot --seconds 600 --seed 7 --out results/lab/recording
	for run in $(LAB_RUNS); do dir=$${run%%:*}; config=$${run##*:}; \
	  $(BIN)/ltcn run experiments/$$config.py --out results/lab/$$dir/run && \
	  $(BIN)/python experiments/lab_captures.py --run results/lab/$$dir/run \
	    --config experiments/$$config.py --captures $$LTCN_DATA/pcap --out results/lab/$$dir || exit 1; done
	$(BIN)/python experiments/lab_compare.py
	$(BIN)/python experiments/lab_context.py
	cp results/lab/gaps/model.ltcn results/lab/model.ltcn
	$(BIN)/python experiments/lab_time_to_block.py --model results/lab/model.ltcn --runs 10 \
	  --status-interval 1 5 --threshold $$($(BIN)/python -c "import json; print(json.load(open('results/lab/gaps/captures.json'))['threshold']['threshold'])") \
	  --out results/lab/time-to-block

# ruff's lint rules and import order (pyproject.toml). The code is laid out by hand for
# reading (aligned arguments, tables), so `ruff format` is not used and nothing asks for it.
lint: $(STAMP)
	$(BIN)/ruff check .

# A MachineLearningCVE CSV to repeat to 1 M rows; results/ingest used the 10,180-row published
# sample: make bench-ingest INGEST_SOURCE=<data>/cicids2017/cicids_sample.csv
INGEST_SOURCE ?= tests/fixtures/cicids2017/MachineLearningCVE_subset.csv

bench-ingest: $(STAMP)
	NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python experiments/bench_ingest.py --source $(INGEST_SOURCE) --rows 1000000 --repeats 3 --out results/ingest

# Every experiment config, one after the other, into results/<name>/ (about 100 min here).
# CICIDS2017 and BoT-IoT configs read the published files under LTCN_DATA
# (results/ used the staged samples: make results LTCN_DATA=<folder with cicids2017/, bot-iot/>).
LTCN_DATA ?= data
CONFIGS ?= nsl_kdd_quickstart nsl_kdd_quickstart_minmax nsl_kdd_random_forest nsl_kdd_lstm \
	nsl_kdd_transformer nsl_kdd_cnn default cicids2017_samples cicids2017_random_forest \
	cicids2017_time_block cicids2017_per_flow bot_iot_sample bot_iot_random_forest bot_iot_per_flow \
	nsl_kdd_ablation cicids2017_ablation bot_iot_ablation cicids2017_per_flow_ablation \
	bot_iot_per_flow_ablation

# The full set: every config once (seed 0, results/<name>/), then the seeded rows, leave one
# family out and the tables (times: see results-seeds). `make results-quick` is the short check.
results: $(STAMP)
	for c in $(CONFIGS); do LTCN_DATA=$(LTCN_DATA) $(BIN)/ltcn run experiments/$$c.py --out results/$$c || exit 1; done
	$(BIN)/python experiments/summarize_results.py
	$(MAKE) results-seeds results-lofo LTCN_DATA=$(LTCN_DATA)

# Seeded reruns (issue 17): $(SEEDS) independent trainings per config, aggregated with intervals
# -> results/seeds/<name>/; leave one family out -> results/leave_one_family_out/; then the seed
# summary and results/paper_tables.md. LTCN_DATA=DATA for the CICIDS2017 and BoT-IoT samples.
# Times on this 2-core VM, from the stored runs' total_seconds (two runs at a time): results-quick
# (the per-flow, forest and gateway rows, with the captures) ~15-20 min; results-seeds ~3.6 h;
# the single-seed configs ~1.7 h; so `make results` takes ~5.5 h, over 3 h: use results-quick
# for a check. The SLOW row (Transformer) uses SEEDS_SLOW; the 20-epoch `default` and the heavy
# CNN stay one seed (10-20 min a seed here).
SEEDS ?= 5
SEEDS_SLOW ?= 3
QUICK ?= cicids2017_per_flow bot_iot_per_flow cicids2017_random_forest bot_iot_random_forest \
	nsl_kdd_random_forest bot_iot_sample bot_iot_gateway cicids2017_per_flow_ablation bot_iot_per_flow_ablation
SEEDED ?= $(QUICK) nsl_kdd_quickstart cicids2017_samples nsl_kdd_quickstart_minmax nsl_kdd_lstm \
	cicids2017_time_block nsl_kdd_ablation cicids2017_ablation bot_iot_ablation
SLOW ?= nsl_kdd_transformer
results-quick: $(STAMP)
	for c in $(QUICK); do LTCN_DATA=$(LTCN_DATA) $(BIN)/ltcn run experiments/$$c.py --seeds $(SEEDS) \
	  --out results/seeds/$$c || exit 1; done
	$(MAKE) results-gateway-seeds results-tables
results-seeds: $(STAMP)
	for c in $(SEEDED); do LTCN_DATA=$(LTCN_DATA) $(BIN)/ltcn run experiments/$$c.py --seeds $(SEEDS) \
	  --out results/seeds/$$c || exit 1; done
	for c in $(SLOW); do LTCN_DATA=$(LTCN_DATA) $(BIN)/ltcn run experiments/$$c.py --seeds $(SEEDS_SLOW) \
	  --out results/seeds/$$c || exit 1; done
	$(MAKE) results-gateway-seeds results-tables
# Every seed's gateway model through `ltcn detect` on the real captures.
results-gateway-seeds: $(STAMP)
	$(BIN)/python experiments/gateway_captures.py --run results/seeds/bot_iot_gateway \
	  --captures $(LTCN_DATA)/pcap --out results/seeds/bot_iot_gateway/captures
results-lofo: $(STAMP)
	LTCN_DATA=$(LTCN_DATA) $(BIN)/python experiments/leave_one_family_out.py \
	  --config experiments/cicids2017_per_flow.py experiments/nsl_kdd_quickstart.py --out results/leave_one_family_out
results-tables: $(STAMP)
	$(BIN)/python experiments/summarize_seeds.py
	$(BIN)/python experiments/paper_tables.py

clean:
	rm -rf $(VENV) build *.egg-info
