"""NSL-KDD quickstart: the default L-TCN with a short schedule (what `make demo` trains).

Run:  ltcn run experiments/nsl_kdd_quickstart.py      (target <= 3 min on 2 CPU cores)
"""

from ltcn_jax.presets import quickstart_config


def get_config():
    return quickstart_config()  # written once, in the package (``ltcn demo`` trains it)
