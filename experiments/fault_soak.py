"""Fault soak of the gateway (issue 14): 1 M good records with 10 % hostile lines mixed in, fed
to ``ltcn detect --follow`` while the file is rotated every 100k records, the alert file is
moved away and SIGHUP sent, and the alert file system is full for a while.

    python experiments/fault_soak.py --model results/lab/model.ltcn --records 1000000 \
        --out results/reliability

Checks, against a clean run of the same good records from one file (same model, same order):
every good record is classified exactly once (the alerts written, plus those counted lost
while the disk was full, are the clean run's alerts, by flow id), the final statistics count
exactly the hostile lines injected (by reason) and the rotations, and resident memory stays
flat. The alert file lives on a small tmpfs of our own (root: ``mount -t tmpfs``), filled up
by a filler file for the full-disk interval and freed again. Writes ``soak.json`` and
``soak.md`` under ``--out``; the detector runs pinned to one core, one Numba thread.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from soak_detect import rss_kib

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "bot-iot" / "data_t_subset.csv"
HOSTILE = {  # kind -> (share of the hostile lines, the reason the gateway counts it under)
    "nul": (0.30, "bad line: NUL byte"),
    "few fields": (0.30, "bad line: too few fields"),
    "not a number": (0.25, "bad line: not a number"),
    "too long": (0.0005, "line too long"),
    "infinite": (0.1495, "infinite feature"),
}


def _records(n: int) -> tuple[bytes, list[bytes]]:
    """The fixture's records cycled to ``n`` with fresh flow ids and rising start times."""
    lines = FIXTURE.read_bytes().rstrip(b"\n").split(b"\n")
    header, rows = lines[0], [r.split(b",") for r in lines[1:]]
    cols = header.split(b",")
    seq, stime, ltime = cols.index(b"pkSeqID"), cols.index(b"stime"), cols.index(b"ltime")
    t0 = min(float(r[stime]) for r in rows)
    out = []
    for i in range(n):
        r = list(rows[i % len(rows)])
        shift = (i // len(rows)) * 3600.0  # each cycle an hour later: times keep rising
        r[seq] = str(i + 1).encode()
        r[ltime] = f"{float(r[ltime]) - float(r[stime]) + t0 + shift + i * 1e-3:.6f}".encode()
        r[stime] = f"{t0 + shift + i * 1e-3:.6f}".encode()
        out.append(b",".join(r))
    return header, out


def _hostile(kind: str, good: bytes, pkts_col: int) -> bytes:
    f = good.split(b",")
    if kind == "nul":
        return good[:7] + b"\x00" + good[7:]
    if kind == "few fields":
        return b",".join(f[:4])
    if kind == "not a number":
        f[pkts_col] = b"12x"
        return b",".join(f)
    if kind == "too long":
        return b"z" * 70_000
    f[pkts_col] = b"1e400"  # overflows to infinity: a non-finite feature, dropped and counted
    return b",".join(f)


def build(records: int, hostile_share: float, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    header, good = _records(records)
    pkts = header.split(b",").index(b"pkts")
    kinds = list(HOSTILE)
    p = np.array([HOSTILE[k][0] for k in kinds])
    n_bad = round(records * hostile_share)
    where = np.sort(rng.integers(0, records, n_bad))
    which = rng.choice(len(kinds), n_bad, p=p / p.sum())
    mixed, injected, k = [], Counter(), 0
    for i, line in enumerate(good):
        while k < n_bad and where[k] == i:
            kind = kinds[which[k]]
            mixed.append(_hostile(kind, line, pkts))
            injected[kind] += 1
            k += 1
        mixed.append(line)
    return header, good, mixed, injected


def _detect(model: str, source: Path, alerts: Path, extra: list[str], core: int,
            stats_every: float = 0):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    argv = ["taskset", "-c", str(core), sys.executable, "-m", "ltcn_kernels.cli", "detect", "--model",
            model, "--source", str(source), "--alerts", str(alerts), "--threshold", "0.5",
            "--stats-every", str(stats_every),
            "--allow-unsigned",  # the committed research model is unsigned; trust is not tested here
            *extra]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)


def _final(stderr: bytes) -> dict:
    lines = [s for s in stderr.decode().splitlines() if s.startswith("ltcn detect final: ")]
    if not lines:
        raise SystemExit(f"no final statistics; stderr:\n{stderr.decode()[-2000:]}")
    return json.loads(lines[-1].split(": ", 1)[1])


def _flow_ids(path: Path) -> set[int]:
    ids = set()
    if path.exists():
        with open(path, "rb") as f:
            for line in f:
                ids.add(json.loads(line)["flow_id"])
    return ids


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("the fault soak mounts a small tmpfs for the full-disk interval: run as root")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header, good, mixed, injected = build(args.records, args.hostile, args.seed)
    clean, clean_ids, (stats, rss, events), written = _clean_then_soak(args, header, good, mixed)
    lost = stats.get("alerts_lost", 0)
    half = rss[len(rss) // 2 :] or rss
    checks = _checks(stats, clean, clean_ids, written, injected, events, half, len(good))
    command = "python experiments/fault_soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = {
        "command": command, "records": len(good), "hostile_lines": sum(injected.values()),
        "injected": dict(injected), "clean": clean, "soak": stats, "events": events,
        "alerts_clean": len(clean_ids), "alerts_written": len(written), "alerts_lost": lost,
        "rss_kb": {"min": min(rss), "max": max(rss), "second_half_max": max(half),
                   "samples": len(rss)},
        "checks": checks,
    }
    (out / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "soak.md").write_text(_markdown(report))
    print(json.dumps({"checks": checks, "alerts_lost": lost, "rss_kb": report["rss_kb"]}))
    return 0 if all(checks.values()) else 1


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="results/lab/model.ltcn")
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--hostile", type=float, default=0.10)
    p.add_argument("--rotate-every", type=int, default=100_000)
    p.add_argument("--core", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/reliability")
    return p.parse_args(argv)


def _clean_then_soak(args, header: bytes, good: list[bytes], mixed: list[bytes]):
    """(the clean run's final stats, its alerts' flow ids, the soak's result, the flow ids of
    the alerts it wrote): the clean run of the good records from one file, then the soak on
    its own small tmpfs."""
    with tempfile.TemporaryDirectory(prefix="ltcn-soak-") as tmp:
        tmp = Path(tmp)
        # 1. the clean run: the good records from one file
        clean_in = tmp / "clean.csv"
        clean_in.write_bytes(b"\n".join([header, *good]) + b"\n")
        proc = _detect(args.model, clean_in, tmp / "clean.jsonl", [], args.core)
        _, err = proc.communicate()
        clean = _final(err)
        clean_ids = _flow_ids(tmp / "clean.jsonl")
        # 2. the soak: followed, rotated, SIGHUP, a full disk
        disk = tmp / "alerts"
        disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", str(disk)], check=True)
        try:
            result = _soak(args, header, mixed, tmp, disk)
            alerts = disk / "a.jsonl"
            written = _flow_ids(disk / "a.jsonl.moved") | _flow_ids(alerts)
        finally:
            subprocess.run(["umount", str(disk)], check=False)
    return clean, clean_ids, result, written


def _checks(stats: dict, clean: dict, clean_ids: set[int], written: set[int],
            injected: Counter, events: dict, half: list[int], n_good: int) -> dict[str, bool]:
    """The soak against the clean run: what the report calls a pass."""
    lost = stats.get("alerts_lost", 0)
    want_skips = Counter()
    for kind, n in injected.items():
        want_skips[HOSTILE[kind][1]] += n
    got_skips = dict(stats["skipped_by_reason"])
    return {
        "every good record classified once": stats["flows"] == n_good == clean["flows"],
        "alerts written are the clean run's": written <= clean_ids,
        "alerts written + lost = clean run's alerts": len(written) + lost == len(clean_ids),
        "skips counted = hostile lines injected, by reason": got_skips == dict(want_skips),
        "rotations counted": stats.get("source_rotations") == events["rotations"],
        "SIGHUP reopened the alert file": stats.get("alerts_reopens") == 1,
        "alerts lost while the disk was full were counted": lost > 0,
        "memory flat (second half within 5 % of its median)":
            max(half) <= 1.05 * sorted(half)[len(half) // 2],
    }


def _markdown(report: dict) -> str:
    """``soak.md``: what was done to the detector, the checks, the two runs' numbers."""
    injected, events, clean = report["injected"], report["events"], report["clean"]
    stats, rss, lost = report["soak"], report["rss_kb"], report["alerts_lost"]
    got_skips = dict(stats["skipped_by_reason"])
    md = ["# Fault soak of `ltcn detect` (issue 14)", "",
          f"{report['records']:,} good records with {report['hostile_lines']:,} hostile lines mixed in "
          f"({', '.join(f'{n:,} {k}' for k, n in injected.items())}), read with `--follow` while "
          f"the file was rotated {events['rotations']} times (rename and a new file with its "
          "header), the alert file moved away and SIGHUP sent once, and the alert file system "
          f"full for {events['full_s']:.1f} s. One core, one Numba thread.", "",
          "| check | |", "|---|---|",
          *(f"| {k} | {'yes' if v else '**no**'} |" for k, v in report["checks"].items()), "",
          f"- Clean run: {clean['flows']:,} flows, {report['alerts_clean']:,} alerts, "
          f"{clean['flows_per_s']:,} flows/s.",
          f"- Soak: {stats['flows']:,} flows, {stats['skipped']:,} skipped "
          f"({', '.join(f'{n:,} {k}' for k, n in got_skips.items())}); "
          f"{report['alerts_written']:,} alerts written, {lost:,} counted lost while the disk was full.",
          f"- Resident memory: {rss['min'] / 1024:.0f}-{rss['max'] / 1024:.0f} MiB over "
          f"{rss['samples']} samples (second half up to {rss['second_half_max'] / 1024:.0f} MiB).", "",
          f"Command: `{report['command']}`", ""]
    return "\n".join(md)


class _DetectorWatch:
    """The detector's progress (its stats lines on standard error) and its resident memory,
    each watched from a thread of its own."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.last: dict = {}
        self.err_lines: list[bytes] = []
        self.rss: list[int] = []
        self.done = threading.Event()
        self.reader = threading.Thread(target=self._read_stats, daemon=True)
        self.reader.start()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def lines_read(self) -> int:
        """Lines the detector has read (every line read is a flow or a skip)."""
        return self.last.get("flows", 0) + self.last.get("skipped", 0)

    def _read_stats(self) -> None:  # the detector's progress: every line read is a flow or a skip
        for line in self.proc.stderr:
            self.err_lines.append(line)
            if line.startswith(b"ltcn detect stats: "):
                self.last.update(json.loads(line.split(b": ", 1)[1]))

    def _sample(self) -> None:
        while not self.done.is_set() and self.proc.poll() is None:
            kib = rss_kib(self.proc.pid)
            if kib is None:  # (the process is gone)
                break
            self.rss.append(kib)
            time.sleep(0.5)


def _soak(args, header: bytes, mixed: list[bytes], tmp: Path, disk: Path):
    source = tmp / "flows.csv"
    source.write_bytes(header + b"\n")
    alerts = disk / "a.jsonl"
    proc = _detect(args.model, source, alerts, ["--follow", "--micro-batch", "256"], args.core,
                   stats_every=0.5)
    events = {"rotations": 0, "full_s": 0.0}
    watch = _DetectorWatch(proc)
    time.sleep(3.0)  # compiled or loaded from the cache
    _feed(args, header, mixed, source, tmp, disk, watch, events)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and watch.lines_read() < len(mixed):
        time.sleep(0.5)  # until the detector has read every line
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    watch.reader.join(timeout=30)
    err = b"".join(watch.err_lines)
    watch.done.set()
    watch.sampler.join()
    for key in ("hup", "full", "freed"):
        events.pop(key, None)
    return _final(err), watch.rss, events


def _feed(args, header: bytes, mixed: list[bytes], source: Path, tmp: Path, disk: Path,
          watch: _DetectorWatch, events: dict) -> None:
    """Append ``mixed`` to the followed file in chunks, rotating it every ``--rotate-every``
    lines, moving the alert file away (and SIGHUP) after 3 rotations, filling the disk for
    about 4 s after 5."""
    alerts = disk / "a.jsonl"
    chunk = max(1, min(20_000, args.rotate_every // 4))
    filler = disk / "filler"
    for start in range(0, len(mixed), chunk):
        part = mixed[start : start + chunk]
        with open(source, "ab") as f:
            f.write(b"\n".join(part) + b"\n")
        time.sleep(0.05)
        n_lines = start + len(part)
        crossed = n_lines // args.rotate_every != (n_lines - len(part)) // args.rotate_every
        if crossed and n_lines < len(mixed):  # (no rotation after the last record)
            _rotate_once_read(source, header, tmp, watch, n_lines, events)
        if events["rotations"] == 3 and "hup" not in events:  # logrotate of the alert file
            time.sleep(1.0)
            os.replace(alerts, disk / "a.jsonl.moved")
            watch.proc.send_signal(signal.SIGHUP)
            events["hup"] = time.monotonic()
        if events["rotations"] == 5 and "full" not in events:  # the disk fills up for a while
            _fill(disk, filler, events)
        if "full" in events and "freed" not in events and time.monotonic() - events["full"] > 4:
            filler.unlink()
            events["freed"] = time.monotonic()
            events["full_s"] = events["freed"] - events["full"]


def _rotate_once_read(source: Path, header: bytes, tmp: Path, watch: _DetectorWatch,
                      n_lines: int, events: dict) -> None:
    """Rename the followed file away and start a new one with its header."""
    # Rotate once the detector has read this file to its end, as a real rotation (every
    # few minutes) finds a detector that keeps up: like tail -F, --follow cannot read a
    # file that was rotated away and replaced again before it reached its end.
    wait = time.monotonic() + 300
    while time.monotonic() < wait and watch.lines_read() < n_lines:
        time.sleep(0.1)
    time.sleep(0.5)
    os.replace(source, tmp / f"flows.csv.{events['rotations'] + 1}")
    source.write_bytes(header + b"\n")
    events["rotations"] += 1


def _fill(disk: Path, filler: Path, events: dict) -> None:
    """Fill every free block of the alert file system."""
    free = os.statvfs(disk)
    with open(filler, "wb") as f:  # fill every free block
        try:
            f.write(b"\0" * (free.f_bavail * free.f_frsize))
        except OSError:
            pass
    left = os.statvfs(disk)
    events["full_left_bytes"] = left.f_bavail * left.f_frsize
    # timed from when the disk IS full: writing the filler takes seconds, in which
    # no new record arrives, so timing it from before left the detector idle throughout
    events["full"] = time.monotonic()


if __name__ == "__main__":
    sys.exit(main())
