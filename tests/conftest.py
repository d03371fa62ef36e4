"""Shared test fixtures: paths of the small real data subsets under tests/fixtures/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests with a fixed seed sequence so a red build is reproducible.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

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
