"""What ``make demo`` tells a newcomer: the headline number, the seeded reference, the paper."""

from __future__ import annotations

import json

from conftest import REPO
from ltcn_jax.demo import _print_headline, _print_stored_baselines

RESULTS = REPO / "results"


def _result(acc: float) -> dict:
    return {"test": {"binary": {"accuracy": acc}}}


def test_headline_names_the_number_the_seeded_interval_and_the_paper(capsys):
    _print_headline(_result(0.8412), RESULTS)
    out = capsys.readouterr().out
    seeded = json.loads((RESULTS / "seeds/nsl_kdd_quickstart/metrics.json").read_text())
    mean = 100 * seeded["test"]["attack_vs_normal_accuracy"]["mean"]
    assert "headline: attack-vs-normal accuracy of the 60 %-pruned L-TCN on KDDTest+ = 84.12 %" in out
    assert f"over {seeded['seeds']} seeds: {mean:.2f} +- " in out
    assert "the paper: no NSL-KDD figure" in out and "98.92 %" in out


def test_headline_without_stored_results_still_names_the_number(capsys):
    _print_headline(_result(0.5), None)
    out = capsys.readouterr().out
    assert "= 50.00 %" in out and "seeds:" not in out


def test_stored_baselines_prefer_the_seeded_runs_and_label_one_seed(tmp_path, capsys):
    _print_stored_baselines(RESULTS)
    lines = capsys.readouterr().out.splitlines()
    assert any("nsl_kdd_lstm" in ln and "5 seeds:" in ln for ln in lines)
    single = tmp_path / "nsl_kdd_cnn"
    single.mkdir()
    (single / "metrics.json").write_text((RESULTS / "nsl_kdd_cnn/metrics.json").read_text())
    _print_stored_baselines(tmp_path)
    assert capsys.readouterr().out.strip().endswith("ONE seed]")
