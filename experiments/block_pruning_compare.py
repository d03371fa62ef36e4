"""Block (1x4) vs unstructured pruning on the three ablation data sets: one table, JSON, plot.

Reads, for each data set,
  * ``results/<ds>_ablation_block/``                       block pruning (this comparison's run),
  * ``results/block-pruning/unstructured_core0/<ds>_ablation/`` the unstructured ablation rerun
    under the same conditions (same code, same seed, pinned to one core),
  * ``results/<ds>_ablation/``                             the committed unstructured ablation,
and writes ``results/block-pruning/block_vs_unstructured.{json,png}`` and the table between the
markers of ``block_vs_unstructured.md`` (the prose around it is written by hand). The dense
models of the block run and of the unstructured rerun are compared byte for byte (sha256 of
their ``params.msgpack``). A data set whose rerun is missing is compared with the committed run only.

Run (from the repository root):  .venv/bin/python experiments/block_pruning_compare.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
HERE = RESULTS / "block-pruning"  # where this comparison's outputs and rerun live
DATASETS = {"nsl_kdd": "NSL-KDD", "cicids2017": "CICIDS2017", "bot_iot": "BoT-IoT"}
TARGETS = (0.0, 0.4, 0.6, 0.8, 0.9)


def _rows(folder: Path) -> dict[float, dict]:
    rows = json.loads((folder / "ablation.json").read_text())["rows"]
    return {r["target"]: r for r in rows}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def collect() -> dict:
    out: dict = {"datasets": {}}
    for ds, title in DATASETS.items():
        block_dir = RESULTS / f"{ds}_ablation_block"
        rerun_dir = HERE / "unstructured_core0" / f"{ds}_ablation"
        committed_dir = RESULTS / f"{ds}_ablation"
        if not (block_dir / "ablation.json").is_file():
            continue
        have_rerun = (rerun_dir / "ablation.json").is_file()
        block, committed = _rows(block_dir), _rows(committed_dir)
        rerun = _rows(rerun_dir) if have_rerun else None
        dense_block = _sha256(block_dir / "params.msgpack")
        dense_rerun = _sha256(rerun_dir / "params.msgpack") if have_rerun else None
        dense_committed = _sha256(committed_dir / "params.msgpack")
        keys = ("sparsity", "accuracy", "f1_macro", "binary_accuracy", "csr_mb")
        rows = []
        for t in TARGETS:
            b, c = block[t], committed[t]
            u = rerun[t] if rerun else None
            row = {
                "target": t,
                "block": {k: b[k] for k in keys},
                "unstructured": {k: u[k] for k in keys} if u else None,
                "committed_unstructured": {k: c[k] for k in keys},
                "delta_f1_macro_vs_committed_pts": round(100 * (b["f1_macro"] - c["f1_macro"]), 2),
            }
            if u:
                row["delta_f1_macro_pts"] = round(100 * (b["f1_macro"] - u["f1_macro"]), 2)
                row["delta_accuracy_pts"] = round(100 * (b["accuracy"] - u["accuracy"]), 2)
            rows.append(row)
        commands = {
            "block": (block_dir / "command.txt").read_text().strip(),
            "committed": (committed_dir / "command.txt").read_text().strip(),
        }
        if have_rerun:
            commands["unstructured_rerun"] = (rerun_dir / "command.txt").read_text().strip()
        out["datasets"][ds] = {
            "title": title,
            "have_rerun": have_rerun,
            "same_dense_model_block_vs_rerun": dense_block == dense_rerun if have_rerun else None,
            "same_dense_model_block_vs_committed": dense_block == dense_committed,
            "dense_params_sha256": {
                "block_run": dense_block,
                "unstructured_rerun": dense_rerun,
                "committed": dense_committed,
            },
            "commands": commands,
            "rows": rows,
        }
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def table(data: dict) -> list[str]:
    """One row per data set and target. "unstr." is the same-conditions rerun (same code,
    seed and core as the block run, hence the same dense model); "committed" the run in
    ``results/<ds>_ablation`` (another dense model, see the JSON)."""
    lines = [
        "| data set | target | sparsity unstr. / block (%) | macro-F1 unstr. | macro-F1 block "
        "| Δ macro-F1 block − unstr. (pts) | accuracy unstr. | accuracy block | Δ accuracy (pts) "
        "| attack-vs-normal acc unstr. / block | CSR MB unstr. / block "
        "| committed unstr. macro-F1 / acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in data["datasets"].values():
        for r in d["rows"]:
            b, u, c = r["block"], r["unstructured"], r["committed_unstructured"]
            target = "dense" if r["target"] == 0 else f"{round(100 * r['target'])} %"
            if u is None:
                u_sp = u_f1 = u_acc = u_bin = u_mb = d_f1 = d_acc = "n/a"
            else:
                u_sp, u_f1, u_acc = (
                    f"{100 * u['sparsity']:.1f}",
                    _pct(u["f1_macro"]),
                    _pct(u["accuracy"]),
                )
                u_bin, u_mb = _pct(u["binary_accuracy"]), u["csr_mb"]
                d_f1, d_acc = f"{r['delta_f1_macro_pts']:+.2f}", f"{r['delta_accuracy_pts']:+.2f}"
            lines.append(
                f"| {d['title']} | {target} | {u_sp} / {100 * b['sparsity']:.1f} "
                f"| {u_f1} | {_pct(b['f1_macro'])} | {d_f1} | {u_acc} | {_pct(b['accuracy'])} "
                f"| {d_acc} | {u_bin} / {_pct(b['binary_accuracy'])} | {u_mb} / {b['csr_mb']} "
                f"| {_pct(c['f1_macro'])} / {_pct(c['accuracy'])} |"
            )
    return lines


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data["datasets"]), figsize=(13, 3.8), squeeze=False)
    axes = axes[0]
    for ax, d in zip(axes, data["datasets"].values(), strict=True):
        x = [100 * r["target"] for r in d["rows"]]
        for key, style, label in (
            ("unstructured", dict(marker="o"), "unstructured (rerun, core 0)"),
            ("block", dict(marker="s"), "1x4 block"),
            ("committed_unstructured", dict(ls="--", c="grey", marker="x"),
             "unstructured (committed run)"),
        ):
            if d["rows"][0][key] is not None:
                ax.plot(x, [100 * r[key]["f1_macro"] for r in d["rows"]], label=label, **style)
        ax.set(title=d["title"], xlabel="target sparsity (%)", ylabel="macro-F1 (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


START, END = "<!-- table:start (written by compare.py) -->", "<!-- table:end -->"


def _write_table(path: Path, lines: list[str]) -> None:
    """Replace the table between the markers of the hand-written report (if it has them)."""
    if not path.is_file() or START not in path.read_text():
        return
    text = path.read_text()
    head, rest = text.split(START, 1)
    path.write_text(head + START + "\n" + "\n".join(lines) + "\n" + END + rest.split(END, 1)[1])


def main() -> None:
    data = collect()
    (HERE / "block_vs_unstructured.json").write_text(json.dumps(data, indent=1) + "\n")
    _write_table(HERE / "block_vs_unstructured.md", table(data))
    plot(data, HERE / "block_vs_unstructured.png")
    print("\n".join(table(data)))
    for ds, d in data["datasets"].items():
        print(ds, "same dense (block vs rerun):", d["same_dense_model_block_vs_rerun"],
              "| vs committed:", d["same_dense_model_block_vs_committed"])


if __name__ == "__main__":
    main()
