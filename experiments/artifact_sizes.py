"""Size of the deployable .ltcn file, dense vs CSR, at every sparsity of the ablation runs.

    python experiments/artifact_sizes.py --out results/artifacts

Exports each pruned model of ``results/<dataset>_ablation/`` (and the dense one) in both
storage formats and records the file size and the weight bytes stored.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from ltcn_jax.export import export_run

RUNS = ("nsl_kdd_ablation", "cicids2017_ablation", "bot_iot_ablation")
SPARSITIES = (None, 40, 60, 80, 90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--out", type=Path, default=Path("results/artifacts"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in RUNS:
            run_dir = args.results / run
            if not (run_dir / "config.json").is_file():
                continue
            for sparsity in SPARSITIES:
                entry = {"run": run, "target_sparsity": 0 if sparsity is None else sparsity}
                for fmt in ("dense", "csr"):
                    info = export_run(run_dir, Path(tmp) / f"{run}_{sparsity}_{fmt}.ltcn", fmt=fmt, sparsity=sparsity)
                    entry[f"{fmt}_file_bytes"] = info["file_bytes"]
                    entry[f"{fmt}_weight_bytes"] = info["stored_bytes"]
                    entry["conv_sparsity"] = info["sparsity"]
                entry["csr_over_dense"] = round(entry["csr_file_bytes"] / entry["dense_file_bytes"], 3)
                rows.append(entry)
    command = "python experiments/artifact_sizes.py --out " + str(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "artifact_sizes.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    lines = ["# .ltcn artifact sizes, dense vs CSR", "", f"Command: `{command}`", "",
             "File = the whole .ltcn (manifest with the preprocessing spec + arrays); weights = "
             "the parameter bytes stored (CSR: fp32 values + smallest unsigned indices + row "
             "pointers for the convolution kernels; biases and head dense in both).", "",
             "| run | sparsity (conv kernels) | dense file (B) | CSR file (B) | CSR / dense | dense weights (B) | CSR weights (B) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['run']} | {100 * r['conv_sparsity']:.1f} % | {r['dense_file_bytes']:,} | {r['csr_file_bytes']:,} | "
            f"{r['csr_over_dense']} | {r['dense_weight_bytes']:,} | {r['csr_weight_bytes']:,} |"
        )
    (args.out / "artifact_sizes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
