"""Where each column of each input goes in the readers' combined output arrays.

A :class:`Plan` joins the detected layouts of all inputs of one read (they must be of one
dataset and share its canonical features); :func:`column_tables` turns one layout into the
per-column tables (kind, destination, slot, duplicate-hash flag) the parse kernel takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError
from . import _csv, schema
from .detection import Detected


@dataclass
class Plan:
    """Where each column of each file goes in the combined output arrays."""

    dataset: str
    feature_names: tuple[str, ...]
    aux_names: list[str]
    string_names: list[str]
    categorical_names: tuple[str, ...]
    port_names: tuple[str, ...]
    label_names: tuple[str, ...]
    order_by: tuple[str, ...]
    excluded: tuple[str, ...]


def make_plan(detected: list[Detected], paths: list[str]) -> Plan:
    first = detected[0].layout
    aux_names: list[str] = []
    string_names: list[str] = []
    excluded: list[str] = []
    for d, p in zip(detected, paths, strict=True):
        lay = d.layout
        if lay.dataset != first.dataset:
            raise DataFormatError(
                p, 0, 0, f"{lay.dataset} file mixed with {first.dataset} files; read them apart"
            )
        if lay.feature_names != first.feature_names or lay.label_names != first.label_names:
            raise DataFormatError(
                p,
                0,
                0,
                f"layout {lay.name} has other features than {first.name}; "
                "files of both cannot form one table",
            )
        for c in lay.columns:
            if c.role in (schema.PORT, schema.TIME, schema.META) and c.name not in aux_names:
                aux_names.append(c.name)
            if c.role in (schema.CATEGORY, schema.LABEL, schema.META_TEXT):
                if c.name not in string_names:
                    string_names.append(c.name)
        excluded.extend(x for x in lay.excluded if x not in excluded)
    order_by = tuple(dict.fromkeys(n for d in detected for n in d.layout.order_by))
    return Plan(
        dataset=first.dataset,
        feature_names=first.feature_names,
        aux_names=aux_names,
        string_names=string_names,
        categorical_names=first.categorical_names,
        port_names=first.bucketed_ports,
        label_names=first.label_names,
        order_by=order_by,
        excluded=tuple(excluded),
    )


def column_tables(layout: schema.Layout, plan: Plan):
    n = len(layout.columns)
    kinds = np.zeros(n, np.int64)
    dests = np.zeros(n, np.int64)
    slots = np.zeros(n, np.int64)
    dedup = np.zeros(n, np.int64)
    features = {name: i for i, name in enumerate(plan.feature_names)}
    # fmt: off
    for j, c in enumerate(layout.columns):
        if c.role == schema.FEATURE:
            kinds[j], dests[j], slots[j], dedup[j] = _csv.KIND_NUMBER, _csv.DEST_FEATURE, features[c.name], 1
        elif c.role in (schema.CATEGORY, schema.LABEL):
            kinds[j], dests[j], slots[j], dedup[j] = _csv.KIND_STRING, _csv.DEST_STRING, plan.string_names.index(c.name), 1
        elif c.role == schema.META_TEXT:
            kinds[j], dests[j], slots[j] = _csv.KIND_STRING, _csv.DEST_STRING, plan.string_names.index(c.name)
        elif c.role == schema.PORT:
            kinds[j], dests[j], slots[j] = _csv.KIND_PORT, _csv.DEST_AUX, plan.aux_names.index(c.name)
            dedup[j] = 1 if c.bucket else 0
        elif c.role == schema.TIME:
            kinds[j], dests[j], slots[j] = _csv.KIND_TIME, _csv.DEST_AUX, plan.aux_names.index(c.name)
        elif c.role == schema.META:
            kinds[j], dests[j], slots[j] = _csv.KIND_NUMBER, _csv.DEST_AUX, plan.aux_names.index(c.name)
    # fmt: on
    return kinds, dests, slots, dedup
