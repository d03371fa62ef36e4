"""What a set of flow files contains: format, rows kept and dropped, features, labels."""

from __future__ import annotations

import datetime as dt

import numpy as np

from .flows import FlowTable


def summarize(table: FlowTable) -> dict:
    """A JSON-serialisable summary of a table read by :func:`ltcn_kernels.read_flows`.

    Keys: ``format`` (dataset/layout), ``dataset``, ``files`` (path and layout each),
    ``rows`` (kept), ``rows_read``, ``dropped`` (reason -> rows), ``features`` (numeric),
    ``categorical`` (name -> distinct values), ``bucketed_ports``, ``excluded`` (identifier,
    time and dropped columns: never model features), ``negative_cells``, ``labels`` (raw label
    -> rows), ``groups`` (grouped label -> rows) and ``time_span`` where the files have time
    stamps.
    """
    layouts = sorted(set(table.layouts))
    summary = {
        "format": f"{table.dataset}/{'+'.join(layouts)}",
        "dataset": table.dataset,
        "files": [
            {"path": p, "layout": lay} for p, lay in zip(table.files, table.layouts, strict=True)
        ],
        "rows": len(table),
        "rows_read": table.rows_read,
        "dropped": dict(sorted(table.drops.items())),
        "features": list(table.feature_names),
        "categorical": {n: len(table.strings[n].counts()) for n in table.categorical_names},
        "bucketed_ports": list(table.port_names),
        "excluded": list(table.excluded),
        "negative_cells": table.negative_cells,
        "labels": dict(sorted(table.label.counts().items(), key=lambda kv: -kv[1])),
        "groups": dict(sorted(table.group.counts().items(), key=lambda kv: -kv[1])),
    }
    times = [n for n in table.order_by if n in table.aux_names]
    if times and len(table):
        t = table.aux_column(times[0])
        finite = t[np.isfinite(t)]
        if finite.size and times[0] in ("Timestamp", "stime"):
            summary["time_span"] = [_iso(finite.min()), _iso(finite.max())]
    return summary


def _iso(seconds: float) -> str:
    """ISO time of ``seconds``, or the number itself where no calendar date has it (a record's
    time stamp is the input's: 1e12 is year 33658, 1e20 overflows the conversion)."""
    try:
        return dt.datetime.fromtimestamp(float(seconds), dt.UTC).replace(tzinfo=None).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{float(seconds):g} s (out of the calendar's range)"


def format_summary(summary: dict) -> str:
    """The summary as the text ``ltcn data summary`` prints."""
    lines = [f"format      {summary['format']}"]
    for f in summary["files"]:
        lines.append(f"  file      {f['path']}  [{f['layout']}]")
    lines.append(f"rows read   {summary['rows_read']}")
    lines.append(f"rows kept   {summary['rows']}")
    for reason, n in summary["dropped"].items():
        lines.append(f"  dropped   {n:>9}  {reason}")
    lines.append(f"features    {len(summary['features'])} numeric")
    for name, n in summary["categorical"].items():
        lines.append(f"  one-hot   {name} ({n} values)")
    for name in summary["bucketed_ports"]:
        lines.append(f"  one-hot   {name} (well-known port buckets)")
    lines.append(f"negative    {summary['negative_cells']} cells (kept; Min-Max handles them)")
    excluded = ", ".join(summary["excluded"]) or "none"
    lines.append(f"excluded    {excluded}  (identifiers/time: metadata only)")
    if "time_span" in summary:
        lines.append(f"time span   {summary['time_span'][0]} .. {summary['time_span'][1]}")
    width = max((len(k) for k in summary["labels"]), default=5)
    lines.append("labels (raw)")
    for k, v in summary["labels"].items():
        lines.append(f"  {k:<{width}}  {v:>9}")
    lines.append("groups")
    for k, v in summary["groups"].items():
        lines.append(f"  {k:<{width}}  {v:>9}")
    return "\n".join(lines)
