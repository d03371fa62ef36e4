"""Progress on long work: a bar on a terminal, a line per epoch (with the time left) without."""

from __future__ import annotations

import io

import numpy as np
import pytest

from ltcn_jax.progress import LINES, EpochLines, duration, resolve


def test_resolve_is_a_bar_on_a_terminal_and_lines_elsewhere(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert resolve(None) is True
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert resolve(None) == LINES
    assert resolve(False) is False and resolve(LINES) == LINES
    with pytest.raises(ValueError, match="progress must be"):
        resolve("bar")


def test_durations():
    assert [duration(s) for s in (0, 42.4, 75.2, 3600 + 120)] == ["0s", "42s", "1m15s", "1h02m"]


def test_epoch_lines_say_epoch_metrics_elapsed_and_time_left():
    out = io.StringIO()
    lines = EpochLines("prune round 1/2 (to 60% sparse)", 4, stream=out)
    lines.start -= 10.0  # as if the first epoch took 10 s
    lines.epoch_done(0, 0.12345, 0.9)
    text = out.getvalue()
    assert text.startswith("prune round 1/2 (to 60% sparse): epoch 1/4  loss 0.1235  val macro-F1 0.9000")
    assert text.rstrip().endswith("10s elapsed, at most 30s left")
    lines.epoch_done(3, 0.1, 0.9)  # the last epoch: nothing left to estimate
    assert out.getvalue().splitlines()[-1].endswith("elapsed")


def test_fit_prints_one_line_per_epoch_without_a_terminal(capsys):
    from ltcn_jax.models import LTCN
    from ltcn_jax.train import fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4, 3)).astype(np.float32)
    y = rng.integers(0, 2, 64).astype(np.int32)
    fit(LTCN(channels=(4,), dilations=(1,), kernel_size=2, num_classes=2), x, y, x[:16], y[:16],
        num_classes=2, epochs=2, batch_size=32, patience=5, progress=LINES)
    err = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in err] == ["train: epoch 1/2", "train: epoch 2/2"]
