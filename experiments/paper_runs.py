"""The stored runs that ``paper_tables.py`` sets beside the paper: one metric of one run, seeded
or single-seed, read only from what is committed under ``results/``.

A seeded run (``results/seeds/<name>/``) is preferred; its folder's ``metrics.json`` holds the
headline metrics over the seeds, and any other metric (precision, recall) is aggregated here from
its ``seed_<n>/metrics.json`` with the same bootstrap interval. Else the single-seed run
(``results/<name>/``, seed 0) is used, and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ltcn_jax.seeds import mean_interval


@dataclass
class Stat:
    """One metric of one stored run, in %: the seeds' mean (and spread), or a single seed's value."""

    mean: float
    std: float | None = None
    lo: float | None = None
    hi: float | None = None
    seeds: int = 1

    def __str__(self) -> str:
        if self.seeds > 1:
            return f"{self.mean:.2f} ± {self.std:.2f} [{self.lo:.2f}, {self.hi:.2f}] ({self.seeds} seeds)"
        return f"{self.mean:.2f} (1 seed)"

    @classmethod
    def of(cls, agg: dict, scale: float = 100) -> Stat:
        """From a seeds aggregate (``mean``, ``std``, ``ci95``, ``n``)."""
        return cls(scale * agg["mean"], scale * agg["std"], scale * agg["ci95"][0], scale * agg["ci95"][1], agg["n"])


def _single(test: dict, key: str) -> float | None:
    """A metric of one run's ``test`` block (attack-vs-normal accuracy and ROC AUC sit under ``binary``)."""
    if key == "attack_vs_normal_accuracy":
        return (test.get("binary") or {}).get("accuracy")
    return test.get(key)


@dataclass
class Run:
    name: str
    metrics: dict
    command: str
    seeded: bool
    folder: Path | None = None

    def stat(self, key: str) -> Stat | None:
        t = self.metrics["test"]
        if not self.seeded:
            v = _single(t, key)
            return None if v is None else Stat(100 * v)
        s = t.get(key)
        if s is None and self.folder is not None:  # not in the aggregate: from each seed's run
            per_seed = sorted(self.folder.glob("seed_*/metrics.json"))
            values = [_single(json.loads(p.read_text())["test"], key) for p in per_seed]
            s = mean_interval(values) if per_seed else None
        if not s or s.get("mean") is None:
            return None
        return Stat.of(s)

    @property
    def n_test(self) -> int:
        return self.metrics["n_test"] if self.seeded else self.metrics["test"]["n"]

    def baseline(self, which: str, key: str) -> float | None:
        b = (self.metrics.get("baselines") or {}).get(which) or {}
        return None if b.get(key) is None else 100 * b[key]


def load_run(results: Path, name: str) -> Run | None:
    """The seeded run ``results/seeds/<name>`` if stored, else the single-seed ``results/<name>``."""
    for folder, seeded in ((results / "seeds" / name, True), (results / name, False)):
        path = folder / "metrics.json"
        if path.is_file():
            cmd = folder / "command.txt"
            return Run(name, json.loads(path.read_text()), cmd.read_text().strip() if cmd.is_file() else "",
                       seeded, folder)
    return None


def stored_json(results: Path, rel: str) -> dict | None:
    """A stored JSON file under ``results``, or None where it is not stored."""
    path = results / rel
    return json.loads(path.read_text()) if path.is_file() else None


def one_seed(results: Path, name: str, file: str = "metrics.json") -> dict | None:
    """A file of one seed's full run of ``name`` (the single-seed run, else seed 0 of the seeded
    one): what every seed shares, such as the data counts and the config."""
    return stored_json(results, f"{name}/{file}") or stored_json(results, f"seeds/{name}/seed_0/{file}")
