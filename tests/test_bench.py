"""The benchmark (``ltcn_kernels.bench`` + ``ltcn bench``): end to end on a tiny model, the
NumPy and ONNX runtimes against the engine, the FMA probe. No timing assertions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltcn_kernels import engine as E
from ltcn_kernels.arch import LTCNArch
from ltcn_kernels.bench import harness as KB
from ltcn_kernels.bench.machine import fma_peak_gflops
from ltcn_kernels.bench.reference import NumpyLTCN

TINY = {"model": "ltcn", "channels": [4, 6], "dilations": [1, 2], "kernel_size": 3,
        "convs_per_block": 2, "num_classes": 3, "input_channels": 5, "sequence": "flows",
        "window": 9, "receptive_field": 13}


def tiny_params(sparsity=0.5):
    from ltcn_jax.bench import magnitude_prune, random_params

    flat = random_params(TINY, seed=1)
    rng = np.random.default_rng(2)
    for p, v in flat.items():
        if p.endswith("bias"):
            flat[p] = (0.1 * rng.standard_normal(v.shape)).astype(np.float32)
    return magnitude_prune(flat, sparsity)


def engine(flat, fmt="sparse"):
    return E.EngineModel.from_params(flat, dilations=TINY["dilations"], kernel_size=3,
                                     convs_per_block=2, format=fmt)


def test_numpy_runtime_equals_engine():
    flat = tiny_params()
    net = NumpyLTCN(flat, LTCNArch.from_dict(TINY))
    x = np.random.default_rng(3).standard_normal((40, 5)).astype(np.float32)
    np.testing.assert_allclose(net.forward(x[None], last_only=False)[0],
                               E.logits_sequence(engine(flat), x), rtol=0, atol=1e-5)
    xs = np.random.default_rng(4).standard_normal((7, 11, 5)).astype(np.float32)
    np.testing.assert_allclose(net.forward(xs, last_only=True),
                               E.logits_windows(engine(flat, "dense"), xs), rtol=0, atol=1e-5)


def test_onnx_export_equals_engine():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from ltcn_jax.onnx_export import build_onnx

    flat = tiny_params(0.4)
    model = build_onnx(flat, LTCNArch.from_dict(TINY))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(5).standard_normal((3, 30, 5)).astype(np.float32)
    seq, last, proba = sess.run(["logits_seq", "logits", "proba"], {"x": x})
    eng = engine(flat)
    for i in range(3):
        np.testing.assert_allclose(seq[i], E.logits_sequence(eng, x[i]), rtol=0, atol=1e-5)
    np.testing.assert_allclose(last, E.logits_windows(eng, x), rtol=0, atol=1e-5)
    np.testing.assert_allclose(proba, E.predict_proba_windows(eng, x), rtol=0, atol=1e-5)


def test_fma_probe_is_positive():
    assert fma_peak_gflops(seconds=0.02, repeats=2) > 0


def test_stream_fast_path_is_bitwise_the_sequence():
    flat = tiny_params(0.6)
    x = np.random.default_rng(6).standard_normal((50, 5)).astype(np.float32)
    for fmt in ("sparse", "dense"):
        eng = engine(flat, fmt)
        stream = E.Stream(eng, output="logits")
        got = np.stack([stream.push(x[i]) for i in range(50)])
        np.testing.assert_array_equal(got, E.logits_sequence(eng, x))


def test_bench_end_to_end_json_schema(tmp_path, capsys):
    from ltcn_jax import bench as B
    from ltcn_jax.cli import main

    flat = tiny_params()
    rep = B.bench_model(flat, TINY, label={"sparsity": 0.5, "scale": "tiny"}, batch=64,
                        threads=1, repeats=2, warmup=1, stream_flows=10, watts=6.4,
                        art_bytes=B.artifact_bytes(flat, TINY))
    names = {r["runtime"] for r in rep["runtimes"]}
    assert names | set(rep["skipped"]) >= set(KB.RUNTIMES)
    for name in KB.RUNTIMES:
        assert name in names or rep["skipped"][name]
    for r in rep["runtimes"]:
        assert r["max_abs_diff_vs_first"] < 1e-4
        assert r["batch_ms_median"] > 0 and r["flows_per_s"] > 0
        assert r["stream_us_p50"] > 0 and r["stream_us_p99"] >= r["stream_us_p50"]
    # The CLI on an exported model: --json prints the schema of the issue.
    from ltcn_jax.export import export_run  # noqa: F401  (the training install is here)
    from ltcn_kernels.engine.artifact import write_artifact
    from ltcn_kernels.engine.csr import csr_from_dense, kernel_matrix

    arrays, layers = {}, []
    for name, v in flat.items():
        if name.startswith("block_") and name.endswith("/kernel"):
            c = csr_from_dense(kernel_matrix(v))
            arrays[f"{name}/values"], arrays[f"{name}/indices"], arrays[f"{name}/indptr"] = (
                c.values, c.indices, c.indptr)
            layers.append({"name": name, "shape": list(v.shape), "storage": "csr"})
        else:
            arrays[name] = v
            layers.append({"name": name, "shape": list(v.shape), "storage": "dense"})
    path = tmp_path / "tiny.ltcn"
    write_artifact(path, {"format": "ltcn-model", "architecture": TINY, "layers": layers}, arrays)
    rc = main(["bench", "--model", str(path), "--batch", "32", "--repeats", "2", "--warmup", "1",
               "--stream-flows", "5", "--json", "--no-pin", "--out", str(tmp_path / "out")])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["batch"] == 32 and doc["threads"] == 1
    keys = {"runtime", "sparsity", "scale", "batch_ms_median", "stream_us_p50", "stream_us_p99",
            "flows_per_s"}
    assert doc["results"] and all(set(r) == keys for r in doc["results"])
    saved = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert saved["machine"]["cpu"] and saved["fma_peak_gflops_per_core"] > 0
    assert (tmp_path / "out" / "bench.md").read_text().startswith("# L-TCN inference benchmark")
