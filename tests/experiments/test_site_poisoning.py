"""experiments/site_poisoning.py on a slice of the lab recording: learning a period with
attacks in it lets later attacks of returning attackers through, against the clean period."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

from conftest import REPO


def test_poisoned_learning_costs_recall_on_a_slice_of_the_lab_recording(tmp_path):
    with gzip.open(REPO / "results/lab/recording/flows.csv.gz", "rt") as f:
        head = [next(f) for _ in range(12_001)]  # the header and the first 12,000 flows
    part = tmp_path / "slice.csv.gz"
    with gzip.open(part, "wt") as f:
        f.writelines(head)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(REPO / "experiments/site_poisoning.py"), "--recording", str(part),
         "--fraction", "0.5", "--out", str(out), "--core", "0"],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads((out / "results.json").read_text())
    assert r["learning_attack_flows"] > 0 and r["returning_attackers"]
    clean, poisoned = r["clean"]["attack"], r["poisoned"]["attack"]
    assert clean["flows"] == poisoned["flows"] > 0  # the same flows measured
    assert poisoned["alerted"] < clean["alerted"]
    assert "| attack alerted |" in (out / "table.md").read_text()
