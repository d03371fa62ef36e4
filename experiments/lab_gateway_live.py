"""The live gateway model: per-host windows (``lab_gateway_hosts.py``) trained on the lab
recording in all three forms Argus gives it -- merged flows (a capture file) and unmerged
status records every 1 s and 5 s (``ltcn detect --interface``, ``--status-interval``). The
model we ship adds the per-host gap input to it (``lab_gateway_gaps.py``).

Run:  LTCN_DATA=DATA ltcn run experiments/lab_gateway_live.py --out results/lab/live/run

A model trained on merged flows only meets a different record on a live interface: a flow
longer than the status interval arrives as several short records, and the live time-to-block
run of the merged-only model alerted on hundreds of benign status records
(``results/lab/time-to-block-merged-only/``). Each form is its own file, so per-host streams
never mix the forms (streams are per file and source address).
"""

import dataclasses

import lab_gateway_hosts as base

LIVE_FORMS = ("results/lab/recording/live-1s.csv.gz", "results/lab/recording/live-5s.csv.gz")


def get_config():
    config = base.get_config()
    files = config.data.files
    return dataclasses.replace(
        config,
        name="lab_gateway_live",
        description="Shipped live gateway model: per-host 16-flow windows on merged flows and "
        "1 s / 5 s Argus status records of the lab, 60 % sparse.",
        data=dataclasses.replace(config.data, files=(files[0], *LIVE_FORMS, *files[1:])),
    )
