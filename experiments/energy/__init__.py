"""Energy models of the energy experiment (``experiments/energy_model.py``, paper Table VII):
:mod:`.model` holds the constants, each with its source, and the models built on them. An
experiment, not part of either installed package."""
