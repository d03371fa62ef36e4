"""A measuring tool, not engine code: the edge-only benchmark (``python -m ltcn_kernels.bench``,
runs on the Pi without JAX). ``harness``: workloads, runtimes, measuring and the command line;
``machine``: thread pinning and machine probes; ``reference``: the NumPy reference runtime."""
