"""What the site baseline costs ``ltcn detect``: CPU time per flow and memory per host.

Prints JSON. One pinned core (``pin_threads``: affinity and thread variables before numpy /
numba load). The gateway (:class:`~ltcn_kernels.gateway.Gateway`, as ``ltcn detect`` runs it)
classifies the same flow file over and over, alternating three ways, each repeat timed in
process CPU time and wall time:

* ``plain``: the model's threshold alone (no ``--state-dir``);
* ``learning``: ``--learn`` longer than the file (every flow learned);
* ``detecting``: with a baseline learned before on the file's first ``--learn`` seconds.

The verdict compares medians within this one run (the target: the baseline adds at most
10 % to the CPU time per flow). Memory: tracemalloc's peak of a profile of ``--hosts`` hosts,
each with every service and window count at its bound (the worst case per host), divided by
the hosts.

    python experiments/bench_site.py [--flows results/lab/recording/flows.csv.gz] [--core 1]
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "results", "lab", "model.ltcn"))
    ap.add_argument("--flows", default=os.path.join(REPO, "results", "lab", "recording",
                                                    "flows.csv.gz"),
                    help="a flow-record CSV (or .csv.gz), replayed as fast as it is classified")
    ap.add_argument("--learn", type=float, default=120.0, help="seconds learned for detecting")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--hosts", type=int, default=1024, help="hosts in the memory probe")
    ap.add_argument("--core", type=int, default=1)
    return ap.parse_args(argv)


def _one_run(model, source: str, state: str | None, learn: float | None) -> dict:
    from ltcn_kernels.gateway import DetectOptions, run_detect

    opts = DetectOptions(source=source, allow_unsigned=True, stats_every=0, alerts=os.devnull,
                         state_dir=state, learn=None if learn is None else f"{learn:g}s")
    c0, w0 = time.process_time(), time.perf_counter()
    result = run_detect(model, opts, out=io.StringIO(), err=io.StringIO())
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"flows": result["flows"], "cpu_s": cpu, "wall_s": wall, "alerts": result["alerts"]}


def _memory_per_host(hosts: int) -> dict:
    import tracemalloc

    from ltcn_kernels.gateway.profile import MAX_SERVICES, MAX_WINDOW_SET, Profile

    tracemalloc.start()
    prof = Profile(max_hosts=hosts)
    for h in range(hosts):  # every service a host may learn, and a full window
        name = f"10.{h >> 16 & 255}.{h >> 8 & 255}.{h & 255}"
        for k in range(max(MAX_SERVICES, MAX_WINDOW_SET)):
            prof.learn(name, 1.0, f"192.0.2.{k}", 6 << 17 | k + 1)
    learned = tracemalloc.get_traced_memory()[0]
    prof.finish_learning()
    for h in range(hosts):  # detecting: every host's window full
        name = f"10.{h >> 16 & 255}.{h >> 8 & 255}.{h & 255}"
        prof.familiar([name] * MAX_WINDOW_SET, [120.0] * MAX_WINDOW_SET,
                      [f"198.51.100.{k}" for k in range(MAX_WINDOW_SET)],
                      [6 << 17 | k + 1 for k in range(MAX_WINDOW_SET)])
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"hosts": hosts, "learning_bytes_per_host": round(learned / hosts),
            "detecting_bytes_per_host": round(current / hosts),
            "peak_bytes_per_host": round(peak / hosts),
            "bound_mib_at_4096_hosts": round(peak / hosts * 4096 / 2**20, 1)}


def _site_on_the_flows(source: str) -> dict:
    """The site's own work and memory on the flow file: ``Site.judge`` alone over every flow
    (learning the first ``WINDOW``, then detecting; median of 5), and tracemalloc's count of
    the profile once every flow is learned and then judged (the file's real hosts)."""
    import tracemalloc

    import numpy as np

    from ltcn_kernels.gateway.eve import AlertColumns
    from ltcn_kernels.gateway.profile import Profile
    from ltcn_kernels.gateway.site import Site, flow_services
    from ltcn_kernels.io.flows import read_flows

    table = read_flows(source, "bot-iot", unknown_label="keep", drop_duplicates=False,
                       progress=False)
    order, cols = table.capture_order(), AlertColumns(table)
    p = np.random.default_rng(0).random(len(order))  # (the site's cost does not depend on P)
    times = []
    for _ in range(5):
        with tempfile.TemporaryDirectory() as state:
            site = Site(state, "bench", 0.5, learn_s=120.0)
            t0 = time.process_time()
            for i in range(0, len(order), 256):  # the gateway's default micro-batch
                site.judge(cols, order[i : i + 256], p[i : i + 256])
            times.append(time.process_time() - t0)
    hosts, peers = cols.source_ips(order), cols.dest_ips(order)
    svcs, ts = flow_services(cols, order).tolist(), cols.times[order].tolist()
    tracemalloc.start()
    prof = Profile(4096)
    for h, t, q, v in zip(hosts, ts, peers, svcs, strict=True):
        prof.learn(h, t, q, v)
    prof.finish_learning()
    learned = tracemalloc.get_traced_memory()[0]
    prof.familiar(hosts, ts, peers, svcs)
    judged = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n = len(prof.hosts)
    return {"flows": len(order), "judge_us_per_flow_median": round(
                float(np.median(times)) / len(order) * 1e6, 2),
            "hosts": n, "learned_bytes_per_host": round(learned / n),
            "with_windows_bytes_per_host": round(judged / n)}


def main(argv=None) -> int:
    args = _args(argv)
    from ltcn_kernels.bench.machine import pin_threads

    pin_threads(1, [sys.executable, *sys.argv], cores=[args.core])
    import json

    import numpy as np

    from ltcn_kernels.bench.machine import machine_info
    from ltcn_kernels.pipeline import load_model

    work = tempfile.mkdtemp(prefix="ltcn-bench-site-")
    try:
        source = args.flows
        if source.endswith(".gz"):  # the gateway reads plain text: unpack once, outside timing
            source = os.path.join(work, "flows.csv")
            with gzip.open(args.flows, "rb") as f, open(source, "wb") as g:
                shutil.copyfileobj(f, g)
        model = load_model(args.model)
        learned = os.path.join(work, "learned")
        _one_run(model, source, learned, args.learn)  # the baseline 'detecting' uses
        runs: dict[str, list[dict]] = {"plain": [], "learning": [], "detecting": []}
        _one_run(model, source, None, None)  # warm-up (kernels, page cache)
        for r in range(args.repeats):
            for way in runs:
                fresh = os.path.join(work, f"learning-{r}")
                if way == "plain":
                    runs[way].append(_one_run(model, source, None, None))
                elif way == "learning":
                    runs[way].append(_one_run(model, source, fresh, 1e7))
                else:
                    runs[way].append(_one_run(model, source, learned, None))
        out: dict = {"machine": machine_info(), "model": args.model, "flows_file": args.flows,
                     "repeats": args.repeats, "command": " ".join(["python", *sys.argv])}
        for way, rs in runs.items():
            cpu = float(np.median([r["cpu_s"] for r in rs]))
            wall = float(np.median([r["wall_s"] for r in rs]))
            out[way] = {"flows": rs[0]["flows"], "alerts": rs[0]["alerts"],
                        "cpu_us_per_flow_median": round(cpu / rs[0]["flows"] * 1e6, 2),
                        "cpu_over_wall": round(cpu / wall, 3)}
        base = out["plain"]["cpu_us_per_flow_median"]
        for way in ("learning", "detecting"):
            out[way]["added_cpu_vs_plain"] = round(out[way]["cpu_us_per_flow_median"] / base - 1, 4)
        out["memory"] = _memory_per_host(args.hosts)
        out["site_on_these_flows"] = _site_on_the_flows(source)
        worst = max(out["learning"]["added_cpu_vs_plain"], out["detecting"]["added_cpu_vs_plain"])
        out["verdict"] = (f"the site baseline adds {worst:+.1%} CPU time per flow (target <= "
                          f"10 %) on {out['machine']['cpu']}")
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
