"""Sparsity schedules: frozen dataclasses ``schedule(step_or_round) -> sparsity``.

`make_schedule` builds one by name (an unknown name raises a ``ValueError`` listing the
options); `round_sparsities` gives the per-round targets of `prune_and_finetune`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclasses.dataclass(frozen=True)
class OneShot:
    """Target sparsity at once: ``0`` before ``begin_step``, ``target`` from it on."""

    target: float
    begin_step: int = 0
    name: ClassVar[str] = "one-shot"

    def __post_init__(self) -> None:
        _check_fraction("target", self.target)

    def __call__(self, step: int) -> float:
        return float(self.target) if step >= self.begin_step else 0.0


@dataclasses.dataclass(frozen=True)
class Iterative:
    """The source paper's loop: prune a step, fine-tune, repeat, in equal increments.

    Sparsity after round ``r`` (1-based) is ``target * r / rounds``; round 0 (before any
    pruning) is 0; rounds past ``rounds`` stay at ``target``.
    """

    target: float
    rounds: int
    name: ClassVar[str] = "iterative"

    def __post_init__(self) -> None:
        _check_fraction("target", self.target)
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")

    def __call__(self, round_: int) -> float:
        r = min(max(int(round_), 0), self.rounds)
        return float(self.target) * r / self.rounds


@dataclasses.dataclass(frozen=True)
class Polynomial:
    """Gradual pruning of Zhu & Gupta (2017), "To prune, or not to prune".

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3`` for ``t`` in
    ``[t0, t0 + n * dt]`` with ``t0 = begin_step``, ``n * dt = end_step - begin_step``,
    ``dt = frequency``: ``s_i`` before ``begin_step``, ``s_f`` after ``end_step``. The masks
    are updated only every ``frequency`` steps (at ``begin_step + j * frequency``, and at
    ``end_step`` so the final sparsity is always reached), so ``s_t`` is the value at the
    last update point ``<= t``.
    """

    final_sparsity: float
    end_step: int
    initial_sparsity: float = 0.0
    begin_step: int = 0
    frequency: int = 1
    name: ClassVar[str] = "polynomial"

    def __post_init__(self) -> None:
        _check_fraction("initial_sparsity", self.initial_sparsity)
        _check_fraction("final_sparsity", self.final_sparsity)
        if self.end_step <= self.begin_step:
            raise ValueError(f"end_step ({self.end_step}) must be > begin_step ({self.begin_step})")
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1, got {self.frequency}")

    def __call__(self, step: int) -> float:
        t = min(max(int(step), self.begin_step), self.end_step)
        if t < self.end_step:
            t = self.begin_step + (t - self.begin_step) // self.frequency * self.frequency
        frac = 1.0 - (t - self.begin_step) / (self.end_step - self.begin_step)
        s_i, s_f = float(self.initial_sparsity), float(self.final_sparsity)
        return s_f + (s_i - s_f) * frac**3


Schedule = OneShot | Iterative | Polynomial
SCHEDULES: dict[str, type] = {cls.name: cls for cls in (OneShot, Iterative, Polynomial)}


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build a schedule by name (``"one-shot"``, ``"iterative"``, ``"polynomial"``).

    Args:
        name: registry name.
        **kwargs: the schedule's fields (see `OneShot`, `Iterative`, `Polynomial`).

    Returns:
        The frozen schedule object.

    Raises:
        ValueError: unknown name (the message lists the options).
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown pruning schedule {name!r}; options: {sorted(SCHEDULES)}")
    return SCHEDULES[name](**kwargs)


def round_sparsities(schedule: str | Schedule, target: float, rounds: int) -> list[float]:
    """Sparsity of each pruning round ``1..rounds`` used by `prune_and_finetune`.

    A name builds the schedule at ROUND granularity: ``one-shot`` -> ``[target]`` (one round,
    ``rounds`` ignored); ``iterative`` -> ``target * r / rounds``; ``polynomial`` -> Zhu &
    Gupta with ``begin_step=0``, ``end_step=rounds``, ``frequency=1`` evaluated at ``r`` (the
    cubic curve sampled at the end of each fine-tuning round; masks do not change inside a
    round). A schedule object is called with ``r = 1..rounds`` as is.
    """
    if isinstance(schedule, str):
        if schedule == "one-shot":
            return [float(target)]
        if schedule == "iterative":
            schedule = make_schedule("iterative", target=target, rounds=rounds)
        elif schedule == "polynomial":
            schedule = make_schedule("polynomial", final_sparsity=target, end_step=rounds)
        else:
            make_schedule(schedule)  # raises the ValueError listing the options
    return [float(schedule(r)) for r in range(1, rounds + 1)]
