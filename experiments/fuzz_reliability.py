"""Fuzzing what an attacker or a careless operator controls: every reader format (plain and
gzipped), the model file, and the gateway's line stream (issue 14).

    python experiments/fuzz_reliability.py --cases 10000 --out results/reliability

Each case is a real fixture edited by hypothesis-drawn changes, in two kinds:

- **bytes**: truncation, flipped bytes, inserted tokens (NUL, CR, delimiters, quotes, huge and
  non-finite numbers, non-UTF-8, long runs), deleted ranges; optionally gzipped, and the gzip
  stream damaged too. Every case must parse or be one clear error (an ``InputError`` whose text
  is one line naming the input).
- **lines**: whole records replaced by bad ones (too few fields, too many, and for the gateway
  NUL-bearing and over-long lines). Here the counts must be exact: the good records read, each
  bad one skipped and counted.

Outcomes per case: ``ok``, ``clear`` (a one-line error naming the input), ``traceback``
(anything else: a bug), ``hang`` (over ``--case-seconds``), ``wrong count``. The run prints
JSON and writes ``fuzz.json`` and ``fuzz.md``; ``tests/edge/io/test_fuzz.py`` runs a fixed-seed slice of
the same cases in ``make test``. The model file's cases edit the manifest's structure with
recomputed checksums too (a re-hashed file that is not what the schema says), unsigned and
validly signed, and edit the bytes of a signed file (the signature must refuse every change).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
FORMATS = {  # name -> (fixture, lines kept: header + records)
    "nsl-kdd": (FIXTURES / "nsl-kdd/KDDTest+_subset.txt", 40),
    "cicids2017-mlcve": (FIXTURES / "cicids2017/MachineLearningCVE_subset.csv", 40),
    "cicids2017-traffic": (FIXTURES / "cicids2017/TrafficLabelling_subset.csv", 40),
    "cicids2017-improved": (sorted((FIXTURES / "cicids2017/improved").glob("*.csv"))[0], 40),
    "bot-iot": (FIXTURES / "bot-iot/data_t_subset.csv", 40),
}
TOKENS = [b"\x00", b"\r", b"\n", b"\r\n", b",", b"\t", b";", b'"', b"nan", b"inf", b"-inf",
          b"1e309", b"-1e400", b"1e12", b"\xff\xfe", "é".encode(), b"\xef\xbb\xbf", b"9" * 400,
          b"-", b"0x1f", b" ", b"\n\n\n", b"A" * 5000]
# "forged": a signed model file with changed bytes that still loaded as signed by its key.
OUTCOMES = ("ok", "clear", "traceback", "hang", "wrong count", "forged")


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def sample(name: str) -> bytes:
    path, keep = FORMATS[name]
    lines = path.read_bytes().split(b"\n")
    return b"\n".join(lines[:keep]) + b"\n"


def byte_edits():
    op = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
        st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.sampled_from(TOKENS)),
        st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 200)),
        st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
    )
    return st.tuples(st.lists(op, min_size=1, max_size=6), st.booleans(),
                     st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)), max_size=2))


def apply_bytes(data: bytes, edits, gz: bool, gz_flips) -> bytes:
    buf = bytearray(data)
    for op, at, arg in edits:
        at %= max(len(buf), 1)
        if op == "flip" and buf:
            buf[at] ^= arg
        elif op == "insert":
            buf[at:at] = arg
        elif op == "delete":
            del buf[at : at + arg]
        elif op == "truncate":
            del buf[at:]
    out = bytes(buf)
    if gz:
        z = bytearray(gzip.compress(out, mtime=0))
        for at, xor in gz_flips:  # damage the compressed stream (past the magic)
            z[2 + at % (len(z) - 2)] ^= xor
        out = bytes(z)
    return out


def line_edits(n_records: int, kinds: tuple[str, ...]):
    return st.dictionaries(st.integers(0, n_records - 1), st.sampled_from(kinds), max_size=8)


def apply_lines(data: bytes, bad: dict) -> tuple[bytes, int, int]:
    """The sample with records ``bad`` replaced; (bytes, good records, bad records)."""
    lines = data.rstrip(b"\n").split(b"\n")
    head, records = (lines[:1], lines[1:]) if not lines[0][:1].isdigit() else ([], lines)
    for i, kind in bad.items():
        fields = records[i].split(b"\t" if b"\t" in records[i] else b",")
        sep = b"\t" if b"\t" in records[i] else b","
        records[i] = {
            "few": sep.join(fields[:3]),
            "many": sep.join(fields + fields),
            "nul": records[i][:5] + b"\x00" + records[i][5:],
            "long": b"x" * 70_000,
        }[kind]
    return b"\n".join(head + records) + b"\n", len(records) - len(bad), len(bad)


# -- the checks: one case -> one outcome ------------------------------------------------------
def _clear(exc: Exception, name: str) -> bool:
    from ltcn_kernels.errors import InputError

    text = str(exc)
    return isinstance(exc, InputError) and "\n" not in text and name in text


def _run(fn, name: str, seconds: float, failures: list):
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return "ok", fn()
    except _Hang:
        return "hang", None
    except Exception as exc:
        if _clear(exc, name):
            return "clear", None
        failures.append(f"{name}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
        return "traceback", None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def check_reader_bytes(data: bytes, fmt: str, skip: bool, seconds: float, failures: list) -> str:
    from ltcn_kernels import read_flows_bytes

    name = f"<fuzz {fmt}>"
    outcome, _ = _run(lambda: read_flows_bytes(data, name=name, skip_bad_lines=skip,
                                               unknown_label="keep", drop_duplicates=False),
                      name, seconds, failures)
    return outcome


def check_reader_lines(data: bytes, good: int, bad: int, fmt: str, seconds: float,
                       failures: list) -> str:
    from ltcn_kernels import read_flows_bytes

    name = f"<fuzz {fmt}>"
    outcome, table = _run(lambda: read_flows_bytes(data, name=name, skip_bad_lines=True,
                                                   unknown_label="keep", drop_duplicates=False,
                                                   drop_nonfinite=False),
                          name, seconds, failures)
    if outcome != "ok":
        return outcome if outcome != "clear" or good else "ok"  # (nothing good left: an error)
    skipped = sum(v for k, v in table.drops.items() if k.startswith("bad line"))
    if len(table) != good or skipped != bad:
        failures.append(f"{name}: {len(table)} rows / {skipped} skipped, want {good} / {bad}")
        return "wrong count"
    return "ok"


def check_artifact(data: bytes, seconds: float, failures: list, tmp: Path,
                   signed_original: tuple[bytes, bytes] | None = None) -> str:
    """Load ``data`` as a model and run it; with ``signed_original`` = (the signed file it
    was edited from, its signer), a change that still loads as signed by that key is
    ``forged``."""
    from ltcn_kernels.engine.artifact import engine_model
    from ltcn_kernels.engine.run import predict_proba_windows
    from ltcn_kernels.pipeline import load_model

    path = tmp / "fuzz.ltcn"
    path.write_bytes(data)

    def load():
        artifact, _ = load_model(path)
        engine = engine_model(artifact, "sparse")
        w = artifact.spec.window
        predict_proba_windows(engine, np.zeros((2, w, engine.n_features), np.float32))
        return artifact.signer

    outcome, signer = _run(load, str(path), seconds, failures)
    if outcome == "ok" and signed_original is not None:
        original, key = signed_original
        if data != original and signer == key:
            failures.append(f"{path}: {len(data)} bytes changed from the signed {len(original)}, "
                            "still loaded as signed")
            return "forged"
    return outcome


def unsigned(data: bytes) -> bytes:
    """A model file's bytes without its signature trailer (if it has one)."""
    from ltcn_kernels.engine.signature import split_signed

    return data[: split_signed(data)[0]]


def signed(data: bytes, signer) -> bytes:
    """``data`` (unsigned) with a valid signature by ``signer`` appended (the trailer
    ``write_artifact`` and ``sign_artifact`` write)."""
    import hashlib

    from ltcn_kernels.engine import artifact as art

    return data + art._trailer(signer, hashlib.sha512(data).digest())


def rehash(data: bytes, edit) -> bytes:
    """A model file whose manifest got ``edit`` (path of keys, new value) and whose checksums
    and offsets were all recomputed (unsigned: sign it with :func:`signed` for a file whose
    signature is valid too): only the structure checks can refuse it."""
    from ltcn_kernels.engine import artifact as art

    data = unsigned(data)
    (length,) = np.frombuffer(data[len(art.MAGIC) : art._HEAD], "<u8")
    manifest = json.loads(data[art._HEAD : art._HEAD + int(length)])
    old_start = art._data_start(int(length))
    payload = data[old_start:]
    keys, value = edit
    node = manifest
    for k in keys[:-1]:
        node = node[k] if isinstance(node, dict) and k in node else node
    if isinstance(node, dict):
        if value is _DELETE:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    for _ in range(3):  # file_bytes depends on the manifest's length, which depends on it
        manifest["manifest_sha256"] = art._manifest_digest(manifest)
        text = json.dumps(manifest, sort_keys=True).encode()
        start = art._data_start(len(text))
        manifest["file_bytes"] = start + len(payload)
    manifest["manifest_sha256"] = art._manifest_digest(manifest)
    text = json.dumps(manifest, sort_keys=True).encode()
    start = art._data_start(len(text))
    head = art.MAGIC + np.array([len(text)], "<u8").tobytes() + text
    return head + b"\0" * (start - len(head)) + payload


_DELETE = object()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)
MANIFEST_KEYS = ["architecture", "arrays", "engine", "preprocess", "classes", "layers", "format",
                 "schema_version", "window", "channels", "dilations", "features", "categorical",
                 "ports", "offset", "bytes", "shape", "dtype", "sha256", "num_classes",
                 "input_channels", "kernel_size", "sequence", "stream_key", "c_max", "min", "max"]


def manifest_edits():
    return st.tuples(st.lists(st.sampled_from(MANIFEST_KEYS), min_size=1, max_size=3),
                     st.one_of(JSON_VALUES, st.just(_DELETE)))


def check_gateway(data: bytes, good: int | None, bad: int | None, model: Path, seconds: float,
                  failures: list) -> str:
    from ltcn_kernels.gateway import DetectOptions, run_detect

    name = "-"
    # (the model's trust is not what this target tests: tests/edge/engine/test_signing.py does)
    options = DetectOptions(source="-", stats_every=0, threshold=0.5, micro_batch=16,
                            allow_unsigned=True)

    def detect():
        return run_detect(model, options, stdin=io.BytesIO(data), out=io.StringIO(),
                          err=io.StringIO())

    outcome, res = _run(detect, name, seconds, failures)
    if outcome == "clear" and good == 0:
        return "ok"
    if outcome != "ok" or good is None:
        return outcome
    if res["flows"] != good or res["skipped"] != bad:
        failures.append(f"gateway: {res['flows']} flows / {res['skipped']} skipped, want "
                        f"{good} / {bad}: {res['skipped_by_reason']}")
        return "wrong count"
    return "ok"


# -- the run ----------------------------------------------------------------------------------
def run_target(target: str, cases: int, seconds: float, model: Path | None,
               tmp: Path) -> tuple[Counter, list]:
    """``cases`` hypothesis cases of one target; (outcome counts, failure texts). The cases
    are derandomized: the same every run (no seed to choose)."""
    counts: Counter = Counter()
    failures: list = []
    opts = settings(max_examples=cases, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck), phases=["generate"])
    if target.startswith("reader:"):
        fmt = target.split(":", 1)[1]
        data = sample(fmt)
        n = data.count(b"\n") - 1

        @opts
        @given(st.integers(0, 1), byte_edits(), line_edits(n, ("few", "many")), st.booleans())
        def case(kind, edits, bad, skip):
            if kind == 0:
                counts[check_reader_bytes(apply_bytes(data, *edits), fmt, skip, seconds, failures)] += 1
            else:
                text, good, n_bad = apply_lines(data, bad)
                counts[check_reader_lines(text, good, n_bad, fmt, seconds, failures)] += 1
    elif target == "artifact":
        from ltcn_jax.signing import generate_key, load_key

        where = tmp / "fuzz-key.pem"
        key = load_key(where) if where.exists() else generate_key(where, trust=False)
        plain = unsigned(model.read_bytes())
        files = (plain, signed(plain, key))

        # kinds: bytes edited in the unsigned file (0) or the signed one (1); the manifest's
        # structure edited with every checksum recomputed, unsigned (2) or validly signed (3)
        # (tail: the edits fall in the last 256 bytes: the signature trailer (104) and the end
        # of the last array)
        @opts
        @given(st.integers(0, 3), byte_edits(), manifest_edits(), st.booleans())
        def case(kind, edits, edit, tail):
            original = (files[1], key.public_key) if kind == 1 else None
            if kind < 2:
                ops = edits[0]
                if tail:
                    n = len(files[kind])
                    ops = [(op, n - 256 + at % 256, arg) for op, at, arg in ops]
                mutated = apply_bytes(files[kind], ops, False, [])
            else:
                mutated = rehash(plain, edit)
                mutated = signed(mutated, key) if kind == 3 else mutated
            counts[check_artifact(mutated, seconds, failures, tmp, original)] += 1
    elif target == "gateway":
        data = sample("bot-iot")
        n = data.count(b"\n") - 1

        @opts
        @given(st.integers(0, 1), byte_edits(), line_edits(n, ("few", "many", "nul", "long")))
        def case(kind, edits, bad):
            if kind == 0:
                counts[check_gateway(apply_bytes(data, *edits), None, None, model, seconds, failures)] += 1
            else:
                text, good, n_bad = apply_lines(data, bad)
                counts[check_gateway(text, good, n_bad, model, seconds, failures)] += 1
    else:
        raise ValueError(f"unknown target {target!r}; expected reader:<format>, artifact or gateway")
    case()
    return counts, failures


TARGETS = [*(f"reader:{f}" for f in FORMATS), "artifact", "gateway"]


def small_model(tmp: Path) -> Path:
    """A tiny BoT-IoT per-host model, trained one epoch, pruned to 60 % and exported here (a few
    seconds)."""
    from ltcn_jax.data.prepare import DataConfig
    from ltcn_jax.experiment import run_experiment
    from ltcn_jax.export import export_run
    from ltcn_jax.presets import tiny_config

    data = DataConfig(dataset="bot-iot", files=(str(FORMATS["bot-iot"][0]),),
                      split="class-time-block", sequence="flows", window=4, stream_key="saddr",
                      stream_gap=True, fractions=(0.5, 0.2, 0.3), drop_duplicates=False)
    config = tiny_config("fuzz", data, channels=(4,), dilations=(1,), kernel_size=2)
    run_experiment(config, tmp / "fuzz", progress=False)
    path = tmp / "m.ltcn"
    export_run(tmp / "fuzz", path, signer=None)  # the gateway target runs it --allow-unsigned
    return path


def main(argv: list[str] | None = None) -> int:
    import tempfile

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=10_000, help="cases per target")
    p.add_argument("--case-seconds", type=float, default=10.0, help="a case over this is a hang")
    p.add_argument("--targets", nargs="*", default=TARGETS)
    p.add_argument("--out", default="results/reliability")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="ltcn-fuzz-") as tmp:
        tmp = Path(tmp)
        model = small_model(tmp)
        for target in args.targets:
            t0 = time.perf_counter()
            counts, failures = run_target(target, args.cases, args.case_seconds, model, tmp)
            rows[target] = {"cases": sum(counts.values()),
                            **{o: counts.get(o, 0) for o in OUTCOMES},
                            "seconds": round(time.perf_counter() - t0, 1),
                            "failures": failures[:5]}
            print(json.dumps({target: {k: v for k, v in rows[target].items() if k != "failures"}}),
                  flush=True)
    command = "python experiments/fuzz_reliability.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (out / "fuzz.json").write_text(json.dumps({"command": command, "targets": rows}, indent=1) + "\n")
    lines = ["# Fuzzing the inputs (issue 14)", "",
             "Hypothesis-drawn edits of real fixtures (bytes: truncation, flips, inserted tokens, "
             "deletions, gzip and damaged gzip; lines: bad records replacing good ones, whose "
             "counts must be exact; the model file: unsigned and signed, and its manifest edited "
             "with every checksum recomputed, unsigned and validly re-signed). Targets must show "
             "0 tracebacks, 0 hangs, 0 wrong counts, and no changed signed file that still loads "
             "as signed (forged).", "",
             "| target | cases | ok | clear error | traceback | hang | wrong count | forged | s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for target, r in rows.items():
        lines.append(f"| {target} | {r['cases']:,} | {r['ok']:,} | {r['clear']:,} | "
                     f"{r['traceback']} | {r['hang']} | {r['wrong count']} | {r['forged']} | "
                     f"{r['seconds']} |")
    lines += ["", f"Command: `{command}`", ""]
    (out / "fuzz.md").write_text("\n".join(lines))
    bad = sum(r["traceback"] + r["hang"] + r["wrong count"] + r["forged"] for r in rows.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
