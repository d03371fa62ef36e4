"""Real power readings for the benchmark (``--power SOURCE``): sources, a sampler, energy.

Sources (:func:`open_source` parses the spec):

* ``rapl[:ZONE]`` -- Intel/AMD RAPL through the powercap sysfs class
  (``/sys/class/powercap/<zone>/energy_uj``, a cumulative microjoule counter that wraps at
  ``max_energy_range_uj``; Documentation/power/powercap/powercap.rst). Default: every
  top-level package zone (``intel-rapl:N``; its sub-zones are parts of it, not added).
* ``hwmon[:NAME[:CHANNEL]]`` -- a Linux hwmon power sensor (Documentation/hwmon/
  sysfs-interface.rst): ``power<N>_input`` (microwatts), else ``energy<N>_input``
  (microjoules, cumulative), else ``in<N>_input`` (millivolts) x ``curr<N>_input``
  (milliamperes), which is how INA3221-style boards without a power attribute report. NAME
  is the device's ``name`` file (e.g. ``ina219``, ``ina226``, ``ina3221``).
* ``cmd:COMMAND`` -- a command that prints the current power in watts (its last number).
* ``csv:PATH`` -- the log of an external USB power meter: a header, a time column (``time``,
  ``timestamp``, ``unix`` or ``t``: Unix seconds or ISO 8601) and a ``watts`` (or ``power``)
  column, or ``volts`` and ``amps``. Read after the run and aligned by wall-clock time.

A sampler thread reads a live source every ``interval`` seconds into a :class:`Trace`
(cumulative energy against ``time.time()``); :meth:`Trace.energy` integrates any window of it
(trapezoids for power readings, counter differences for energy counters, both interpolated at
the window's ends). Every missing or unreadable sensor is one :class:`PowerSourceError` line.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import UsageError

POWERCAP = Path("/sys/class/powercap")
HWMON = Path("/sys/class/hwmon")
SOURCES = ("rapl", "hwmon", "cmd", "csv")
ENERGY, POWER = "energy", "power"  # what a live source's read() returns: J (cumulative) or W
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class PowerSourceError(UsageError):
    """A power source that is missing, unreadable or malformed (one line for the user)."""


def _read_number(path: Path) -> float:
    try:
        return float(path.read_text().strip())
    except PermissionError:
        hint = (" (RAPL energy is readable by root only since Linux 5.10, CVE-2020-8694: run as "
                "root or grant read access)") if path.name == "energy_uj" else ""
        raise PowerSourceError(f"{path}: permission denied{hint}") from None
    except OSError as exc:
        raise PowerSourceError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError:
        raise PowerSourceError(f"{path}: not a number") from None


# --------------------------------------------------------------------------- live sources


class RaplSource:
    """Cumulative joules of RAPL zones, unwrapped (each counter wraps at its own range)."""

    kind = ENERGY

    def __init__(self, root: Path = POWERCAP, zone: str | None = None):
        if not root.is_dir():
            raise PowerSourceError(f"{root}: no powercap class here (no RAPL: not an Intel/AMD "
                                   "CPU, a VM without it, or the intel_rapl driver not loaded)")
        if zone is not None:
            zones = [root / zone]
            if not (zones[0] / "energy_uj").exists():
                have = ", ".join(sorted(p.name for p in root.iterdir())) or "none"
                raise PowerSourceError(f"{zones[0]}: no such RAPL zone (zones here: {have})")
        else:  # top-level zones only: intel-rapl:0, intel-rapl:1 (not intel-rapl:0:0)
            zones = sorted(p for p in root.glob("*rapl:*") if p.name.count(":") == 1
                           and (p / "energy_uj").exists())
            if not zones:
                raise PowerSourceError(f"{root}: no RAPL package zone with energy_uj")
        self.zones = zones
        self.name = "rapl:" + "+".join(_label(z) for z in zones)
        self.resolution = "1 uJ counter units (the hardware's own step is not exposed)"
        self._range = [_read_number(z / "max_energy_range_uj") if (z / "max_energy_range_uj").exists()
                       else float(2**32) for z in zones]
        self._last = [_read_number(z / "energy_uj") for z in zones]
        self._total = 0.0

    def read(self) -> float:
        for i, zone in enumerate(self.zones):
            now = _read_number(zone / "energy_uj")
            step = now - self._last[i]
            self._total += step if step >= 0 else step + self._range[i]  # wrapped
            self._last[i] = now
        return self._total * 1e-6


def _device_name(folder: Path) -> str | None:
    """A powercap zone's or hwmon device's ``name`` file, if it has one."""
    name = folder / "name"
    return name.read_text().strip() if name.exists() else None


def _label(folder: Path) -> str:
    """``intel-rapl:0(package-0)``, ``hwmon1(ina219)``: the folder and its name, for messages."""
    name = _device_name(folder)
    return f"{folder.name}({name})" if name is not None else folder.name


class HwmonSource:
    """One hwmon channel: power, energy, or voltage x current."""

    def __init__(self, root: Path = HWMON, device: str | None = None, channel: int | None = None):
        if not root.is_dir():
            raise PowerSourceError(f"{root}: no hwmon class here")
        found = []
        for dev in sorted(root.iterdir()):
            name = _device_name(dev) or dev.name
            if device is not None and device not in (name, dev.name):
                continue
            for attr, kind in (("power", POWER), ("energy", ENERGY), ("curr", POWER)):
                for f in sorted(dev.glob(f"{attr}*_input")):
                    n = int(f.name[len(attr) : -len("_input")] or 0)
                    if channel is not None and n != channel:
                        continue
                    if attr == "curr" and not (dev / f"in{n}_input").exists():
                        continue
                    found.append((dev, name, attr, n, kind))
        if not found:
            what = f"device {device!r}" if device else "any device"
            have = ", ".join(_label(dev) for dev in sorted(root.iterdir())) or "none"
            raise PowerSourceError(f"{root}: no power, energy or voltage+current sensor on {what}"
                                   f"{f' channel {channel}' if channel is not None else ''} "
                                   f"(hwmon devices here: {have})")
        dev, name, attr, n, self.kind = found[0]  # power before energy before V x I
        self.name = f"hwmon:{name}:{attr}{n}"
        self._files = ([dev / f"in{n}_input", dev / f"curr{n}_input"] if attr == "curr"
                       else [dev / f"{attr}{n}_input"])
        self.resolution = {"power": "1 uW units", "energy": "1 uJ units",
                           "curr": "1 mV x 1 mA units"}[attr]
        self._attr = attr
        self.read()  # readable now, or one clear error now

    def read(self) -> float:
        values = [_read_number(f) for f in self._files]
        if self._attr == "curr":
            return values[0] * values[1] * 1e-6  # mV x mA = uW
        return values[0] * 1e-6  # uW -> W, or uJ -> J



class CommandSource:
    """Watts from a command's output (its last number), run once per sample."""

    kind = POWER

    def __init__(self, command: str, timeout: float = 5.0):
        self.argv = shlex.split(command)
        if not self.argv:
            raise PowerSourceError("cmd: give the command that prints watts, e.g. cmd:'my-meter --watts'")
        self.name, self.timeout = f"cmd:{command}", timeout
        self.resolution = "as printed by the command"
        self.read()

    def read(self) -> float:
        try:
            done = subprocess.run(self.argv, capture_output=True, text=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except FileNotFoundError:
            raise PowerSourceError(f"{self.argv[0]}: no such command") from None
        except subprocess.TimeoutExpired:
            raise PowerSourceError(f"{self.argv[0]}: printed no watts within {self.timeout:g} s") from None
        numbers = _NUMBER.findall(done.stdout)
        if done.returncode != 0 or not numbers:
            why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise PowerSourceError(f"{self.argv[0]}: no watts printed ({why[0][:120]})")
        return float(numbers[-1])


# --------------------------------------------------------------------------- traces


@dataclass
class Trace:
    """Cumulative energy (J) at wall-clock times (s since the epoch), ascending."""

    times: list[float] = field(default_factory=list)
    joules: list[float] = field(default_factory=list)
    source: str = ""
    resolution: str = ""

    @classmethod
    def from_power(cls, times: Sequence[float], watts: Sequence[float], **kw) -> Trace:
        """Power readings integrated by trapezoids into cumulative energy."""
        t, w = np.asarray(times, float), np.asarray(watts, float)
        e = np.concatenate([[0.0], np.cumsum(np.diff(t) * (w[1:] + w[:-1]) / 2)]) if len(t) else t
        return cls(t.tolist(), e.tolist(), **kw)

    def energy(self, t0: float, t1: float) -> tuple[float, int]:
        """(joules spent in [t0, t1], samples inside it), interpolating at both ends.

        Raises:
            PowerSourceError: the window is not inside the trace, or holds no sample.
        """
        t = np.asarray(self.times)
        if len(t) < 2 or t0 < t[0] or t1 > t[-1] or t1 <= t0:
            span = f"{t[0]:.3f}..{t[-1]:.3f}" if len(t) else "no samples"
            raise PowerSourceError(f"{self.source}: no power samples cover {t0:.3f}..{t1:.3f} "
                                   f"(the trace covers {span})")
        e = np.interp([t0, t1], t, np.asarray(self.joules))
        return float(e[1] - e[0]), int(np.count_nonzero((t >= t0) & (t <= t1)))


class Sampler:
    """Reads a live source every ``interval`` seconds in a background thread."""

    def __init__(self, source, interval: float = 0.01):
        self.source, self.interval = source, float(interval)
        self._t: list[float] = []
        self._v: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ltcn-power", daemon=True)
        self.error: Exception | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                v = self.source.read()
            except Exception as exc:  # reported by trace(), not lost in the thread
                self.error = exc
                return
            self._t.append(time.time())
            self._v.append(v)
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def trace(self) -> Trace:
        if self.error is not None:
            raise self.error
        kw = {"source": self.source.name, "resolution": self.source.resolution}
        if self.source.kind == ENERGY:
            return Trace(list(self._t), list(self._v), **kw)
        return Trace.from_power(self._t, self._v, **kw)


# --------------------------------------------------------------------------- meter logs

_TIME_COLUMNS = ("time", "timestamp", "unix", "t", "epoch")


def _time_value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()


def read_meter_log(path: str | os.PathLike) -> Trace:
    """An external meter's CSV log as a :class:`Trace` (see the module docstring).

    Raises:
        PowerSourceError: missing file, no time column or power columns, a bad value (named by
            line and column), times not ascending, fewer than two samples.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise PowerSourceError(f"{path}: cannot read the meter log: {exc.strerror}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise PowerSourceError(f"{path}: empty meter log")
    head = [h.strip().lower() for h in rows[0]]
    tcol = next((head.index(c) for c in _TIME_COLUMNS if c in head), None)
    wcol = next((head.index(c) for c in ("watts", "power", "w", "power_w") if c in head), None)
    vcol = next((head.index(c) for c in ("volts", "voltage", "v") if c in head), None)
    acol = next((head.index(c) for c in ("amps", "current", "a") if c in head), None)
    if tcol is None or (wcol is None and (vcol is None or acol is None)):
        raise PowerSourceError(f"{path}:1: need a time column ({', '.join(_TIME_COLUMNS)}) and "
                               f"watts, or volts and amps; the header has {', '.join(head)}")
    times, watts = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cols = (tcol, wcol) if wcol is not None else (tcol, vcol, acol)
        try:
            values = [row[c] for c in cols]
            t = _time_value(values[0])
            w = float(values[1]) if wcol is not None else float(values[1]) * float(values[2])
        except (IndexError, ValueError):
            col = next((c for c in cols if c >= len(row) or not _valid(row[c], c == tcol)), cols[0])
            raise PowerSourceError(f"{path}:{line}:{col + 1}: not a time and power reading") from None
        if not math.isfinite(w) or (times and t <= times[-1]):
            raise PowerSourceError(f"{path}:{line}:{tcol + 1}: times must ascend and watts be finite")
        times.append(t)
        watts.append(w)
    if len(times) < 2:
        raise PowerSourceError(f"{path}: fewer than two readings")
    return Trace.from_power(times, watts, source=f"csv:{path}", resolution="as logged by the meter")


def _valid(text: str, is_time: bool) -> bool:
    try:
        _time_value(text) if is_time else float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- the spec


def open_source(spec: str):
    """The live source a ``--power`` spec names, or for ``csv:PATH`` the path itself (a log is
    read after the run: :func:`read_meter_log`).

    Raises:
        PowerSourceError: an unknown source kind (listing the kinds; also a ValueError), or
            a sensor that is missing or unreadable.
    """
    kind, _, rest = spec.partition(":")
    if kind not in SOURCES:
        raise PowerSourceError(f"unknown power source {spec!r}; expected one of "
                         "rapl[:ZONE], hwmon[:NAME[:CHANNEL]], cmd:COMMAND, csv:PATH")
    if kind == "rapl":
        return RaplSource(POWERCAP, rest or None)
    if kind == "hwmon":
        name, _, channel = rest.partition(":")
        if channel and not channel.isdigit():
            raise PowerSourceError(f"hwmon:{rest}: the channel must be a number (power<N>_input)")
        return HwmonSource(HWMON, name or None, int(channel) if channel else None)
    if kind == "cmd":
        return CommandSource(rest)
    if not rest:
        raise PowerSourceError("csv: give the meter log's path, e.g. csv:meter.csv")
    return Path(rest)


def available_sources() -> dict[str, str]:
    """What this machine has: each source kind -> the source it would use, or why not."""
    out = {}
    for spec in ("rapl", "hwmon"):
        try:
            out[spec] = open_source(spec).name
        except PowerSourceError as exc:
            out[spec] = f"unavailable: {exc}"
    return out
