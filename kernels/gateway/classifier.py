"""The gateway's classifier: per-flow class probabilities with state carried across
micro-batches, so that streamed results equal the batch tools' over the whole stream."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..engine import Stream, predict_proba_windows
from ..engine.artifact import engine_model
from ..features.gaps import add_stream_gaps
from ..features.windows import causal_windows, keyed_window_index
from ..io.table import FlowTable
from .options import MAX_HOSTS, GatewayError

MODES = ("stream", "windows", "records", "hosts")


class Classifier:
    """Per-flow probabilities with state carried across micro-batches.

    ``stream``: the stateful :class:`~ltcn_kernels.engine.Stream` (exact when the model's
    receptive field fits in its training window); ``windows``: the last ``window-1``
    preprocessed flows are kept and each flow's causal window is classified, exactly as the
    batch tools do; ``records``: each record on its own (feature-sequence models);
    ``hosts`` (models trained with per-host windows, ``stream_key``): the last ``window-1``
    flows of each source address are kept, at most ``max_hosts`` of them (the least recently
    seen host is forgotten first and starts again from zero flows, counted in
    ``evicted``), and each flow's window is its own host's, exactly as the batch tools build
    them while no host is forgotten. For a model with the ``gap`` input
    (:mod:`~ltcn_kernels.features.gaps`), :meth:`add_gaps` keeps each host's last flow start
    under the same bound.

    Args:
        artifact: a loaded model's artifact (:func:`ltcn_kernels.pipeline.load_model`), whose
            spec (:class:`~ltcn_kernels.spec.ModelSpec`) says how flows are fed.
        backend: ``sparse`` or ``dense`` Numba engine.
        mode: ``auto`` (``stream`` where exact, else ``windows``; ``records`` for
            feature-sequence models, whatever is asked) or one of :data:`MODES`.

    Calling it with ``(n, features)`` preprocessed flows, in capture order (and, in ``hosts``
    mode, their ``(n,)`` source addresses), returns their ``(n, classes)`` float32
    probabilities.
    """

    def __init__(self, artifact, backend: str = "sparse", mode: str = "auto",
                 max_hosts: int = MAX_HOSTS):
        spec = artifact.spec
        if spec is None:
            raise GatewayError(f"{artifact.path}: the model does not say how flows are fed "
                               "(architecture sequence and window)")
        self.engine = engine_model(artifact, backend)  # the stored format: the mapped arrays
        self.window, self.stream_key = spec.window, spec.stream_key
        if not spec.flows:
            mode = "records"
        elif spec.per_host:
            mode = "hosts"  # the only mode that builds the windows the model was trained on
        elif mode == "auto":
            mode = "stream" if spec.stream_exact else "windows"
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
        self.max_hosts = int(max_hosts)
        self.hosts: OrderedDict[str, np.ndarray] = OrderedDict()
        self.evicted = 0
        self.uses_gap = spec.gap  # (the spec refuses a gap input without a stream_key)
        self.last_start: OrderedDict[str, float] = OrderedDict()  # host -> its last flow's start

    @property
    def host_state_bytes(self) -> int:
        """Bound on the per-host histories' memory: ``max_hosts`` x (window-1) x features x 4
        (plus one start time a host for the ``gap`` input)."""
        per_host = (self.window - 1) * self.engine.n_features * 4 + 8 * self.uses_gap
        return self.max_hosts * per_host

    def add_gaps(self, table: FlowTable, order: np.ndarray, keys: np.ndarray) -> FlowTable:
        """``table`` with the ``gap`` input, each host's gap carried across micro-batches (the
        batch tools' gaps over the whole stream, while no host is forgotten)."""
        keys = np.asarray(keys, dtype=object).astype(str)
        table = add_stream_gaps(table, order, keys, self.last_start)
        for h in dict.fromkeys(keys.tolist()):  # least recently seen first, as in ``hosts``
            self.last_start.move_to_end(h)
        while len(self.last_start) > self.max_hosts:
            self.last_start.popitem(last=False)
        return table

    def __call__(self, x: np.ndarray, keys=None) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if x.shape[0] == 0:
            return np.zeros((0, self.engine.n_classes), np.float32)
        if self.mode == "hosts":
            if keys is None or len(keys) != x.shape[0]:
                raise GatewayError("per-host windows need one source address per flow")
            return self._per_host(x, np.asarray(keys, dtype=object).astype(str))
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

    def _per_host(self, x: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Each flow's window over its own host's flows: the kept history of every host in
        the batch first, then the batch, windowed per host (:func:`keyed_window_index`)."""
        w, f = self.window, x.shape[1]
        hosts, inverse = np.unique(keys, return_inverse=True)
        zeros = np.zeros((w - 1, f), np.float32)
        history = np.stack([self.hosts.get(h, zeros) for h in hosts.tolist()])
        joined = np.concatenate([history.reshape(-1, f), x])
        n_hist = len(hosts) * (w - 1)
        key_of = np.concatenate([np.repeat(np.arange(len(hosts)), w - 1), inverse])
        # every host starts with w-1 rows of history, so no window of a new flow is short
        # and none reaches the index's padding row
        seqs = joined[keyed_window_index(key_of, w)[n_hist:]]
        out = self._proba(self.engine, np.ascontiguousarray(seqs))
        # the new history of each host: the last w-1 flows of the window of its last flow
        # (np.unique over the reversed keys: each host's first index there is its last here)
        _, first_reversed = np.unique(keys[::-1], return_index=True)
        last = len(keys) - 1 - first_reversed
        for h, row in zip(hosts.tolist(), last.tolist(), strict=True):
            self.hosts[h] = seqs[row, 1:].copy()
            self.hosts.move_to_end(h)
        while len(self.hosts) > self.max_hosts:
            self.hosts.popitem(last=False)
            self.evicted += 1
        return out
