"""Harness of the cloud-vs-edge experiment (paper Table V): an HTTP inference server
(``serving``), a user-space WAN emulator (``wan``), the client side of the cloud (``cloud``),
the measurement (``measure``) and its outputs (``report``). Run by
``experiments/cloud_vs_edge.py``; an experiment, not part of either installed package."""
