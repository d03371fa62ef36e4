"""The ``numpy`` benchmark runtime: a plain NumPy L-TCN forward (float32), im2col + ONE matmul
per layer, walking :attr:`ltcn_kernels.arch.LTCNArch.layers` like the engine does. A baseline
for the engine's speed (and a third opinion on its outputs), not engine code."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..arch import CONV, HEAD, IDENTITY, RESIDUAL, Layer, LTCNArch


class NumpyLTCN:
    """The L-TCN ``arch`` with flat Flax params ``flat``, as NumPy matmuls."""

    def __init__(self, flat: Mapping[str, np.ndarray], arch: LTCNArch):
        arch.check_params(flat)
        self.arch = arch
        # layer name -> (kernel as a (k * c_in, c_out) matrix, bias)
        self.weights = {
            layer.name: (
                np.ascontiguousarray(np.asarray(flat[layer.kernel_path], np.float32)
                                     .reshape(-1, layer.c_out)),
                np.asarray(flat[layer.bias_path], np.float32),
            )
            for layer in arch.layers
            if layer.role != IDENTITY
        }
        self.nbytes = int(sum(w.nbytes + b.nbytes for w, b in self.weights.values()))
        self.macs = arch.macs_per_step()  # dense: every weight, every step

    def _conv(self, h: np.ndarray, layer: Layer) -> np.ndarray:
        """Causal dilated conv + ReLU of ``h f32[n, T, c_in]``."""
        n, T, c = h.shape
        k, d, pad = layer.k, layer.dilation, layer.pad
        w, b = self.weights[layer.name]
        hp = np.zeros((n, pad + T, c), np.float32)
        hp[:, pad:] = h
        cols = np.empty((n, T, k * c), np.float32)
        for tap in range(k):
            cols[:, :, tap * c : (tap + 1) * c] = hp[:, tap * d : tap * d + T]
        out = cols.reshape(n * T, k * c) @ w
        out += b
        np.maximum(out, 0, out=out)
        return out.reshape(n, T, -1)

    def forward(self, x: np.ndarray, last_only: bool) -> np.ndarray:
        """``x f32[n, T, F]`` -> logits ``[n, classes]`` (last step) or ``[n, T, classes]``."""
        n, T, _ = x.shape
        h = block_in = x
        for layer in self.arch.layers:
            if layer.role == CONV:
                h = self._conv(h, layer)
            elif layer.role in (RESIDUAL, IDENTITY):
                r = block_in
                if layer.role == RESIDUAL:
                    w, b = self.weights[layer.name]
                    r = block_in.reshape(n * T, -1) @ w
                    r += b
                    r = r.reshape(n, T, -1)
                h = h + r
                np.maximum(h, 0, out=h)
                block_in = h
        hw, hb = self.weights[HEAD]
        if last_only:
            return h[:, -1] @ hw + hb
        return (h.reshape(n * T, -1) @ hw + hb).reshape(n, T, -1)
