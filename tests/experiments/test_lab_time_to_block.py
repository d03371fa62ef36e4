"""The live time-to-block measurement's pieces that need no lab (the lab itself needs root and
minutes): the ``--learn`` option, reading the detector's final statistics, and the table with
and without a learned site baseline."""

from __future__ import annotations

import argparse
import json

import pytest
from lab_time_to_block import (
    benign_source_alerts,
    detector_argv,
    final_stats,
    positive_seconds,
    summarize,
)


def _setting(learned: bool) -> dict:
    runs = [{"attack": "dos_tcp", "run": r, "sources": [f"198.19.80.{r + 1}"],
             "target": "198.18.77.10", "blocked": True, "first_packet": 0.0,
             "time_to_block_s": 1.2 + r / 10, "packets_before_block": 100, "packets_after_block": 0}
            for r in range(3)]
    res = {"status_interval": 1, "runs": runs, "benign_blocked": [], "victims_blocked": [],
           "bystanders_blocked": [], "benign_alerts": 0, "detector_cpu_s": 2.0, "wall_s": 100.0,
           "detector_cpu_share": 0.02, "detector_peak_rss_mb": 170.0}
    if learned:
        res["learned"] = {"hosts": ["198.18.77.10", "198.18.77.11"], "flows": 900,
                          "learned_s": 180.0, "fit": {"threshold": 0.731, "basis": "new flows"},
                          "detector_cpu_s": 5.0, "wall_s": 200.0, "final": {}}
        res["site"] = {"state": "detecting", "familiar": 42, "familiar_over_threshold": 3}
    return res


META = {"model": "m.ltcn", "threshold": 0.5, "micro_batch": 256, "block_timeout": 2,
        "learn": 180.0, "command": "python experiments/lab_time_to_block.py"}


def test_table_says_what_the_site_learned_only_when_it_learned():
    plain = summarize([_setting(False)], {**META, "learn": None})
    assert "| 1 s | dos_tcp | 3 | 3 | 1.30 s |" in plain
    assert "Site baseline" not in plain
    learned = summarize([_setting(True)], META)
    assert learned.startswith(plain.split("\nCommand:")[0])  # the same measurement table first
    assert "learned for 180 s" in learned
    assert "| 1 s | 2: 198.18.77.10, 198.18.77.11 | 900 | 0.7310 (new flows) | 42 (3) |" in learned


def test_final_statistics_are_read_from_the_log(tmp_path):
    log = tmp_path / "detect1.log"
    assert final_stats(log) == {}  # no log: nothing, not an error
    log.write_text('ltcn detect: kernels ready in 1.0 s\nltcn detect final: {"flows": 7, '
                   '"site": {"state": "detecting", "threshold": 0.6}}\n')
    assert final_stats(log)["site"]["threshold"] == 0.6


def test_alerts_on_flows_a_victim_started_are_kept(tmp_path):
    alerts = tmp_path / "alerts.jsonl"
    assert benign_source_alerts(alerts, set()) == []
    bot, victim = "198.19.80.7", "198.18.77.10"
    alerts.write_text("\n".join(json.dumps(a) for a in [
        {"src_ip": bot, "dest_ip": victim, "proto": "UDP"},  # the attack: not kept
        {"src_ip": victim, "dest_ip": bot, "proto": "ICMP"},  # the victim's reply: kept
        {"src_ip": "198.18.77.11", "dest_ip": "198.19.77.20", "proto": "UDP"}]) + "\n")
    kept = benign_source_alerts(alerts, {bot})
    assert [a["src_ip"] for a in kept] == [victim, "198.18.77.11"]
    assert len(benign_source_alerts(alerts, {bot}, most=1)) == 1


def test_learning_and_attack_detectors_share_their_flags(tmp_path):
    args = argparse.Namespace(model="m.ltcn", threshold=0.5, micro_batch=256,
                              allow_unsigned=False)
    argv = detector_argv(args, 1, tmp_path / "a.jsonl")
    assert argv[argv.index("--status-interval") + 1] == "1"
    assert "--firewall" not in argv and "--state-dir" not in argv


@pytest.mark.parametrize("text", ["0", "-5", "nan", "inf", "3m", ""])
def test_learn_takes_positive_seconds(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected seconds"):
        positive_seconds(text)
    assert positive_seconds("180") == 180.0
