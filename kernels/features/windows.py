"""Model input sequences: causal windows of consecutive flows, or one record as a sequence.

Both return ``(n, time, channels)`` views without copying the flows W times.
"""

from __future__ import annotations

import numpy as np

# The model spec owns these names (a model file carries them): one place.
from ..spec import SEQUENCES as SEQUENCE_MODES
from ..spec import STREAM_KEYS  # noqa: F401  (re-exported: the training side reads it here)


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


def stream_keys(table, key: str, rows: np.ndarray) -> np.ndarray:
    """The stream of each of ``rows`` of a flow table for ``key`` (one of :data:`STREAM_KEYS`,
    not ``""``), as int64: one stream per file and ``key`` value, so that no window mixes the
    flows of two captures.

    Raises:
        ValueError: the table has no such column.
    """
    if key not in table.strings:
        raise ValueError(f"stream_key {key!r}: the {table.dataset} records have no such column")
    codes = table.strings[key].codes[rows].astype(np.int64)
    return (table.file_index[rows].astype(np.int64) << 32) | codes


def keyed_window_index(keys: np.ndarray, length: int) -> np.ndarray:
    """Row ``i`` of the result lists the rows of window ``i`` when flows are windowed per key:
    the last ``length`` rows ``j <= i`` with ``keys[j] == keys[i]``, oldest first; ``n`` (one
    past the last row) stands for a zero flow where a key has fewer than ``length`` flows yet,
    as :func:`causal_windows` pads.

    Args:
        keys: ``(n,)`` one key per flow (any comparable dtype), flows in capture order.
        length: flows per window.

    Returns:
        An ``(n, length)`` int64 array.
    """
    keys = np.asarray(keys)
    n = keys.shape[0]
    if length < 1:
        raise ValueError(f"window length must be >= 1, got {length}")
    _, group = np.unique(keys, return_inverse=True)
    order = np.argsort(group, kind="stable")  # each key's rows together, in capture order
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    position = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))  # rank within key
    index = np.full((n, length), n, np.int64)
    for back in range(length):  # column length-1-back holds the flow `back` steps earlier
        ok = position >= back
        index[order[ok], length - 1 - back] = order[np.flatnonzero(ok) - back]
    return index


class KeyedWindows:
    """Per-key causal windows ``(n, length, features)``, gathered on indexing (never all at
    once), from :func:`keyed_window_index`."""

    def __init__(self, x: np.ndarray, keys: np.ndarray, length: int):
        if x.ndim != 2 or len(keys) != x.shape[0]:
            raise ValueError(f"expected (flows, features) and one key a flow, got {x.shape}, "
                             f"{len(keys)} keys")
        self._padded = np.concatenate([x, np.zeros((1, x.shape[1]), x.dtype)])
        self.index = keyed_window_index(keys, length)
        self.shape = (x.shape[0], length, x.shape[1])
        self.dtype = x.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        return self._padded[self.index[rows]]


def make_sequences(x: np.ndarray, mode: str, window: int = 1, keys: np.ndarray | None = None):
    """``causal_windows`` (mode ``flows``; per key with ``keys``, :class:`KeyedWindows`) or
    ``feature_sequence`` (mode ``features``)."""
    if mode == "flows":
        if keys is not None and window > 1:
            return KeyedWindows(x, keys, window)
        return causal_windows(x, window)
    if mode == "features":
        return feature_sequence(x)
    raise ValueError(f"unknown sequence mode {mode!r}; expected one of {', '.join(SEQUENCE_MODES)}")
