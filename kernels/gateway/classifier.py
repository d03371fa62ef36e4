"""The gateway's classifier: per-flow class probabilities with state carried across
micro-batches, so that streamed results equal the batch tools' over the whole stream."""

from __future__ import annotations

import numpy as np

from ..engine import Stream, predict_proba_windows
from ..engine.artifact import engine_model
from ..features.windows import causal_windows
from .options import GatewayError

MODES = ("stream", "windows", "records")


class Classifier:
    """Per-flow probabilities with state carried across micro-batches.

    ``stream``: the stateful :class:`~ltcn_kernels.engine.Stream` (exact when the model's
    receptive field fits in its training window); ``windows``: the last ``window-1``
    preprocessed flows are kept and each flow's causal window is classified, exactly as the
    batch tools do; ``records``: each record on its own (feature-sequence models).

    Args:
        artifact: a loaded model (:func:`ltcn_kernels.engine.predict.load_model`).
        backend: ``sparse`` or ``dense`` Numba engine.
        mode: ``auto`` (``stream`` where exact, else ``windows``; ``records`` for
            feature-sequence models, whatever is asked) or one of :data:`MODES`.

    Calling it with ``(n, features)`` preprocessed flows, in capture order, returns their
    ``(n, classes)`` float32 probabilities.
    """

    def __init__(self, artifact, backend: str = "sparse", mode: str = "auto"):
        arch = artifact.manifest["architecture"]
        self.engine = engine_model(artifact, backend)  # the stored format: the mapped arrays
        self.window = int(arch.get("window", 1))
        rf = int(arch.get("receptive_field", self.engine.receptive_field))
        if arch["sequence"] != "flows":
            mode = "records"
        elif mode == "auto":
            mode = "stream" if rf <= self.window else "windows"
        if mode not in MODES:
            raise GatewayError(f"unknown engine mode {mode!r}")
        self.mode = mode
        self._proba = predict_proba_windows
        self.stream = None
        if mode == "stream":
            self.stream = Stream(self.engine, output="proba")
            # The model was trained on windows left-padded with zero FLOWS: their activations
            # (bias terms) are in every early window, so prime the history with them too.
            if self.window > 1:
                self.stream.push(np.zeros((self.window - 1, self.engine.n_features), np.float32))
        self.history: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if x.shape[0] == 0:
            return np.zeros((0, self.engine.n_classes), np.float32)
        if self.mode == "stream":
            return self.stream.push(x)
        if self.mode == "records":
            return self._proba(self.engine, np.ascontiguousarray(x[:, :, None]))
        w = self.window
        if self.history is None:  # the zero flows the batch tools pad the first windows with
            self.history = np.zeros((w - 1, x.shape[1]), np.float32)
        full = np.concatenate([self.history, x])
        # The windows of the new flows: those after the w-1 flows of history.
        seqs = causal_windows(full, w)[w - 1 :]
        out = self._proba(self.engine, np.ascontiguousarray(seqs))
        self.history = full[full.shape[0] - (w - 1) :].copy()
        return out
