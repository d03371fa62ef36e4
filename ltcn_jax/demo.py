"""``make demo``: the main job on the embedded NSL-KDD data.

So far: read KDDTrain+_20Percent and KDDTest+, print what they hold, prepare the model-ready
arrays with the official split. Training, pruning, export and benchmarks join as they land.
"""

from __future__ import annotations

import time

from ltcn_kernels import read_flows
from ltcn_kernels.summary import format_summary, summarize

from .data.prepare import DataConfig, prepare, resolve

EMBEDDED_TRAIN = "embedded:KDDTrain+_20Percent.txt"
EMBEDDED_TEST = "embedded:KDDTest+.txt"


def quickstart_data_config() -> DataConfig:
    return DataConfig(
        dataset="nsl-kdd",
        train_files=(EMBEDDED_TRAIN,),
        test_files=(EMBEDDED_TEST,),
        split="official",
        sequence="features",
    )


def run_demo(quick: bool = False) -> int:
    del quick  # every step is short so far
    for name in (EMBEDDED_TRAIN, EMBEDDED_TEST):
        print(f"== {name}")
        print(format_summary(summarize(read_flows(resolve(name)))))
        print()
    start = time.perf_counter()
    prepared = prepare(quickstart_data_config(), use_cache=False)
    seconds = time.perf_counter() - start
    print(f"== prepared in {seconds:.2f} s (official split, validation carved from train)")
    print(f"model input width {prepared.preprocessor.width}, classes {', '.join(prepared.classes)}")
    for split, stats in prepared.info["splits"].items():
        counts = ", ".join(f"{c} {n}" for c, n in stats["classes"].items())
        shape = prepared.sequences(split).shape
        print(f"  {split:<5} {stats['rows']:>6} rows  sequences {shape}  [{counts}]")
    return 0
