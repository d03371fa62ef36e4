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
    assert counts["traceback"] == counts["hang"] == counts["wrong count"] == 0, failures[:3]
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
