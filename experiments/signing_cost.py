"""What checking a model's signature costs at load: the pure-Python Ed25519 verification and the
SHA-512 of the file, next to the load itself (issue 14).

    python experiments/signing_cost.py --core 1 --repeats 31 --out results/reliability

Pinned to one core before numpy loads (one thread). Three files, each read unsigned and signed
(the same bytes plus the 104-byte trailer): the shipped lab model (``results/lab/model.ltcn``,
126 KB), and two synthetic files of float32 arrays the size of the paper-scale L-TCN at 60 %
sparsity in CSR (3.5 MB) and dense (8.8 MB). The file is in the page cache (just read): the
warm-cache load. Each timing is a median of ``--repeats`` after 3 untimed rounds; CPU time /
wall time of the whole run shows the process had its core.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "--core" in sys.argv:  # pin before numpy / numba load
    os.sched_setaffinity(0, {int(sys.argv[sys.argv.index("--core") + 1])})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"

import argparse
import hashlib
import json
import shlex
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    from ltcn_jax.signing import generate_key
    from ltcn_kernels.engine.artifact import read_artifact, sign_artifact, write_artifact
    from ltcn_kernels.engine.signature import verify  # the edge's pure-Python Ed25519

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--core", type=int, default=None, help="the one core to run on")
    p.add_argument("--repeats", type=int, default=31)
    p.add_argument("--out", default="results/reliability")
    args = p.parse_args(argv)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="ltcn-signing-") as tmp:
        tmp = Path(tmp)
        key = generate_key(tmp / "k.pem", trust=False)
        message = b"ltcn model signature v1\n" + bytes(64)
        signature = key.sign(message)
        verify_ms = _median_ms(lambda: verify(key.public_key, message, signature), args.repeats)
        rng = np.random.default_rng(0)
        files = {"lab model (results/lab/model.ltcn)": ROOT / "results/lab/model.ltcn"}
        for name, n in (("paper scale, 60 % CSR (synthetic)", 880_000), ("paper scale, dense (synthetic)", 2_200_000)):
            path = tmp / f"{n}.ltcn"
            write_artifact(path, {"note": name}, {"w": rng.standard_normal(n).astype(np.float32)})
            files[name] = path
        for name, source in files.items():
            plain, signed = tmp / "plain.ltcn", tmp / "signed.ltcn"
            plain.write_bytes(source.read_bytes()[: read_artifact(source).manifest["file_bytes"]])
            signed.write_bytes(plain.read_bytes())
            sign_artifact(signed, key)
            assert read_artifact(signed).signer == key.public_key and read_artifact(plain).signer is None
            body = plain.read_bytes()
            rows[name] = {
                "file_bytes": len(body),
                "load_unsigned_ms": round(_median_ms(lambda p=plain: read_artifact(p), args.repeats), 3),
                "load_signed_ms": round(_median_ms(lambda p=signed: read_artifact(p), args.repeats), 3),
                "sha512_ms": round(_median_ms(lambda b=body: hashlib.sha512(b).digest(), args.repeats), 3),
            }
            rows[name]["overhead_ms"] = round(rows[name]["load_signed_ms"] - rows[name]["load_unsigned_ms"], 3)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    command = "python experiments/signing_cost.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    result = {"command": command, "core": args.core, "affinity": sorted(os.sched_getaffinity(0)),
              "cpu_over_wall": round(cpu / wall, 3), "repeats": args.repeats,
              "ed25519_verify_ms": round(verify_ms, 3), "files": rows}
    print(json.dumps(result))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "signing.json").write_text(json.dumps(result, indent=1) + "\n")
        lines = ["# What a signature costs at load (issue 14)", "",
                 f"One core ({result['affinity']}), CPU/wall {result['cpu_over_wall']}; medians of "
                 f"{args.repeats} after 3 untimed rounds; the file in the page cache.", "",
                 f"Ed25519 verification (pure Python, `ltcn_kernels.engine._ed25519`): "
                 f"**{result['ed25519_verify_ms']:.2f} ms**.", "",
                 "| file | bytes | load unsigned (ms) | load signed (ms) | overhead (ms) | of which SHA-512 (ms) |",
                 "|---|---:|---:|---:|---:|---:|"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['file_bytes']:,} | {r['load_unsigned_ms']:.2f} | "
                         f"{r['load_signed_ms']:.2f} | {r['overhead_ms']:.2f} | {r['sha512_ms']:.2f} |")
        lines += ["", f"Command: `{command}`", ""]
        (out / "signing.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
