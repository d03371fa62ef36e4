"""Export a trained, pruned run and classify real fixture files with every backend."""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import BOT_ENTIRE, NSL_TEST
from ltcn_jax.export import export_run
from ltcn_jax.reference import flax_proba
from ltcn_kernels.engine.artifact import read_artifact
from ltcn_kernels.pipeline import classify_files, load_model


def test_export_csr_is_smaller_and_records_sizes(nsl_run, tmp_path):
    csr = export_run(nsl_run, tmp_path / "m.ltcn", fmt="csr")
    dense = export_run(nsl_run, tmp_path / "d.ltcn", fmt="dense")
    # Weight bytes shrink with CSR; for a model this tiny the file's manifest and per-array
    # alignment can outweigh the saving, so compare the stored weights.
    assert csr["stored_bytes"] < dense["stored_bytes"] == dense["dense_equivalent_bytes"]
    assert csr["sparsity"] == pytest.approx(0.6, abs=0.01)
    art = read_artifact(tmp_path / "m.ltcn")
    m = art.manifest
    assert m["stored_bytes"] == csr["stored_bytes"] and m["dense_equivalent_bytes"] == dense["dense_equivalent_bytes"]
    assert m["architecture"]["receptive_field"] == 1 + 2 * 2 * 3
    # Schema 2: every parameter lives in the sparse engine's packed arrays, stored once.
    assert {layer["storage"] for layer in m["layers"]} == {"engine"} and m["engine"]["format"] == "sparse"
    assert not any(name.endswith("/values") and not name.startswith("engine/") for name in m["arrays"])
    assert m["stored_bytes"] == art.engine.nbytes == sum(layer["bytes"] for layer in m["layers"])
    indptr = art.arrays["engine/indptr"]
    for layer in m["layers"]:
        if layer["name"].endswith("/kernel"):
            row = art.engine.layer(layer["name"].rsplit("/", 1)[0])
            ptr = indptr[row["ptr_off"] : row["ptr_off"] + row["c_out"] + 1]
            assert indptr.dtype.kind == "u" and np.all(np.diff(ptr.astype(int)) >= 0)
            assert int(ptr[-1]) == row["nnz"] == layer["nnz"]


def test_export_signs_with_the_default_or_a_given_key_or_writes_unsigned(nsl_run, tmp_path, capsys):
    from ltcn_jax.signing import default_signer, generate_key
    from ltcn_kernels.cli import main

    assert main(["export", str(nsl_run), "--out", str(tmp_path / "d.ltcn")]) == 0
    mine = default_signer()  # this test session's key (conftest's LTCN_CONFIG_DIR)
    assert f"(csr, signed by {mine.key_id})" in capsys.readouterr().out
    assert read_artifact(tmp_path / "d.ltcn").signer == mine.public_key
    site = generate_key(tmp_path / "site.pem", trust=False)
    assert main(["export", str(nsl_run), "--out", str(tmp_path / "s.ltcn"), "--signing-key",
                 str(tmp_path / "site.pem")]) == 0
    assert read_artifact(tmp_path / "s.ltcn").signer == site.public_key
    assert main(["export", str(nsl_run), "--out", str(tmp_path / "u.ltcn"), "--unsigned"]) == 0
    assert "(csr, UNSIGNED)" in capsys.readouterr().out and read_artifact(tmp_path / "u.ltcn").signer is None
    assert main(["export", str(nsl_run), "--out", str(tmp_path / "x.ltcn"), "--signing-key",
                 str(tmp_path / "nope.pem")]) == 2
    assert "nope.pem: cannot read the signing key" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["nsl", "bot"])
def test_backends_agree_on_every_row(which, nsl_run, bot_run, tmp_path):
    run, files = (nsl_run, [NSL_TEST]) if which == "nsl" else (bot_run, [BOT_ENTIRE])
    export_run(run, tmp_path / "m.ltcn")
    art, _ = load_model(tmp_path / "m.ltcn")
    sparse = classify_files(art, files, backend="sparse")
    dense = classify_files(art, files, backend="dense")
    ref = classify_files(art, files, proba=flax_proba(art))
    np.testing.assert_allclose(sparse.probs, ref.probs, atol=1e-5)
    np.testing.assert_allclose(dense.probs, ref.probs, atol=1e-5)
    np.testing.assert_array_equal(sparse.predicted, ref.predicted)
    np.testing.assert_array_equal(dense.predicted, ref.predicted)


def test_engine_metrics_match_the_training_run(nsl_run, tmp_path):
    export_run(nsl_run, tmp_path / "m.ltcn")
    proc = subprocess.run(
        [sys.executable, "-m", "ltcn_kernels.cli", "evaluate", "--model", str(tmp_path / "m.ltcn"),
         str(NSL_TEST), "--json"], capture_output=True, text=True, check=True,
    )
    engine = json.loads(proc.stdout)
    trained = json.loads((nsl_run / "metrics.json").read_text())["test"]
    # The training run evaluated the same KDDTest+ fixture rows (after duplicate removal, which
    # drops nothing in NSL-KDD) with the Flax model: the engine must reproduce it.
    assert engine["n"] == trained["n"]
    assert engine["accuracy"] == pytest.approx(trained["accuracy"], abs=1e-9)
    assert engine["f1_macro"] == pytest.approx(trained["f1_macro"], abs=1e-9)


def test_predict_cli_writes_one_row_per_flow(bot_run, tmp_path):
    model = tmp_path / "m.ltcn"
    export_run(bot_run, model)
    out = tmp_path / "pred.csv"
    subprocess.run(
        [sys.executable, "-m", "ltcn_kernels.cli", "predict", "--model", str(model), str(BOT_ENTIRE),
         "--out", str(out)], check=True, capture_output=True,
    )
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == BOT_ENTIRE.read_bytes().count(b"\n") - 1
    assert {"row", "label", "predicted", "p_Normal", "p_DDoS"} <= set(rows[0])
    assert {r["label"] for r in rows} == {"Normal", "DDoS"}
    total = np.array([[float(r["p_Normal"]), float(r["p_DDoS"])] for r in rows]).sum(axis=1)
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_predict_and_evaluate_say_what_they_skipped(bot_run, tmp_path):
    model = tmp_path / "m.ltcn"
    export_run(bot_run, model)
    lines = BOT_ENTIRE.read_text().splitlines()
    pkts = lines[0].split(",").index("pkts")
    bad = {3: "", 5: "nan", 7: "inf"}
    rows = []
    for i, line in enumerate(lines[1:]):
        fields = line.split(",")
        if i in bad:
            fields[pkts] = bad[i]
        rows.append(",".join(fields if i != 9 else fields[:5]))
    path = tmp_path / "drops.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    n = len(rows)
    want = (f"{n:,} records read, {n - 4:,} classified, 4 skipped (2 NaN or empty feature, "
            "1 bad line: too few fields, 1 infinite feature)")
    cli = [sys.executable, "-m", "ltcn_kernels.cli"]
    out = subprocess.run([*cli, "predict", "--model", str(model), str(path), "--out",
                          str(tmp_path / "p.csv"), "--skip-bad-lines"], check=True,
                         capture_output=True, text=True).stdout
    assert want in out.splitlines()
    assert len(list(csv.DictReader((tmp_path / "p.csv").open()))) == n - 4
    out = subprocess.run([*cli, "evaluate", "--model", str(model), str(path), "--skip-bad-lines",
                          "--json"], check=True, capture_output=True, text=True).stdout
    records = json.loads(out)["records"]
    assert records == {"read": n, "classified": n - 4, "skipped": 4, "skipped_by_reason": {
        "NaN or empty feature": 2, "bad line: too few fields": 1, "infinite feature": 1}}


@pytest.mark.parametrize("signed, caught_by", [(True, "the signature"), (False, "checksum mismatch")])
def test_tampered_model_is_refused_cleanly(bot_run, tmp_path, signed, caught_by):
    model = tmp_path / "m.ltcn"
    export_run(bot_run, model, **({} if signed else {"signer": None}))
    raw = bytearray(model.read_bytes())
    manifest = read_artifact(model).manifest
    (length,) = struct.unpack("<Q", raw[8:16])
    data_start = 16 + length + (-(16 + length)) % 64
    raw[data_start + manifest["arrays"]["engine/values"]["offset"] + 1] ^= 0xFF  # one weight byte
    model.write_bytes(bytes(raw))
    proc = subprocess.run(
        [sys.executable, "-m", "ltcn_kernels.cli", "predict", "--model", str(model), str(BOT_ENTIRE),
         "--out", str(tmp_path / "p.csv")], capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2 and caught_by in proc.stderr and "Traceback" not in proc.stderr


def test_a_header_only_file_is_one_error_naming_it(bot_run, tmp_path):
    model = tmp_path / "m.ltcn"
    export_run(bot_run, model)
    path = tmp_path / "empty.csv"
    path.write_text(BOT_ENTIRE.read_text().splitlines()[0] + "\n")
    for command in (["predict", "--out", str(tmp_path / "p.csv")], ["evaluate"]):
        proc = subprocess.run([sys.executable, "-m", "ltcn_kernels.cli", command[0], "--model",
                               str(model), str(path), *command[1:]], capture_output=True,
                              text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip() == f"ltcn: error: {path}: no flow records to classify (a header only)"
