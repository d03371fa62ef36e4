"""A fixed-seed slice of the fuzz run (``experiments/fuzz_reliability.py``; the 10,000-case run
per target is in ``results/reliability/``): every reader format, the model file and the
gateway's line stream parse or give one clear error, and line-level damage is counted
exactly."""

from __future__ import annotations

import fuzz_reliability as fuzz
import pytest


@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_fuzz_slice_has_no_traceback_hang_or_wrong_count(target, bot_window_model, tmp_path):
    counts, failures = fuzz.run_target(target, 60, 20.0, bot_window_model, tmp_path)
    assert sum(counts.values()) == 60
    assert counts["traceback"] == counts["hang"] == counts["wrong count"] == counts["forged"] == 0, failures[:3]
    assert counts["ok"] > 0 and counts["clear"] > 0  # both kinds of case were made


def test_the_fuzz_finds_a_gzip_error_that_escapes(monkeypatch, tmp_path):
    """The harness is not vacuous: with damaged gzip raising zlib's own errors again (the bug
    before CheckedGzip), the same slice finds tracebacks."""
    import gzip

    from ltcn_kernels.io import inputs

    for name in ("read", "read1", "readinto", "readline", "peek", "seek"):
        monkeypatch.setattr(inputs.CheckedGzip, name, getattr(gzip.GzipFile, name))
    counts, failures = fuzz.run_target("reader:bot-iot", 200, 20.0, None, tmp_path)
    assert counts["traceback"] > 0
    assert any("EOFError" in f or "zlib" in f or "BadGzipFile" in f for f in failures)


def test_a_rehashed_manifest_with_nan_is_a_clear_error(bot_window_model, tmp_path):
    """Found by the 10,000-case run: a manifest edited to hold NaN (Python's json reads it)
    with all checksums recomputed crashed the preprocessing checksum (allow_nan=False)."""
    data = bot_window_model.read_bytes()
    for value in (float("nan"), float("inf")):
        for keys in (["preprocess", "features"], ["preprocess", "clip"], ["architecture", "window"]):
            case = fuzz.rehash(data, (keys, value))
            assert fuzz.check_artifact(case, 20.0, failures := [], tmp_path) == "clear", failures


def test_the_fuzz_calls_a_forgery_forged(monkeypatch, bot_window_model, tmp_path):
    """The ``forged`` outcome is not vacuous: a signed file whose signature bytes were changed
    is a clear error, and with a verifier that accepts any signature it would load as signed,
    which the harness reports as ``forged``."""
    from ltcn_jax.signing import generate_key
    from ltcn_kernels.engine import signature

    key = generate_key(tmp_path / "k.pem", trust=False)
    original = fuzz.signed(fuzz.unsigned(bot_window_model.read_bytes()), key)
    changed = bytearray(original)
    changed[-1] ^= 1  # the signature's last byte
    case = (bytes(changed), tmp_path, (original, key.public_key))
    assert fuzz.check_artifact(case[0], 20.0, [], case[1], case[2]) == "clear"
    monkeypatch.setattr(signature, "verify", lambda k, message, sig: True)
    assert fuzz.check_artifact(case[0], 20.0, failures := [], case[1], case[2]) == "forged"
    assert "still loaded as signed" in failures[0]
    assert fuzz.check_artifact(original, 20.0, [], case[1], case[2]) == "ok"  # unchanged: fine
