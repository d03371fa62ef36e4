"""A measuring tool, not engine code: the edge-only benchmark (``python -m ltcn_kernels.bench``,
runs on the Pi without JAX), its pinning and CPU probes and the NumPy reference runtime."""
