"""Shared test fixtures: paths of the small real data subsets under tests/fixtures/."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# CI runs the property tests with a fixed seed sequence so a red build is reproducible.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The signing key `ltcn export` makes on first use, and the trust store holding its public
# half, live in a folder of this test session (set before any fixture exports a model, and
# inherited by the subprocesses), never in the user's ~/.config.
os.environ["LTCN_CONFIG_DIR"] = tempfile.mkdtemp(prefix="ltcn-test-config-")
os.environ.pop("LTCN_SIGNING_KEY", None)

REPO = Path(__file__).resolve().parents[1]  # the checkout: tests/ lies one level down
FIXTURES = Path(__file__).parent / "fixtures"
# The staged full samples beside the repository (present for developers and CI, never needed
# by the project itself): tests that use them skip when they are absent.
SHARED_DATA = Path(os.environ.get("LTCN_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data"))

NSL_TEST = FIXTURES / "nsl-kdd/KDDTest+_subset.txt"
NSL_TRAIN = FIXTURES / "nsl-kdd/KDDTrain+_20Percent_subset.txt"
CIC_MLCVE = FIXTURES / "cicids2017/MachineLearningCVE_subset.csv"
CIC_TRAFFIC = FIXTURES / "cicids2017/TrafficLabelling_subset.csv"
CIC_IMPROVED = sorted((FIXTURES / "cicids2017/improved").glob("*.csv"))
BOT_ENTIRE = FIXTURES / "bot-iot/data_t_subset.csv"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Prepared-array caches go to a temporary folder, never the user's home."""
    monkeypatch.setenv("LTCN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def shared(path: str) -> Path:
    full = SHARED_DATA / path
    if not full.is_file():
        pytest.skip(f"staged data {full} not present")
    return full


# -- engine models with random weights (the engine and stream tests, the compile fixture) --

# (features, channels, dilations, kernel_size, convs_per_block, sparsity)
CONFIGS = [
    (5, (4, 4), (1, 2), 2, 1, 0.0),  # residual 1x1 then identity
    (6, (6, 6), (1, 3), 3, 2, 0.4),  # identity residuals only
    (7, (8, 16, 16), (1, 2, 4), 3, 2, 0.9),
    (3, (8, 4), (2, 1), 5, 2, 0.95),
    (9, (12, 12, 6), (1, 4, 2), 5, 1, 0.4),
    (4, (5,), (3,), 2, 3, 0.9),  # three convs per block: buffer rotation
]


def random_params(rng, features, channels, kernel_size, convs_per_block, classes, sparsity=0.0):
    """Flat L-TCN params with Flax's names and shapes; ``sparsity`` of each kernel zeroed."""
    params = {}
    c_prev = features
    for i, c in enumerate(channels):
        c_in = c_prev
        for j in range(convs_per_block):
            w = rng.standard_normal((kernel_size, c_in, c)) / np.sqrt(kernel_size * c_in)
            w[rng.random(w.shape) < sparsity] = 0
            params[f"block_{i}/conv_{j}/kernel"] = w.astype(np.float32)
            params[f"block_{i}/conv_{j}/bias"] = (0.1 * rng.standard_normal(c)).astype(np.float32)
            c_in = c
        if c_prev != c:
            w = rng.standard_normal((1, c_prev, c)) / np.sqrt(c_prev)
            w[rng.random(w.shape) < sparsity] = 0
            params[f"block_{i}/residual/kernel"] = w.astype(np.float32)
            params[f"block_{i}/residual/bias"] = (0.1 * rng.standard_normal(c)).astype(np.float32)
        c_prev = c
    w = rng.standard_normal((c_prev, classes)) / np.sqrt(c_prev)
    w[rng.random(w.shape) < sparsity] = 0
    params["head/kernel"] = w.astype(np.float32)
    params["head/bias"] = (0.1 * rng.standard_normal(classes)).astype(np.float32)
    return params


def build(params, dilations, k, J, fmt):
    """An engine model of flat ``params`` (``fmt``: sparse or dense)."""
    from ltcn_kernels.engine import EngineModel

    return EngineModel.from_params(
        params, dilations=dilations, kernel_size=k, convs_per_block=J, format=fmt
    )


@pytest.fixture(scope="session", autouse=True)
def compiled_engine():
    """Compile the engine's kernels, or load them from Numba's cache, once before the first
    test: on a fresh clone that is the cold compile (1.5-2 minutes here), which ``pytest
    --durations`` then shows as this fixture's setup instead of inside whichever test
    happened to run first. Both formats, windows, sequences and the stream."""
    from ltcn_kernels.engine import Stream, warmup

    rng = np.random.default_rng(0)
    params = random_params(rng, 5, (4, 4), 2, 2, 2, 0.5)
    for fmt in ("sparse", "dense"):
        model = build(params, (1, 2), 2, 2, fmt)
        warmup(model)
        Stream(model).push(np.zeros((2, 5), np.float32))


def train_tiny(tmp_path_factory, name: str, data, channels=(4, 8), dilations=(1, 2), k=3) -> Path:
    """A tiny L-TCN on ``data`` (a ``DataConfig``): one epoch, then pruned to 60 % in one
    round; the run folder (what ``ltcn run`` writes)."""
    from ltcn_jax.experiment import run_experiment
    from ltcn_jax.presets import tiny_config

    out = tmp_path_factory.mktemp(name)
    run_experiment(tiny_config(name, data, channels, dilations, k), out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """:func:`train_tiny` with this session's temporary folders: ``tiny_run(name, data, ...)``."""
    return lambda name, data, **arch: train_tiny(tmp_path_factory, name, data, **arch)


@pytest.fixture(scope="session")
def nsl_run(tiny_run):
    """A tiny NSL-KDD L-TCN run (features as the sequence), pruned to 60 %."""
    from ltcn_jax.data.prepare import DataConfig

    data = DataConfig(dataset="nsl-kdd", train_files=(str(NSL_TRAIN),), test_files=(str(NSL_TEST),),
                      sequence="features", val_fraction=0.2)
    return tiny_run("nsl", data)


@pytest.fixture(scope="session")
def bot_run(tiny_run):
    """A tiny BoT-IoT L-TCN run on 5-flow windows, pruned to 60 %."""
    from ltcn_jax.data.prepare import DataConfig

    data = DataConfig(dataset="bot-iot", files=(str(BOT_ENTIRE),), split="class-time-block", sequence="flows",
                      window=5, fractions=(0.5, 0.2, 0.3), drop_duplicates=False)
    return tiny_run("bot", data, channels=(6, 6), dilations=(1, 2), k=2)


@pytest.fixture(scope="session")
def bot_window_model(tiny_run, tmp_path_factory):
    """A tiny BoT-IoT L-TCN on 8-flow windows exported to a ``.ltcn`` file (the gateway and the
    serving tests share it). Window 8 >= receptive field 1 + (2-1)*(1+2)*2 = 7, so the stateful
    Stream is exact."""
    from ltcn_jax.data.prepare import DataConfig
    from ltcn_jax.export import export_run

    data = DataConfig(dataset="bot-iot", files=(str(BOT_ENTIRE),), split="class-time-block", sequence="flows",
                      window=8, fractions=(0.5, 0.2, 0.3), drop_duplicates=False)
    run = tiny_run("gw", data, channels=(6, 6), dilations=(1, 2), k=2)
    path = tmp_path_factory.mktemp("gwm") / "m.ltcn"
    export_run(run, path)
    return path


@pytest.fixture(scope="session")
def bot_replay(tmp_path_factory):
    """The BoT-IoT fixture in capture order (as a live capture delivers it)."""
    from ltcn_kernels.io.flows import read_flows

    raw = BOT_ENTIRE.read_bytes().splitlines()
    header, lines = raw[0], raw[1:]
    table = read_flows(BOT_ENTIRE, drop_duplicates=False, unknown_label="keep", progress=False)
    rank = {int(table.line[r]): i for i, r in enumerate(table.capture_order())}
    keyed = sorted(range(len(lines)), key=lambda i: rank.get(i + 2, len(rank) + i))
    path = tmp_path_factory.mktemp("replay") / "replay.csv"
    path.write_bytes(b"\n".join([header, *(lines[i] for i in keyed)]) + b"\n")
    return path
