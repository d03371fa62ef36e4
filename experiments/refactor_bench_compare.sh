#!/usr/bin/env bash
# Issue 11 check: `python -m ltcn_kernels.bench` on the demo's model, code before the
# restructure (commit c533c16, checked out as a worktree) against the new code, alternating
# before/after three times in one session, each run on one pinned core (taskset -c 1).
#   git worktree add --detach /work/old c533c16
#   mkdir -p /tmp/oldpp && ln -s /work/old/kernels /tmp/oldpp/ltcn_kernels && ln -s /work/old/ltcn_jax /tmp/oldpp/ltcn_jax
#   bash experiments/refactor_bench_compare.sh MODEL.ltcn > results/refactor-bench/runs.jsonl
set -euo pipefail
MODEL=$1
PY=${PY:-.venv/bin/python}
ARGS=(--model "$MODEL" --batch 1000 --threads 1 --repeats 7 --warmup 2 --stream-flows 300 --json)
for round in 1 2 3; do
  for code in before after; do
    if [ "$code" = before ]; then pp=/tmp/oldpp; else pp=; fi
    out=$(PYTHONPATH=$pp NUMBA_CACHE_DIR=/tmp/numba-$code taskset -c 1 "$PY" -m ltcn_kernels.bench "${ARGS[@]}")
    echo "{\"round\": $round, \"code\": \"$code\", \"bench\": $out}"
  done
done
