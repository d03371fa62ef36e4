"""Cloud-vs-edge latency (paper Table V): the same model over HTTP behind an emulated WAN vs local.

    LTCN_DATA=DATA python experiments/cloud_vs_edge.py            (about 5-6 min on 2 cores)
    python experiments/cloud_vs_edge.py --flows FILE.csv --run results/bot_iot_per_flow_ablation

Exports the run's L-TCN (default ``results/cicids2017_per_flow_ablation`` at 60 % sparsity:
the paper's edge configuration, and a per-flow model, so a stateless cloud request classifies a
flow exactly as the gateway does), draws 1,000-flow batches and single flows from the staged
CICIDS2017 records (``$LTCN_DATA/cicids2017/improved/*.csv``), times local detection, then
serves the model with uvicorn on 127.0.0.1 and times requests directly and through the
user-space WAN proxy at each ``--rtt``. Writes ``results.json``, ``table.md``, ``latency.png``
and ``command.txt`` to ``--out`` (default ``results/cloud-vs-edge``). Requires the ``serve``
extra (uvicorn, starlette) and the training install (export, matplotlib). The logic lives in
:mod:`cloud_edge.measure` (beside this launcher).
"""

from __future__ import annotations

import sys

from ltcn_kernels.bench.machine import pin_threads


def _threads(argv: list[str]) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


if __name__ == "__main__":
    # Thread counts are read when numba / BLAS load: set them and re-execute once.
    pin_threads(_threads(sys.argv[1:]), [sys.executable, *sys.argv])
    from cloud_edge.measure import main

    sys.exit(main())
