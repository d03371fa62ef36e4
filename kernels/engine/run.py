"""Running an :class:`~ltcn_kernels.engine.model.EngineModel`: independent windows, one long
causal sequence, and :class:`Stream` (flow by flow with ring-buffer histories).

Every call is ONE compiled Numba call (:mod:`ltcn_kernels.engine._kernels`,
:mod:`ltcn_kernels.engine._stream` for :class:`Stream`) that runs all blocks, residual paths,
ReLUs, the head and the softmax; nothing compiles at import.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

import numpy as np

from . import _kernels as _k
from . import _stream as _s
from .model import EngineModel

__all__ = [
    "Stream",
    "compile_times",
    "executed_macs_per_window",
    "logits_sequence",
    "logits_windows",
    "predict_proba_sequence",
    "predict_proba_windows",
    "warmup",
]

# Columns per group of windows (nb * (P + T)) and steps per sequence chunk: keeps the
# activations of one layer in L2.
WINDOW_GROUP_COLUMNS = 1024
SEQUENCE_CHUNK = 512

_FIRST_CALL: dict[str, float] = {}
COLD_COMPILE_NOTICE = (
    "ltcn: compiling the reader's and the engine's kernels for this CPU: once, about 1-2 min on "
    "one x86 core (longer on a Pi); later runs load them from Numba's cache (`ltcn warmup` does "
    "it ahead)"
)
_told_cold = False


def is_cold(kernel) -> bool:
    """Whether Numba's on-disk cache holds nothing yet for ``kernel`` (a ``cache=True``
    dispatcher), so its first call compiles instead of loading. False where that cannot be
    told (not a cached dispatcher): a missing notice is better than a wrong one."""
    try:
        return not os.path.exists(kernel._cache._cache_file._index_path)
    except AttributeError:
        return False


def announce_cold_compile(kernel=None) -> bool:
    """Say so on standard error, once per process, when ``kernel`` (default: the engine's
    windows kernel) has never been compiled into Numba's cache on this machine; whether it
    did. The command line calls it before a command that runs the engine, so the line comes
    before the minutes of compiling, not after the reader's part of them."""
    global _told_cold
    if _told_cold or not is_cold(_k.run_windows if kernel is None else kernel):
        return False
    print(COLD_COMPILE_NOTICE, file=sys.stderr, flush=True)
    _told_cold = True
    return True


def _timed(name: str, model: EngineModel, fn, *args):
    """Call a kernel; the first call per kernel signature records its wall time (compile or
    cache load + run) for :func:`compile_times`. Before a cold compile (1.5-2 minutes, silent
    otherwise) one line on standard error says so, once per process."""
    key = f"{name}[{model.indices.dtype},{model.indptr.dtype}]"
    if key in _FIRST_CALL:
        return fn(*args)
    announce_cold_compile()  # the main kernel decides: one uncached helper kernel takes seconds
    t0 = time.perf_counter()
    result = fn(*args)
    _FIRST_CALL[key] = time.perf_counter() - t0
    return result


def compile_times() -> dict[str, float]:
    """Seconds of the first call of each kernel signature in this process: Numba compile
    (or load from its on-disk cache) plus that call's run time."""
    return dict(_FIRST_CALL)


def _check_model(model: EngineModel) -> None:
    if not isinstance(model, EngineModel):
        raise ValueError(f"expected an EngineModel, got {type(model).__name__}")


def _as_input(model: EngineModel, x, ndim: int, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != ndim or x.shape[-1] != model.n_features:
        raise ValueError(
            f"expected {what} with {model.n_features} features, got shape {x.shape}"
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"expected a numeric array, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    # A read-only array is a different Numba type (one more compile): copy it instead.
    return x if x.flags.writeable else x.copy()


def _window_starts(model: EngineModel, T: int) -> np.ndarray:
    """First step each layer must produce so that the LAST step is exact (receptive field)."""
    meta = model.meta
    starts = np.zeros(meta.shape[0], np.int64)
    need = T - 1
    starts[-1] = need  # head
    r = meta.shape[0] - 2
    while r >= 0:
        starts[r] = need  # residual / identity row: block output from `need`
        r -= 1
        cur = need
        while r >= 0 and meta[r, _k.M_ROLE] == _k.ROLE_CONV:
            starts[r] = cur
            cur = max(0, cur - int(meta[r, _k.M_PAD]))
            r -= 1
            if meta[r + 1, _k.M_J] == 0:
                break
        need = cur
    return starts


def executed_macs_per_window(model: EngineModel, T: int) -> int:
    """Multiply-adds the engine performs per independent window of ``T`` steps: each layer
    computes only the steps the last step's receptive field needs (:func:`_window_starts`),
    with its stored weights, less those of taps that reach only the zero padding (shift >= T,
    as :func:`~ltcn_kernels.engine._kernels._layer` skips them)."""
    starts = _window_starts(model, T)
    total = 0
    for r, row in enumerate(model.meta):
        if row[_k.M_ROLE] == _k.ROLE_IDENTITY:
            continue
        c_in, k, d = int(row[_k.M_CIN]), int(row[_k.M_K]), int(row[_k.M_DIL])
        col_min = _k._first_column(k, d, c_in, T)
        lo, n = int(row[_k.M_VAL_OFF]), int(row[_k.M_NNZ])
        if model.dense:
            used = n - int(row[_k.M_COUT]) * col_min
        else:
            used = int(np.count_nonzero(model.indices[lo : lo + n] >= col_min))
        total += used * (T - int(starts[r]))
    return total


def _windows(model: EngineModel, x, softmax: bool, group_columns: int) -> np.ndarray:
    _check_model(model)
    x = _as_input(model, x, 3, "x of shape (n, time, features)")
    n, T, _ = x.shape
    out = np.zeros((n, model.n_classes), np.float32)
    if n == 0:
        return out
    if T < 1:
        raise ValueError("sequences need at least one time step")
    # Independent windows start from zeros, so a tap reaching further back than the window
    # reads only zeros and is skipped: no window needs more than T - 1 padding columns. For
    # per-flow models (T = 1) that is none, and a group of windows is one contiguous block of
    # flows (columns): each layer is then one sparse-matrix x block product.
    pad = min(model.pad_max, T - 1)
    nb = max(1, min(n, int(group_columns) // (pad + T)))
    _timed(
        "run_windows", model, _k.run_windows, *model._args(), x, _window_starts(model, T),
        pad, model.c_max, nb, softmax, out,
    )
    return out


def logits_windows(model: EngineModel, x, *, group_columns: int = WINDOW_GROUP_COLUMNS) -> np.ndarray:
    """Logits of the LAST step of each independent sequence: ``f32[n, T, F] -> f32[n, classes]``."""
    return _windows(model, x, False, group_columns)


def predict_proba_windows(
    model: EngineModel, x, *, group_columns: int = WINDOW_GROUP_COLUMNS
) -> np.ndarray:
    """Softmax of :func:`logits_windows`."""
    return _windows(model, x, True, group_columns)


def _sequence_buffer(model: EngineModel, chunk: int) -> np.ndarray:
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return np.zeros((3, model.c_max, model.pad_max + chunk + _k.SLACK), np.float32)


def _sequence(model, x, state, buf, softmax: bool) -> np.ndarray:
    out = np.zeros((x.shape[0], model.n_classes), np.float32)
    if x.shape[0]:
        _timed(
            "run_sequence", model, _k.run_sequence, *model._args(), x, state, buf,
            model.pad_max, softmax, out,
        )
    return out


def logits_sequence(model: EngineModel, x, *, chunk: int = SEQUENCE_CHUNK) -> np.ndarray:
    """Logits at EVERY step of one causal stream: ``f32[T, F] -> f32[T, classes]``
    (the Flax model with ``return_sequence=True`` applied to ``x[None]``)."""
    _check_model(model)
    x = _as_input(model, x, 2, "x of shape (time, features)")
    buf = _sequence_buffer(model, min(int(chunk), max(1, x.shape[0])))
    return _sequence(model, x, np.zeros(model.state_size, np.float32), buf, False)


def predict_proba_sequence(model: EngineModel, x, *, chunk: int = SEQUENCE_CHUNK) -> np.ndarray:
    """Softmax of :func:`logits_sequence`."""
    _check_model(model)
    x = _as_input(model, x, 2, "x of shape (time, features)")
    buf = _sequence_buffer(model, min(int(chunk), max(1, x.shape[0])))
    return _sequence(model, x, np.zeros(model.state_size, np.float32), buf, True)


class Stream:
    """Flow-by-flow inference with per-layer ring buffers (:mod:`~ltcn_kernels.engine._stream`).

    ``push`` takes one flow ``f32[F]`` (returns ``f32[classes]``) or a micro-batch
    ``f32[m, F]`` (returns ``f32[m, classes]``): PROBABILITIES by default, logits with
    ``output="logits"``. After any sequence of pushes the outputs equal
    :func:`logits_sequence` / :func:`predict_proba_sequence` over the concatenated flows to
    the bit (a fresh or ``reset()`` stream has zero history, i.e. the causal zero padding).
    Each push is one compiled call that runs the whole single-step network and allocates
    nothing but the returned array; the histories are rings (one slot written per conv and
    flow, nothing copied).
    """

    def __init__(self, model: EngineModel, *, output: str = "proba"):
        _check_model(model)
        if output not in ("proba", "logits"):
            raise ValueError(f"output must be 'proba' or 'logits', got {output!r}")
        self.model = model
        self.output = output
        self._ib, self._fb = _s.pack_stream(model, output == "proba")
        self._F = model.n_features
        self._classes = model.n_classes
        # The one-flow fast path: the compiled step and its state bound once.
        self._one = _s.stream_step
        self._many = _s.stream_steps
        self._args = (self._ib, self._fb)
        # Compile / load now, not on the first push; then back to the zero history.
        x = np.zeros((1, model.n_features), np.float32)
        _timed("stream_step", model, self._one, *self._args, x[0],
               np.empty(model.n_classes, np.float32))
        _timed("stream_steps", model, self._many, *self._args, x,
               np.empty((1, model.n_classes), np.float32))
        self.reset()

    @property
    def steps(self) -> int:
        """Flows pushed since the last reset."""
        return int(self._ib[_s.H_STEPS])

    def push(self, x) -> np.ndarray:
        if (
            type(x) is np.ndarray and x.ndim == 1 and x.dtype == np.float32
            and x.shape[0] == self._F and x.flags.c_contiguous and x.flags.writeable
        ):
            out = np.empty(self._classes, np.float32)
            self._one(*self._args, x, out)
            return out
        x = np.asarray(x)
        single = x.ndim == 1
        x = _as_input(self.model, x[None] if single else x, 2, "a flow (features,) or (m, features)")
        out = np.empty((x.shape[0], self._classes), np.float32)
        if x.shape[0]:
            self._many(*self._args, x, out)
        return out[0] if single else out

    def reset(self) -> None:
        _s.reset_stream(self._ib, self._fb)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of the stream state: ``{"state": f32[state_size], "steps": int64[()]}``;
        ``state`` is each conv's history oldest first (``c_in x pad``, the layout of
        ``EngineModel.state_size``), whatever the ring positions."""
        return {
            "state": _s.ring_to_state(self._ib, self._fb, self.model.state_size),
            "steps": np.array(self.steps, np.int64),
        }

    def restore(self, snapshot: Mapping[str, np.ndarray]) -> None:
        try:
            state = np.asarray(snapshot["state"])
            steps = int(np.asarray(snapshot["steps"]))
        except (KeyError, TypeError) as exc:
            raise ValueError("snapshot must be a dict with 'state' and 'steps'") from exc
        if state.shape != (self.model.state_size,):
            raise ValueError(
                f"snapshot state has shape {state.shape}, this model's stream needs "
                f"{(self.model.state_size,)}"
            )
        _s.state_to_ring(self._ib, self._fb, state.astype(np.float32))
        self._ib[_s.H_STEPS] = steps


def warmup(model: EngineModel | None = None) -> dict[str, float]:
    """Compile (or load from cache) the kernels for ``model``'s index dtypes by running each
    mode once on a tiny input; returns :func:`compile_times`."""
    if model is not None:
        x = np.zeros((2, 3, model.n_features), np.float32)
        logits_windows(model, x)
        logits_sequence(model, x[0])
    return compile_times()
