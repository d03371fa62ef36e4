"""Model input sequences: causal windows of consecutive flows, or one record as a sequence.

Both return ``(n, time, channels)`` views without copying the flows W times.
"""

from __future__ import annotations

import numpy as np

SEQUENCE_MODES = ("flows", "features")


def causal_windows(x: np.ndarray, length: int) -> np.ndarray:
    """Window ``i`` holds flows ``i-length+1 .. i`` (the last one is the flow it classifies).

    The first ``length-1`` windows are left-padded with zero FLOWS. That is not the same as a
    causal convolution's own zero padding of each layer (a zero flow passes through the layers'
    biases and becomes non-zero activations), so a stream started from zeroed layer state
    differs on its first ``length-1`` flows; the gateway primes its stream with ``length-1``
    zero flows to reproduce these windows exactly.

    Args:
        x: ``(n, features)`` flows of one contiguous segment in capture order. Windows never
            reach outside ``x``, so pass each split separately to keep them from crossing it.
        length: flows per window (1 = per-flow mode).

    Returns:
        A read-only ``(n, length, features)`` view.
    """
    if length < 1:
        raise ValueError(f"window length must be >= 1, got {length}")
    if x.ndim != 2:
        raise ValueError(f"expected (flows, features), got shape {x.shape}")
    padded = np.concatenate([np.zeros((length - 1, x.shape[1]), x.dtype), x]) if length > 1 else x
    view = np.lib.stride_tricks.sliding_window_view(padded, length, axis=0)
    return view.transpose(0, 2, 1)  # (n, length, features)


def feature_sequence(x: np.ndarray) -> np.ndarray:
    """One record's feature vector as a 1-channel sequence ``(n, features, 1)``.

    For data without a meaningful record order (NSL-KDD), the convolution runs along the
    feature axis instead of along time.
    """
    if x.ndim != 2:
        raise ValueError(f"expected (records, features), got shape {x.shape}")
    return x[:, :, None]


def make_sequences(x: np.ndarray, mode: str, window: int = 1) -> np.ndarray:
    """``causal_windows`` (mode ``flows``) or ``feature_sequence`` (mode ``features``)."""
    if mode == "flows":
        return causal_windows(x, window)
    if mode == "features":
        return feature_sequence(x)
    raise ValueError(f"unknown sequence mode {mode!r}; expected one of {', '.join(SEQUENCE_MODES)}")
