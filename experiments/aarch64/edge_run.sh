#!/bin/bash
# The edge commands whose outputs must be bit-identical on x86 and arm64:
#   edge_run.sh STAGE OUTDIR   (ltcn on PATH; STAGE from `parity.py prepare`)
set -euo pipefail
S=$1 O=$2
mkdir -p "$O"
: > "$O/timings.tsv"
t() {  # t NAME CMD...: run, record wall seconds
  local name=$1; shift
  local t0 t1; t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  printf '%s\t%s\n' "$name" "$(echo "$t1 - $t0" | awk '{print $1 - $3}')" >> "$O/timings.tsv"
}
t warmup_cold ltcn warmup --model "$S/bot.ltcn" 2> "$O/warmup.txt"
t warmup_cached ltcn warmup --model "$S/bot.ltcn" 2>> "$O/warmup.txt"
for b in sparse dense; do
  t "predict_bot_$b" ltcn predict --model "$S/bot.ltcn" --backend $b "$S/data_t_subset.csv" --out "$O/predict_bot_$b.csv"
  t "predict_nsl_$b" ltcn predict --model "$S/nsl.ltcn" --backend $b "$S/KDDTest+_subset.txt" --out "$O/predict_nsl_$b.csv"
done
t evaluate_nsl ltcn evaluate --model "$S/nsl.ltcn" "$S/KDDTest+_subset.txt" --json > "$O/evaluate_nsl.json"
t flows_pcap ltcn flows "$S/synscan.pcap" -o "$O/flows_synscan.csv"
t detect_pcap ltcn detect --model "$S/bot.ltcn" --source "$S/synscan.pcap" --alerts "$O/alerts_pcap.jsonl" \
  --trusted-keys "$S/trusted-keys" --firewall nftables --threshold 0.3 --stats-every 0 > "$O/nft_pcap.jsonl" 2> "$O/detect_pcap.txt"
t detect_csv ltcn detect --model "$S/bot.ltcn" --source "$S/data_t_subset.csv" --alerts "$O/alerts_csv.jsonl" \
  --trusted-keys "$S/trusted-keys" --threshold 0.3 --stats-every 0 2> "$O/detect_csv.txt"
# the raw float32 probabilities (the CSVs round to 6 decimals): compared as bytes
t probs_raw python - "$S" "$O" <<'PY'
import sys
import numpy as np
from ltcn_kernels import classify_files
s, o = sys.argv[1:]
for model, data in (("bot", "data_t_subset.csv"), ("nsl", "KDDTest+_subset.txt")):
    for backend in ("sparse", "dense"):
        pred = classify_files(f"{s}/{model}.ltcn", [f"{s}/{data}"], backend=backend)
        np.save(f"{o}/probs_{model}_{backend}.npy", np.ascontiguousarray(pred.probs, np.float32))
PY
