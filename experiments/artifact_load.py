"""Loading a paper-scale, 60 % sparse model: the engine's packed arrays (schema 2), read
once into a private copy the engine runs on (issue 27: it used to map the file, and what was
done to the file reached a running model).

    python experiments/artifact_load.py --core 0 --repeats 9 --first-call --out results/artifact-load/private-copy

The paper-scale L-TCN (channels 192/288/352/352, 118 features, 5 classes, 2.2 M parameters;
seeded random init, block kernels magnitude-pruned to 60 % layer by layer, as ``ltcn bench``
does) is written as ``ltcn export`` writes it (schema 2). The stored results also compare the
schema 1 layout (one CSR triple or dense array per parameter, packed again at every load),
measured before schema 1 was retired; that comparison is in ``results/artifact-load`` and in
this file's history, and no longer runs (the engine no longer reads schema 1). Each
measurement runs in a fresh process pinned to ``--core``, after ``import ltcn_kernels`` and
one tiny load that brings the code paths in: it times ``read_artifact`` + ``engine_model``
(the gateway's and ``ltcn predict``'s load) and records the process's RSS before and after
from ``/proc/self/status`` (anonymous = the private copy and any other heap; file = mapped
file pages, none now) and, in a separate run, the ``tracemalloc`` peak
of the load. The file is in the page cache (just written): this is the warm-cache load time.
``--first-call`` also times the first engine call after the load in each mode with a warm
Numba cache (read-only arrays are a second Numba specialisation of each kernel), and
``--cold-compile`` the same with an empty Numba cache (compiles; minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status() -> dict[str, int]:
    """RSS fields of /proc/self/status, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def child(path: str, warm_path: str, mode: str) -> dict:
    """One measurement (in a fresh process): ``mode`` is ``time`` (RSS + wall time),
    ``trace`` (tracemalloc peak) or ``first-call`` (first engine call after the load)."""
    import numpy as np

    from ltcn_kernels.engine import logits_windows
    from ltcn_kernels.engine.artifact import engine_model, read_artifact

    # Bring every code path in (imports, first-call overheads) on a tiny file of the same kind.
    engine_model(read_artifact(warm_path), "sparse")
    if mode == "trace":
        import tracemalloc

        tracemalloc.start()
        engine = engine_model(read_artifact(path), "sparse")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return {"tracemalloc_peak_bytes": peak, "engine_nbytes": engine.nbytes}
    before = _status()
    start = time.perf_counter()
    art = read_artifact(path)
    engine = engine_model(art, "sparse")
    seconds = time.perf_counter() - start
    after = _status()
    out = {"seconds": seconds, "engine_nbytes": engine.nbytes,
           "read_only": not engine.values.flags.writeable,
           **{f"{k}_delta": after[k] - before[k] for k in ("VmRSS", "RssAnon", "RssFile")}}
    if mode == "first-call":
        x = np.zeros((4, 8, engine.n_features), np.float32)
        start = time.perf_counter()
        logits_windows(engine, x)
        out["first_call_seconds"] = time.perf_counter() - start
    return out


def _run_child(path: Path, warm: Path, mode: str, core: int, env: dict | None = None) -> dict:
    cmd = ["taskset", "-c", str(core), sys.executable, __file__, "--child", str(path),
           "--warm", str(warm), "--mode", mode]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_models(folder: Path) -> dict:
    """The paper-scale model (plus a tiny one to warm up)."""
    import numpy as np

    from ltcn_jax.bench import magnitude_prune, random_params, sweep_arch
    from ltcn_jax.export import packed_arrays
    from ltcn_kernels.arch import LTCNArch, is_conv_kernel
    from ltcn_kernels.engine import EngineModel, logits_windows
    from ltcn_kernels.engine.artifact import read_artifact, write_artifact

    info = {}
    for name, arch in (("paper", sweep_arch("paper")), ("tiny", sweep_arch("default"))):
        flat = magnitude_prune(random_params(arch, seed=0), 0.6)
        base = {"format": "ltcn-model", "architecture": arch}
        arrays2, entries = packed_arrays(flat, arch, "csr")
        v2 = folder / f"{name}_v2.ltcn"
        write_artifact(v2, {**base, **entries}, arrays2)
        if name != "paper":
            continue
        model = EngineModel.from_arch(LTCNArch.from_dict(arch), flat, format="sparse")
        e2 = read_artifact(v2).engine  # the engine the file stores, from the map
        x = np.random.default_rng(1).normal(size=(3, 8, model.n_features)).astype(np.float32)
        convs = [p for p in flat if is_conv_kernel(p)]
        same = all(np.array_equal(getattr(model, f), a) for f, a in e2.engine_arrays().items())
        info = {
            "architecture": {k: arch[k] for k in ("channels", "dilations", "kernel_size",
                                                   "input_channels", "num_classes")},
            "params": int(sum(v.size for v in flat.values())),
            "conv_sparsity": round(1 - sum(np.count_nonzero(flat[p]) for p in convs)
                                   / sum(flat[p].size for p in convs), 4),
            "dense_fp32_bytes": int(sum(v.nbytes for v in flat.values())),
            "v2_file_bytes": v2.stat().st_size,
            "v2_stored_weight_bytes": int(sum(r["bytes"] for r in entries["layers"])),
            "v2_engine_array_bytes": int(sum(a.nbytes for a in arrays2.values())),
            "engine_nbytes": model.nbytes,
            "engine_meta_bytes": int(model.meta.nbytes),
            "packed_and_loaded_engines_identical": bool(same),
            "logits_bitwise_equal": bool(np.array_equal(logits_windows(model, x), logits_windows(e2, x))),
        }
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results/artifact-load")
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--first-call", action="store_true")
    parser.add_argument("--cold-compile", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--warm", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="time", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.warm, args.mode)))
        return 0
    os.sched_setaffinity(0, {args.core})
    load = [round(x, 2) for x in os.getloadavg()]  # other work on the machine shows up here
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        info = write_models(folder)
        for schema in ("v2",):
            path, warm = folder / f"paper_{schema}.ltcn", folder / f"tiny_{schema}.ltcn"
            runs = [_run_child(path, warm, "time", args.core) for _ in range(args.repeats)]
            trace = _run_child(path, warm, "trace", args.core)
            row = {
                "path": "engine arrays, one private copy (schema 2)",
                "runs": runs,
                "median_ms": round(1e3 * statistics.median(r["seconds"] for r in runs), 3),
                "min_ms": round(1e3 * min(r["seconds"] for r in runs), 3),
                **{f"median_{k}_delta_bytes": int(statistics.median(r[f"{k}_delta"] for r in runs))
                   for k in ("VmRSS", "RssAnon", "RssFile")},
                "tracemalloc_peak_bytes": trace["tracemalloc_peak_bytes"],
                "engine_nbytes": runs[0]["engine_nbytes"],
                "engine_arrays_read_only": runs[0]["read_only"],
            }
            if args.first_call:  # the first child fills the Numba cache, the second loads it
                _run_child(path, warm, "first-call", args.core)
                row["first_call_warm_cache_s"] = round(
                    _run_child(path, warm, "first-call", args.core)["first_call_seconds"], 3)
            if args.cold_compile:
                with tempfile.TemporaryDirectory() as cache:
                    row["first_call_cold_cache_s"] = round(_run_child(
                        path, warm, "first-call", args.core, {"NUMBA_CACHE_DIR": cache},
                    )["first_call_seconds"], 1)
            rows[schema] = row
    flags = " --first-call" * args.first_call + " --cold-compile" * args.cold_compile
    command = (f"python experiments/artifact_load.py --core {args.core} --repeats {args.repeats}"
               f"{flags} --out {os.path.relpath(args.out, ROOT)}")
    doc = {"command": command, "machine": {"cpu": platform.machine(), "cores": os.cpu_count(),
                                           "python": platform.python_version(),
                                           "load_average_at_start": load},
           "model": info, "loads": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(doc, indent=1) + "\n")
    (args.out / "command.txt").write_text(command + "\n")
    (args.out / "load.md").write_text(_markdown(doc))
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "runs"} for k, v in rows.items()}))
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.3f}"


def _markdown(doc: dict) -> str:
    m, v2 = doc["model"], doc["loads"]["v2"]
    lines = [
        "# Model load: schema 2, one private copy", "",
        f"Command: `{doc['command']}` (machine: {doc['machine']})", "",
        f"Model: paper-scale L-TCN {m['architecture']}, {m['params']:,} parameters "
        f"({_mb(m['dense_fp32_bytes'])} MB fp32), block kernels magnitude-pruned to "
        f"{100 * m['conv_sparsity']:.1f} % zeros (seeded random init); sparse engine.", "",
        "Each load is `engine_model(read_artifact(path), \"sparse\")` in a fresh process pinned "
        "to one core, file in the page cache; median and minimum of the runs (the minimum is "
        "the robust figure where the core is shared: see the load average). RSS deltas from "
        "/proc/self/status: anonymous = the private copy of the file and any other heap, "
        "file = mapped file pages (none: the file is read, not mapped).", "",
        "| load path | median ms | min ms | RSS delta MB | anon delta MB | file-backed delta MB | tracemalloc peak MB | engine arrays read-only |",
        "|---|---|---|---|---|---|---|---|",
        f"| {v2['path']} | {v2['median_ms']} | {v2['min_ms']} | {_mb(v2['median_VmRSS_delta_bytes'])} | "
        f"{_mb(v2['median_RssAnon_delta_bytes'])} | {_mb(v2['median_RssFile_delta_bytes'])} | "
        f"{_mb(v2['tracemalloc_peak_bytes'])} | {v2['engine_arrays_read_only']} |",
        "", "The time is mostly the read and the SHA-256 of the arrays.", "",
        "| bytes | schema 2 |", "|---|---|",
        f"| file | {m['v2_file_bytes']:,} |",
        f"| stored weights (manifest `layers` bytes) | {m['v2_stored_weight_bytes']:,} |",
        f"| engine arrays in the file (meta included) | {m['v2_engine_array_bytes']:,} |",
        f"| EngineModel.nbytes after the load | {v2['engine_nbytes']:,} |",
        "",
        f"Schema 2 stores each weight once: its stored weight bytes equal the loaded engine's "
        f"`nbytes` ({m['v2_stored_weight_bytes'] == v2['engine_nbytes']}); the file adds the "
        f"{m['engine_meta_bytes']} B `meta` table, the manifest and alignment. The loaded "
        f"engine equals the one packed in memory ({m['packed_and_loaded_engines_identical']}), "
        f"logits bitwise equal ({m['logits_bitwise_equal']}).",
    ]
    if "first_call_warm_cache_s" in v2:
        lines += ["", "First engine call after the load (4 windows of 8 steps), warm Numba cache: "
                  f"{v2['first_call_warm_cache_s']} s (read-only arrays: their own cached "
                  "specialisation)."]
    if "first_call_cold_cache_s" in v2:
        lines += ["", f"With an empty Numba cache (compile): {v2['first_call_cold_cache_s']} s: "
                  "compiled once per machine and index dtype, then cached."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
