"""Energy (issue 16): our parsers of the RAPL (powercap) and hwmon sysfs trees and of a meter's
CSV log, against small fixture trees built here (tests of OUR parsing, not of any sensor); the
sampler's integration against a synthetic power trace of known energy; one clear line for
every missing sensor; ``perf stat`` output parsing, and the counters path, which skips with its
reason where the machine has no PMU; the energy models' arithmetic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from energy import model as M
from hypothesis import given, settings
from hypothesis import strategies as st

from ltcn_kernels.bench import counters as K
from ltcn_kernels.bench import power as P
from ltcn_kernels.bench.measure import measure_power


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


# ------------------------------------------------------------------ RAPL (powercap)
def test_rapl_sums_package_zones_not_their_subzones_and_unwraps(tmp_path):
    root = _write(tmp_path, {
        "intel-rapl:0/name": "package-0", "intel-rapl:0/energy_uj": "1000000",
        "intel-rapl:0/max_energy_range_uj": "2000000",
        "intel-rapl:0:0/name": "core", "intel-rapl:0:0/energy_uj": "999",  # part of package-0
        "intel-rapl:1/name": "package-1", "intel-rapl:1/energy_uj": "5",
        "intel-rapl:1/max_energy_range_uj": "262143328850",
    })
    src = P.RaplSource(root)
    assert src.kind == P.ENERGY and src.name == "rapl:intel-rapl:0(package-0)+intel-rapl:1(package-1)"
    (root / "intel-rapl:0/energy_uj").write_text("1500000")
    (root / "intel-rapl:1/energy_uj").write_text("250005")
    assert src.read() == pytest.approx(0.75)  # 0.5 J + 0.25 J
    (root / "intel-rapl:0/energy_uj").write_text("100000")  # wrapped at 2 J: +0.6 J
    assert src.read() == pytest.approx(1.35)
    assert P.RaplSource(root, "intel-rapl:0:0").zones == [root / "intel-rapl:0:0"]


def test_missing_or_unreadable_sensors_are_one_line_each(tmp_path, monkeypatch):
    cases = [
        (lambda: P.RaplSource(tmp_path / "none"), "no powercap class here"),
        (lambda: P.RaplSource(_write(tmp_path / "pc", {"dram/x": "1"})), "no RAPL package zone"),
        (lambda: P.RaplSource(tmp_path / "pc", "intel-rapl:7"), r"no such RAPL zone \(zones here: dram\)"),
        (lambda: P.HwmonSource(tmp_path / "none"), "no hwmon class here"),
        (lambda: P.HwmonSource(_write(tmp_path / "hw", {"hwmon0/name": "cpu_thermal",
                                                        "hwmon0/temp1_input": "45000"})),
         r"no power, energy or voltage\+current sensor on any device \(hwmon devices here: hwmon0\(cpu_thermal\)\)"),
        (lambda: P.open_source("battery"), r"unknown power source 'battery'; expected one of rapl"),
        (lambda: P.open_source("hwmon:ina219:x"), "the channel must be a number"),
        (lambda: P.open_source("cmd:"), "give the command that prints watts"),
        (lambda: P.open_source("cmd:/no/such/meter"), "no such command"),
        (lambda: P.open_source(f"cmd:{sys.executable} -c 'print(\"off\")'"), "no watts printed"),
        (lambda: P.open_source("csv:"), "give the meter log's path"),
    ]
    for make, message in cases:
        with pytest.raises(P.PowerSourceError, match=message) as err:
            make()
        assert "\n" not in str(err.value)
    energy = _write(tmp_path / "denied", {"intel-rapl:0/energy_uj": "1"}) / "intel-rapl:0/energy_uj"
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (_ for _ in ()).throw(PermissionError())
                        if self == energy else real(self, *a, **k))
    with pytest.raises(P.PowerSourceError, match=r"permission denied \(RAPL energy is readable by root only"):
        P.RaplSource(tmp_path / "denied")


# ------------------------------------------------------------------ hwmon
def test_hwmon_power_energy_and_volts_times_amps(tmp_path):
    root = _write(tmp_path, {
        "hwmon0/name": "cpu_thermal", "hwmon0/temp1_input": "40000",
        "hwmon1/name": "ina219", "hwmon1/power1_input": "2750000", "hwmon1/in1_input": "5100",
        "hwmon1/curr1_input": "540",
        "hwmon2/name": "ina3221", "hwmon2/in1_input": "5080", "hwmon2/curr1_input": "600",
        "hwmon2/in2_input": "3300", "hwmon2/curr2_input": "100", "hwmon2/in4_input": "12",
        "hwmon3/name": "meter", "hwmon3/energy1_input": "1500000",
    })
    first = P.HwmonSource(root)
    assert (first.name, first.kind, first.read()) == ("hwmon:ina219:power1", P.POWER, pytest.approx(2.75))
    vi = P.HwmonSource(root, "ina3221", 2)
    assert vi.name == "hwmon:ina3221:curr2" and vi.read() == pytest.approx(0.33)  # 3.3 V x 0.1 A
    assert P.HwmonSource(root, "ina3221").read() == pytest.approx(5.08 * 0.6)
    e = P.HwmonSource(root, "meter")
    assert e.kind == P.ENERGY and e.read() == pytest.approx(1.5)
    with pytest.raises(P.PowerSourceError, match=r"on device 'ina226' .*hwmon1\(ina219\)"):
        P.HwmonSource(root, "ina226")


# ------------------------------------------------------------------ integration
@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.5, 10), b=st.floats(-0.05, 0.5), start=st.integers(10, 300),
       steps=st.integers(10, 300), inside=st.floats(0, 1))
def test_a_linear_power_trace_integrates_exactly(a, b, start, steps, inside):
    """P(t) = a + b t sampled every 10 ms: the energy of a window between samples is the
    integral a w + b (t1^2 - t0^2) / 2 (trapezoids are exact for a line); a window that ends
    between samples is off by at most b dt^2 / 4 (linear interpolation of the quadratic
    cumulative energy)."""
    dt = 0.01
    t = np.arange(0, 7, dt) + 1.7e9
    trace = P.Trace.from_power(t, a + b * (t - t[0]), source="synthetic")

    def exact(x0, x1):
        return a * (x1 - x0) + b * (x1**2 - x0**2) / 2

    t0, t1 = start * dt, (start + steps) * dt
    joules, n = trace.energy(t[0] + t0, t[0] + t1)
    # (float64 epoch seconds hold ~0.4 us: relative 1e-5 over a 0.1 s window)
    assert joules == pytest.approx(exact(t0, t1), rel=1e-5) and abs(n - (steps + 1)) <= 1
    off = inside * dt
    joules = trace.energy(t[0] + t0 + off, t[0] + t1 + off)[0]
    assert abs(joules - exact(t0 + off, t1 + off)) <= abs(b) * dt**2 / 4 + 1e-5 * abs(joules)
    counter = P.Trace(list(t), list(np.cumsum(np.full(len(t), 2 * dt))), source="counter")  # 2 W
    assert counter.energy(t[0] + t0, t[0] + t1)[0] == pytest.approx(2 * (t1 - t0), rel=1e-5)
    with pytest.raises(P.PowerSourceError, match="no power samples cover"):
        trace.energy(t[0] - 1, t[0] + t1)


class _Fake:
    """A live source whose watts follow a flag the fake runtime sets (3 W idle, 5 W busy)."""

    kind, name, resolution = P.POWER, "fake", "exact"

    def __init__(self):
        self.busy = False

    def read(self) -> float:
        return 5.0 if self.busy else 3.0


def test_measure_power_is_active_minus_idle_per_thousand_flows():
    src = _Fake()

    def batch():
        src.busy = True
        time.sleep(0.002)

    rt = SimpleNamespace(name="fake", batch=batch)
    m = measure_power([rt], SimpleNamespace(batch=100), src, seconds=0.4, interval=0.005)
    r = m["runtimes"]["fake"]
    assert m["idle_w"] == pytest.approx(3.0, abs=0.05) and r["active_w"] == pytest.approx(5.0, abs=0.1)
    flows = r["batches"] * 100
    assert r["energy_mj_per_1000_flows"] == pytest.approx(2.0 * r["seconds"] / flows * 1e6, rel=0.06)
    assert r["samples"] > 20 and m["idle_samples"] > 20


def test_a_meter_log_is_read_and_aligned_by_time(tmp_path):
    log = tmp_path / "meter.csv"
    log.write_text("Time,Volts,Amps\n" + "\n".join(
        f"{1.7e9 + i * 0.5},5.0,{0.5 + (i >= 10) * 0.3}" for i in range(30)) + "\n")
    trace = P.read_meter_log(log)
    assert trace.energy(1.7e9 + 0.5, 1.7e9 + 4.5)[0] == pytest.approx(2.5 * 4)  # 2.5 W
    assert trace.energy(1.7e9 + 6, 1.7e9 + 14)[0] == pytest.approx(4.0 * 8)  # 4 W
    iso = tmp_path / "iso.csv"
    iso.write_text("timestamp,watts\n2026-12-01T10:00:00Z,3.0\n2026-12-01T10:00:02Z,3.0\n")
    assert P.read_meter_log(iso).energy(*P.read_meter_log(iso).times)[0] == pytest.approx(6.0)
    for text, message in (("when,watts\n1,2\n", "need a time column"),
                          ("t,watts\n1,2\n2,x\n", r"iso2.csv:3:2: not a time and power reading"),
                          ("t,watts\n2,2\n1,2\n", r":3:1: times must ascend"),
                          ("t,watts\n1,2\n", "fewer than two readings")):
        (tmp_path / "iso2.csv").write_text(text)
        with pytest.raises(P.PowerSourceError, match=message):
            P.read_meter_log(tmp_path / "iso2.csv")


def test_a_command_source_reads_its_last_number(tmp_path):
    src = P.open_source(f"cmd:{sys.executable} -c 'print(\"bus 5.1 V, power 3.25 W\")'")
    assert src.read() == 3.25 and src.kind == P.POWER


# ------------------------------------------------------------------ perf counters
PERF_OUT = """\
# started on Tue Dec  1 20:00:00 2026

1234567,,cycles,1000000,100.00,,
2469134,,instructions,1000000,100.00,2.00,insn per cycle
<not supported>,,LLC-loads,0,100.00,,
<not counted>,,LLC-load-misses,0,0.00,,
0.74,msec,task-clock,743822,100.00,0.007,CPUs utilized
"""


def test_perf_csv_parsing_and_per_flow_arithmetic():
    got = K.parse_perf_csv(PERF_OUT)
    assert got == {"cycles": 1234567.0, "instructions": 2469134.0, "LLC-loads": None,
                   "LLC-load-misses": None, "task-clock": 0.74}
    full = {"cycles": 3000.0, "instructions": 9000.0, "L1-dcache-load-misses": 30.0, "LLC-load-misses": 2.0}
    base = {"cycles": 1000.0, "instructions": 1000.0, "L1-dcache-load-misses": 10.0, "LLC-load-misses": 0.0}
    f = K.per_flow(full, base, 10)
    assert (f["cycles"], f["instructions"], f["ipc"]) == (200.0, 800.0, 4.0)
    assert f["bytes_from_l2_per_flow"] == 2 * 64 and f["bytes_from_dram_per_flow"] == 0.2 * 64
    assert f["LLC-loads"] is None  # not counted: never a made-up zero


def test_a_perf_without_cycles_is_a_reason_not_a_crash(tmp_path):
    fake = tmp_path / "perf"
    fake.write_text("#!/bin/sh\necho '<not supported>,,cycles,0,100.00,,' >&2\n"
                    "echo '<not supported>,,instructions,0,100.00,,' >&2\n")
    fake.chmod(0o755)
    assert "no hardware cycle counter" in K.pmu_problem(str(fake))
    with pytest.raises(K.CountersUnavailable, match="no hardware cycle counter"):
        K.count_runtime("m.ltcn", "sparse", perf=str(fake))
    assert K.pmu_problem(str(tmp_path / "nope")).startswith("perf stat failed to run")


def test_counters_on_this_machine(bot_window_model):
    """Real counts where the kernel exposes a PMU; elsewhere (this VM) a skip with the reason."""
    problem = K.pmu_problem()
    if problem:
        pytest.skip(f"no PMU: {problem}")
    c = K.count_runtime(str(bot_window_model), "sparse", batch=200, rounds=20)
    assert c["cycles"] > 0 and c["instructions"] > 0 and c["ipc"] > 0


def test_the_edge_bench_says_in_one_line_that_a_sensor_is_missing(bot_window_model, tmp_path):
    done = subprocess.run([sys.executable, "-m", "ltcn_kernels.bench", "--model", str(bot_window_model),
                           "--repeats", "1", "--warmup", "0", "--power", f"rapl:{tmp_path.name}"],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, NUMBA_NUM_THREADS="1"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("python -m ltcn_kernels.bench: error: ")


# ------------------------------------------------------------------ the models
def test_model_arithmetic():
    g = M.gateway_power(10_000, 12.8e-6)
    assert g["busy_cores"] == pytest.approx(0.128) and g["watts"] == pytest.approx(2.7 + 0.128 * 0.925)
    assert not M.gateway_power(1e6, 12.8e-6)["keeps_up"] and M.gateway_power(1e6, 12.8e-6)["watts"] == 6.4
    e1 = M.inference_energy(1000, 8000, 400, reuse=1)
    e8 = M.inference_energy(1000, 8000, 400, reuse=8)
    assert e1["compute_pj"] == pytest.approx(1000 * 4.6) and e1["weight_level"].startswith("L1")
    assert e1["weights_pj"] == pytest.approx(1000 * 20) and e8["weights_pj"] == pytest.approx(1000 * 20 / 8)
    assert M.memory_level(2 << 20)[0] == "DRAM" and M.memory_level(100 << 10)[0].startswith("L2")
    r = M.radio_energy(1_250_000, 10.0, "lte")  # 10 Mbit at 10 Mbit/s: 1 s
    assert r["seconds"] == pytest.approx(1.0) and r["joules"] == pytest.approx((4383.9 + 1288.04) / 1e3)
    with pytest.raises(ValueError, match="unknown link"):
        M.radio_energy(1, 1, "5g")
    assert all(v.source for v in M.CONSTANTS.values())  # every constant cites its source


def test_ltcn_bench_measures_power_on_one_model_only(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ltcn_kernels.cli", "bench", "--sweep", "--power", "rapl",
                           "--out", ""], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--power and --counters measure one model" in done.stderr.strip().splitlines()[-1]
