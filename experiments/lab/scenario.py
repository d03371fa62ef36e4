"""Lab scenarios: small TOML files (``experiments/lab/scenarios/NAME.toml``, or any path) and the
seeded schedule they expand to.

A scenario names the network (``devices``, ``bots``), how often each device does each benign
activity (mean seconds between runs, a Poisson process per device and activity), and the
attacks (``[[attack]]``: kind, seconds, rate, repeat). :func:`schedule` places the attacks one
at a time, in a seeded shuffled order, in equal slots after a warm-up of benign traffic only,
so every flow that involves an attacker belongs to exactly one labelled window.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ltcn_kernels.errors import UsageError

from .topology import MAX_BOTS, MAX_DEVICES
from .traffic import ATTACKS, BENIGN

SCENARIO_DIR = Path(__file__).parent / "scenarios"
GRACE_S = 2.0  # after an attack's window: its last replies and time-outs, before the next one
_TOP_KEYS = {"description", "devices", "bots", "warmup", "benign", "attack"}
_ATTACK_KEYS = {"kind", "seconds", "rate", "repeat"}


@dataclass(frozen=True)
class Attack:
    kind: str
    seconds: int
    rate: float  # packets (or requests, connections, tasks) per second, the tool's own limit
    repeat: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    devices: int
    bots: int
    warmup: float
    benign: dict[str, float]  # activity -> mean seconds between runs on one device
    attacks: tuple[Attack, ...] = field(default=())
    text: str = ""  # the file as written (kept in the recording's manifest)


@dataclass(frozen=True)
class Event:
    """One scheduled attack: ``start`` seconds after the recording starts."""

    start: float
    seconds: int
    kind: str
    rate: float
    index: int  # 0-based, in time order


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a TOML file by path; :class:`UsageError` naming the file
    and the key for anything unknown or out of range."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise UsageError(f"unknown scenario {name_or_path!r}; expected a TOML file or one of "
                             f"{', '.join(scenario_names())}")
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None
    where = str(path)

    def bad(key: str, why: str) -> UsageError:
        return UsageError(f"{where}: {key}: {why}")

    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise bad(sorted(unknown)[0], f"unknown key; expected one of {', '.join(sorted(_TOP_KEYS))}")

    def number(table: dict, key: str, default, lo: float, hi: float, name: str | None = None):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise bad(name or key, f"expected a number in [{lo:g}, {hi:g}], not {value!r}")
        return value

    benign = raw.get("benign", {})
    if not isinstance(benign, dict):
        raise bad("benign", "expected a table of activity = mean seconds between runs")
    for key in benign:
        if key not in BENIGN:
            raise bad(f"benign.{key}", f"unknown activity; expected one of {', '.join(BENIGN)}")
        number(benign, key, None, 0.05, 86_400, f"benign.{key}")
    attacks = []
    if not isinstance(raw.get("attack", []), list):
        raise bad("attack", "expected [[attack]] tables")
    for i, a in enumerate(raw.get("attack", [])):
        name = f"attack[{i}]"
        if not isinstance(a, dict):
            raise bad(name, "expected a table (kind, seconds, rate, repeat)")
        unknown = set(a) - _ATTACK_KEYS
        if unknown:
            raise bad(f"{name}.{sorted(unknown)[0]}",
                      f"unknown key; expected one of {', '.join(sorted(_ATTACK_KEYS))}")
        if a.get("kind") not in ATTACKS:
            raise bad(f"{name}.kind", f"expected one of {', '.join(ATTACKS)}, not {a.get('kind')!r}")
        attacks.append(Attack(
            kind=a["kind"],
            seconds=int(number(a, "seconds", 5, 1, 600, f"{name}.seconds")),
            rate=float(number(a, "rate", 100, 1, 20_000, f"{name}.rate")),
            repeat=int(number(a, "repeat", 1, 1, 1000, f"{name}.repeat")),
        ))
    return Scenario(
        name=path.stem,
        description=str(raw.get("description", "")),
        devices=int(number(raw, "devices", 4, 1, MAX_DEVICES)),
        bots=int(number(raw, "bots", 3, 1, MAX_BOTS)),
        warmup=float(number(raw, "warmup", 5, 0, 3600)),
        benign={k: float(v) for k, v in benign.items()},
        attacks=tuple(attacks),
        text=text,
    )


def schedule(scenario: Scenario, seconds: float, rng: np.random.Generator) -> list[Event]:
    """The attacks in time order: one per equal slot after the warm-up, each starting at its
    slot's beginning and ending ``GRACE_S`` or more before the next slot.

    Raises:
        UsageError: the attacks do not fit in ``seconds``.
    """
    runs = [a for a in scenario.attacks for _ in range(a.repeat)]
    if not runs:
        return []
    order = rng.permutation(len(runs))
    slot = (seconds - scenario.warmup) / len(runs)
    longest = max(a.seconds for a in runs)
    if slot < longest + GRACE_S:
        need = scenario.warmup + len(runs) * (longest + GRACE_S)
        raise UsageError(f"scenario {scenario.name}: {len(runs)} attacks of up to {longest} s "
                         f"need --seconds >= {need:.0f}, not {seconds:g}")
    return [
        Event(start=scenario.warmup + i * slot, seconds=runs[j].seconds, kind=runs[j].kind,
              rate=runs[j].rate, index=i)
        for i, j in enumerate(order)
    ]


def benign_times(scenario: Scenario, seconds: float, rng: np.random.Generator):
    """``(time, device index, activity)`` of every benign run, in time order: a Poisson
    process per device and activity with the scenario's mean interval."""
    out = []
    for activity, mean in scenario.benign.items():
        for dev in range(scenario.devices):
            t = float(rng.exponential(mean))
            while t < seconds:
                out.append((t, dev, activity))
                t += float(rng.exponential(mean))
    out.sort()
    return out
