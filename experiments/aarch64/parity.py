"""x86 side of `make check-aarch64` (experiments/aarch64/check.sh).

``prepare --stage DIR``: trains two tiny models on the test fixtures (a BoT-IoT per-flow model
without the aggregate features, as the gateway config, and an NSL-KDD feature-sequence model),
exports them (CSR) and copies the fixture inputs beside them.
``compare --stage DIR --out results/aarch64``: compares every output of ``edge_run.sh`` on
x86 (``DIR/x86``) and arm64 (``DIR/arm64``) byte for byte and writes ``parity.json`` and
``README.md`` there, with the versions and the (emulated) timings.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import platform
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures"
INPUTS = (FIX / "bot-iot/data_t_subset.csv", FIX / "nsl-kdd/KDDTest+_subset.txt",
          FIX / "pcap/synscan.pcap")
COMPARED = (
    "predict_bot_sparse.csv", "predict_bot_dense.csv", "predict_nsl_sparse.csv",
    "predict_nsl_dense.csv", "evaluate_nsl.json", "flows_synscan.csv", "alerts_pcap.jsonl",
    "nft_pcap.jsonl", "alerts_csv.jsonl", "probs_bot_sparse.npy", "probs_bot_dense.npy",
    "probs_nsl_sparse.npy", "probs_nsl_dense.npy",
)


def prepare(stage: Path) -> None:
    from ltcn_jax.config import ExperimentConfig, ModelConfig, PruneConfig, TrainConfig
    from ltcn_jax.data.prepare import DataConfig
    from ltcn_jax.experiment import run_experiment
    from ltcn_jax.export import export_run
    from ltcn_jax.signing import default_signer, trust_public_key

    stage.mkdir(parents=True, exist_ok=True)
    for f in INPUTS:
        shutil.copy(f, stage / f.name)
    bot = DataConfig(dataset="bot-iot", files=(str(INPUTS[0]),), split="class-time-block",
                     sequence="flows", window=1, fractions=(0.5, 0.2, 0.3), drop_duplicates=False,
                     log_scale=True, exclude_features=("mean", "stddev", "sum", "min", "max"))
    nsl = DataConfig(dataset="nsl-kdd", train_files=(str(FIX / "nsl-kdd/KDDTrain+_20Percent_subset.txt"),),
                     test_files=(str(INPUTS[1]),), sequence="features", val_fraction=0.2)
    for name, data, model in (
        ("bot", bot, {"channels": (6, 6), "dilations": (1, 2), "kernel_size": 2}),
        ("nsl", nsl, {"channels": (4, 8), "dilations": (1, 2), "kernel_size": 3}),
    ):
        config = ExperimentConfig(name, data, ModelConfig("ltcn", model),
                                  TrainConfig(epochs=1, batch_size=64),
                                  prune=PruneConfig(targets=(0.6,), rounds=1))
        run_experiment(config, stage / f"run-{name}", progress=False)
        export_run(stage / f"run-{name}", stage / f"{name}.ltcn")  # signed with the default key
        shutil.rmtree(stage / f"run-{name}")
    # Its public half, for the gateways' trust stores (kernels/README.md's "trust the key" step).
    trust_public_key(default_signer().public_key, stage / "trusted-keys")


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def _tsv(p: Path) -> dict[str, float]:
    if not p.exists():
        return {}
    return {k: round(float(v), 2) for k, v in (ln.split("\t") for ln in p.read_text().splitlines() if ln)}


def compare(stage: Path, out: Path, base_seconds: float, suite: str, unit_check: str,
            reused: bool = False) -> int:
    x86, arm = stage / "x86", stage / "arm64"
    files = {}
    for name in COMPARED:
        a, b = x86 / name, arm / name
        same = a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)
        files[name] = {"identical": same, "bytes": a.stat().st_size if a.exists() else None,
                       "sha256_16": _sha(a) if a.exists() else None,
                       "lines": None if not a.exists() or name.endswith(".npy")
                       else len(a.read_text().splitlines())}
        if name.endswith(".npy") and a.exists() and b.exists() and not same:
            import numpy as np

            va, vb = np.load(a), np.load(b)
            files[name]["values_different"] = int((va != vb).sum())
            files[name]["values"] = int(va.size)
            files[name]["max_abs_diff"] = float(np.abs(va.astype(np.float64) - vb).max())
    unit_same = (arm / "unit_alerts.jsonl").exists() and filecmp.cmp(
        x86 / "alerts_pcap.jsonl", arm / "unit_alerts.jsonl", shallow=False)
    failure = (arm / "failure_modes.txt").read_text() if (arm / "failure_modes.txt").exists() else ""
    texts = {n: (arm / n).read_text().strip()[:400] for n in
             ("nocache.txt", "missing_extra.txt", "bad_iface.txt", "unit_warmup.txt", "warmup.txt")
             if (arm / n).exists()}
    verdict = all(f["identical"] for f in files.values()) and unit_same
    printed = all(f["identical"] for n, f in files.items() if not n.endswith(".npy")) and unit_same
    raw = [f for n, f in files.items() if n.endswith(".npy") and not f["identical"]]
    diag_file = stage / "diagnosis.json"
    diagnosis = json.loads(diag_file.read_text()) if diag_file.exists() else None
    if verdict:
        text = "bit-identical"
    elif printed and raw and all("values_different" in f for f in raw):
        n = sum(f["values_different"] for f in raw)
        text = (f"every printed output bit-identical; raw float32 probabilities differ in {n} of "
                f"{sum(f['values'] for f in raw)} values of {len(raw)} arrays (max |diff| "
                f"{max(f['max_abs_diff'] for f in raw):.3g})")
    else:
        text = "DIFFERENT"
    result = {
        "verdict": text,
        "printed_outputs_identical": printed,
        "diagnosis": diagnosis,
        "compared": files,
        "unit_alerts_equal_x86": unit_same,
        "arm64_versions": json.loads((arm / "versions.json").read_text()),
        "x86": {"machine": platform.machine(), "python": sys.version.split()[0]},
        "timings_note": "arm64 timings are under qemu-user EMULATION on an x86 host: they say "
                        "nothing about a Raspberry Pi's speed",
        "timings_s_arm64_emulated": {
            **({k: v for k, v in _tsv(stage.parent / "install-steps-first-run.tsv").items()
                if k not in ("unit_warmup_cold", "unit_warmup_cached")} if reused else {}),
            **_tsv(arm / "steps.tsv"), **_tsv(arm / "timings.tsv")},
        "timings_s_x86_native": _tsv(x86 / "timings.tsv"),
        "rootfs": f"Debian {suite} arm64, debootstrap --variant=minbase (built in {base_seconds:.0f} s "
                  "this run; 0 = cached)",
        "failure_modes": failure.strip().splitlines(),
        "messages": texts,
        "unit_check": unit_check,
        "command": "make check-aarch64" + (" (AARCH64_REUSE=1)" if reused else ""),
        "install_steps": "from an earlier run of this root file system (AARCH64_REUSE=1)"
                         if reused else "this run, from a fresh copy of the clean root file system",
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "README.md").write_text(_markdown(result))
    print(f"check-aarch64: {result['verdict']} ({sum(f['identical'] for f in files.values())}"
          f"/{len(files)} outputs; unit run {'equal' if unit_same else 'DIFFERENT'})")
    return 0 if verdict else 1


def _markdown(r: dict) -> str:
    v = r["arm64_versions"]
    lines = [
        "# aarch64 check (`make check-aarch64`)", "",
        f"**Verdict: {r['verdict']}** — every output of the edge commands on a clean Debian arm64 "
        "root file system (qemu-user emulation) compared byte for byte with the x86 run.", "",
        *_diagnosis_lines(r), f"Install steps: {r['install_steps']}.", "",
        f"arm64: {v['machine']}, Debian {v['os']}, Python {v['python']}, numpy {v['numpy']}, "
        f"numba {v['numba']}, llvmlite {v['llvmlite']}, ltcn {v['ltcn']}; LLVM target "
        f"`{v['llvm_triple']}`, host CPU `{v['llvm_host_cpu']}`; /opt/ltcn {v['installed_mb']} MB. "
        f"{r['rootfs']}.", "",
        "| output | identical | lines | sha256 (16) |", "|---|---|---|---|",
    ]
    for name, f in r["compared"].items():
        lines.append(f"| `{name}` | {'yes' if f['identical'] else '**no**'} | {f['lines']} | `{f['sha256_16']}` |")
    lines += ["", f"The unit's user, directories and environment (ExecStartPre warmup, then detect on "
              f"the capture as user `ltcn`): alerts equal x86: {'yes' if r['unit_alerts_equal_x86'] else '**no**'}.",
              f"Unit file: {r['unit_check']}.", "",
              "Failure modes, as a user meets them (rc = exit status):", ""]
    lines += [f"- `{ln}`" for ln in r["failure_modes"]]
    lines += ["", "Messages:", ""]
    lines += [f"- {k}: `{t.splitlines()[-1] if t else ''}`" for k, t in r["messages"].items()]
    lines += ["", "Timings, seconds. **arm64 numbers are EMULATED** (qemu-user on x86): "
              "they are not Pi timings. The x86 column ran with this checkout's Numba cache already "
              "filled (its warmup_cold is not a cold compile; 15-33 s is).", "",
              "| step | arm64 (emulated) | x86 (native) |", "|---|---|---|"]
    emu, nat = r["timings_s_arm64_emulated"], r["timings_s_x86_native"]
    for k in emu:
        lines.append(f"| {k} | {emu[k]} | {nat.get(k, '')} |")
    lines += ["", "Command: `make check-aarch64` (root; see `experiments/aarch64/check.sh`).", ""]
    return "\n".join(lines)


def _diagnosis_lines(r: dict) -> list[str]:
    d = r.get("diagnosis")
    if not d:
        return []
    eng = d["engine_on_identical_inputs_values_different"]
    return [
        "Where they differ (`experiments/aarch64/diagnose.sh`): the engine is bit-identical on "
        f"identical inputs (values different, x86 vs arm64 engine on the x86 preprocessed inputs: "
        f"sparse {eng['sparse']}, dense {eng['dense']}); the difference comes from the "
        "preprocessing's `log_scale` (numpy's `log1p`, whose last bit differs between the x86 and "
        f"aarch64 builds: {d['log1p_float64_values_different_of_100001']} of 100,001 float64 "
        f"values): {d['preprocessed_bot_float32_values_different']} of "
        f"{d['preprocessed_bot_values']} preprocessed BoT-IoT inputs differ by one float32 ulp. "
        "The NSL-KDD model (no log scale) is bit-identical in every raw probability.", "",
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["prepare", "compare"])
    ap.add_argument("--stage", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "aarch64")
    ap.add_argument("--base-seconds", type=float, default=0)
    ap.add_argument("--suite", default="bookworm")
    ap.add_argument("--unit-check", default="")
    ap.add_argument("--reused", action="store_true",
                    help="the README install steps ran in an earlier run of this root file system")
    a = ap.parse_args()
    if a.what == "prepare":
        prepare(a.stage)
        return 0
    return compare(a.stage, a.out, a.base_seconds, a.suite, a.unit_check, a.reused)


if __name__ == "__main__":
    sys.exit(main())
