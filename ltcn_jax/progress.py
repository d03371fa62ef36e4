"""How long work reports its progress: a tqdm bar on a terminal, one line per epoch otherwise.

``make demo`` and ``ltcn run`` train for minutes. On a terminal a bar shows the steps; when
standard error is a file or a pipe (CI, ``make demo > log``, a systemd unit) a bar prints
nothing useful, so each epoch prints one line instead: what is training, the epoch, its
loss and validation macro-F1, the time so far and an estimate of the time left.
"""

from __future__ import annotations

import sys
import time
from typing import Literal

Progress = bool | Literal["lines"]  # True: a bar; "lines": a line per epoch; False: silent
LINES = "lines"


def resolve(progress: Progress | None) -> Progress:
    """``None`` (the default) is a bar on a terminal and lines elsewhere."""
    if progress is None:
        return True if sys.stderr.isatty() else LINES
    if progress not in (True, False, LINES):
        raise ValueError(f"progress must be True, False, {LINES!r} or None, got {progress!r}")
    return progress


def duration(seconds: float) -> str:
    """``75.2`` -> ``1m15s``; under a minute ``42s``."""
    seconds = max(0, round(seconds))
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    if hours:
        return f"{hours}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class EpochLines:
    """One line per finished epoch on standard error (``progress="lines"``)."""

    def __init__(self, what: str, epochs: int, stream=None):
        self.what, self.epochs = what, epochs
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()

    def epoch_done(self, epoch: int, loss: float, val_f1: float) -> None:
        elapsed = time.perf_counter() - self.start
        remaining = self.epochs - epoch - 1
        # An upper bound: early stopping may end the training before its last epoch.
        left = f", at most {duration(elapsed / (epoch + 1) * remaining)} left" if remaining else ""
        print(f"{self.what}: epoch {epoch + 1}/{self.epochs}  loss {loss:.4f}  val macro-F1 "
              f"{val_f1:.4f}  {duration(elapsed)} elapsed{left}", file=self.stream, flush=True)
