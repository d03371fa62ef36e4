"""NSL-KDD quickstart: the default L-TCN with a short schedule (what `make demo` trains).

Run:  ltcn run experiments/nsl_kdd_quickstart.py      (target <= 3 min on 2 CPU cores)
"""

import dataclasses

import default


def get_config():
    config = default.get_config()
    return dataclasses.replace(
        config,
        name="nsl_kdd_quickstart",
        description="Quickstart: L-TCN on embedded NSL-KDD, official KDDTest+ test set, short schedule.",
        train=dataclasses.replace(config.train, epochs=4, patience=2),
    )
