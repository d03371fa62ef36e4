"""The per-host inter-arrival input: seconds since the same stream's previous flow started.

A window of one host's flows says what the flows were, not how fast they came: sixteen HTTP
requests of a home server polling its devices' web pages and sixteen of an HTTP flood look
alike flow by flow, and differ by a factor of five in how close together they start
(``results/lab/context.md``). The gap to the stream's previous flow is that rate, one flow at a
time, and a flow meter gives it for free (every record has its start time).

One definition serves training (:func:`add_stream_gaps` over a whole table) and the gateway
(the same function over each micro-batch, with the previous start of every host carried in
``previous``), so a streamed gap equals the batch one.
"""

from __future__ import annotations

import numpy as np

from ..io.table import FlowTable
from ..spec import GAP_FEATURE  # the model spec owns the name (a model file lists it)

# A stream's first flow, one after a longer pause, or one without a start time: "idle".
IDLE_GAP = 600.0


def stream_gaps(times: np.ndarray, keys: np.ndarray, previous: dict | None = None) -> np.ndarray:
    """Seconds from the start of the previous flow of the same key to the start of each flow,
    flows in the given order, in ``[0, IDLE_GAP]`` (a flow that started before its stream's
    previous one, as live status records may, has gap 0).

    Args:
        times: ``(n,)`` start times in seconds (NaN: unknown, gives ``IDLE_GAP``).
        keys: ``(n,)`` one stream key a flow (any type ``np.unique`` sorts).
        previous: key -> start time of that stream's last flow so far, read for each key's
            first flow here and updated in place with each key's last flow here (the
            gateway's state across micro-batches); None: every stream starts here.

    Returns:
        ``(n,)`` float64 gaps.
    """
    times = np.asarray(times, np.float64)
    keys = np.asarray(keys)
    n = times.shape[0]
    if keys.shape != (n,):
        raise ValueError(f"expected one key a flow, got {keys.shape} for {n} flows")
    gaps = np.full(n, IDLE_GAP)
    if n == 0:
        return gaps
    unique, group = np.unique(keys, return_inverse=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")  # each key's flows together, in the given order
    g, t = group[order], times[order]
    first = np.r_[True, g[1:] != g[:-1]]
    delta = np.empty(n)
    delta[1:] = t[1:] - t[:-1]
    if previous is None:
        delta[first] = np.nan
    else:
        firsts = unique[g[first]].tolist()
        delta[first] = t[first] - np.array([previous.get(k, np.nan) for k in firsts], np.float64)
        last = np.r_[first[1:], True]
        previous.update(zip(unique[g[last]].tolist(), t[last].tolist(), strict=True))
    with np.errstate(invalid="ignore"):
        gaps[order] = np.where(np.isnan(delta), IDLE_GAP, np.clip(delta, 0.0, IDLE_GAP))
    return gaps


def add_stream_gaps(table: FlowTable, order: np.ndarray, keys: np.ndarray,
                    previous: dict | None = None) -> FlowTable:
    """``table`` with the :data:`GAP_FEATURE` column: the gap of each flow to its stream's
    previous flow, streams ``keys`` (one a row of ``order``), flows taken in ``order`` (capture
    order, as the windows are built).

    Raises:
        ValueError: the table has no start-time column.
    """
    times = table.start_times()
    if times is None:
        raise ValueError(f"the {table.dataset} records have no start time, which the "
                         f"{GAP_FEATURE!r} input needs")
    order = np.asarray(order)
    column = np.full(len(table), IDLE_GAP)
    column[order] = stream_gaps(times[order], keys, previous)
    return table.with_feature(GAP_FEATURE, column)
