"""A measuring tool, not engine code: the edge-only benchmark (``python -m ltcn_kernels.bench``,
runs on the Pi without JAX). ``harness``: the command line; ``runtimes``: the model, workload
and runtimes table; ``measure``: the timings, power and ``run_bench``; ``fairness``: the FMA
peak and whether every runtime was held to its cores; ``report``: JSON rows and summary lines;
``machine``: thread pinning and machine probes; ``power``: power sensors; ``counters``:
hardware counters under ``perf stat``; ``reference``: the NumPy reference runtime."""
