"""Before/after table of results/refactor-bench/runs.jsonl, written to table.md beside it
(python experiments/refactor_bench_summarize.py)."""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "results" / "refactor-bench"
NAMES = {"sparse-csr": "sparse", "dense-numba": "dense"}  # the old runtime names
runs = [json.loads(line) for line in (HERE / "runs.jsonl").read_text().splitlines()]
table: dict = {}
for run in runs:
    for r in run["bench"]["results"]:
        name = NAMES.get(r["runtime"], r["runtime"])
        for key in ("batch_ms_median", "stream_us_p50", "stream_us_p99"):
            if r.get(key) is not None:
                table.setdefault((name, key), {}).setdefault(run["code"], []).append(r[key])
lines = ["| runtime | metric | before (3 runs) | after (3 runs) | after / before (medians) |",
         "|---|---|---|---|---|"]
for (name, key), by in table.items():
    b, a = statistics.median(by["before"]), statistics.median(by["after"])
    fmt = lambda v: ", ".join(f"{x:.1f}" for x in v)  # noqa: E731
    lines.append(f"| {name} | {key} | {fmt(by['before'])} | {fmt(by['after'])} | {a / b:.2f} |")
text = "\n".join(lines) + "\n"
(HERE / "table.md").write_text(
    "# Issue 11: `python -m ltcn_kernels.bench` on the demo model, before vs after the "
    "restructure\n\nCommand: `bash experiments/refactor_bench_compare.sh MODEL` (see its header); "
    "model: the 60 %-pruned quickstart from `ltcn demo`; one pinned core (taskset -c 1), "
    "1,000 flows per batch, 7 timed rounds after 2 warm-up rounds, before/after alternated "
    "three times in one session.\n\n" + text)
print(text)
