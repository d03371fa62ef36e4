"""The datasets the edge reads: one registry entry per dataset, looked up by name.

In the style of jaxpruner's ``ALGORITHM_REGISTRY``: ``DATASETS`` maps each dataset's name to a
`Dataset` holding its published file layouts (:mod:`.schema`, in the order format detection
tries them), the normaliser of its label columns and its classes (:mod:`.labels`). Reading,
format detection, preprocessing, training and the command line's ``--dataset`` choices all
read this one table, so a new dataset is its layouts, its label normaliser and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import labels, schema


@dataclass(frozen=True)
class Dataset:
    """One entry of `DATASETS`.

    Attributes:
        name: the dataset's name (``--dataset``, ``DataConfig.dataset``, ``Layout.dataset``).
        layouts: its published file layouts.
        normalize: ``normalize(*values)`` maps one record's label column values (the layout's
            ``label_names``, in order) to ``(raw label, group)``; None for an unknown label.
        groups: the coarse classes a detector is trained on, in canonical order.
        normal: the benign group (its raw label is spelled the same).
    """

    name: str
    layouts: tuple[schema.Layout, ...]
    normalize: Callable[..., tuple[str, str] | None]
    groups: tuple[str, ...]
    normal: str


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("nsl-kdd", (schema.NSL_KDD, schema.NSL_KDD_42), labels.normalize_nsl_kdd,
            labels.NSL_KDD_GROUPS, "normal"),
    Dataset("cicids2017", (schema.CICIDS_MLCVE, schema.CICIDS_TRAFFIC, schema.CICIDS_IMPROVED),
            labels.normalize_cicids, labels.CICIDS_GROUPS, "BENIGN"),
    Dataset("bot-iot", (schema.BOT_IOT_ENTIRE, schema.BOT_IOT_10BEST), labels.normalize_bot_iot,
            labels.BOT_IOT_GROUPS, "Normal"),
)}

# Every dataset's layouts, in the order format detection tries them.
LAYOUTS: tuple[schema.Layout, ...] = tuple(layout for d in DATASETS.values() for layout in d.layouts)


def dataset(name: str) -> Dataset:
    """The registry entry of ``name``.

    Raises:
        ValueError: an unknown name (the message lists the options).
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}") from None
