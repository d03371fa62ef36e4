"""The source paper's reported figures, quoted in one place (never measured here).

Ch. V. S. S. P. Kumar and S. Gupta, "Edge-Native Machine Learning Frameworks for Real-Time
Intrusion Detection in IoT Networks" (https://internationalpubls.com/index.php/cana/article/view/6839).
Every benchmark, experiment and report that sets our numbers beside the paper's reads them from
here, so a corrected quote is corrected everywhere. ``table`` is the paper's table where the
project's record of the paper names it (the issues and the design card), ``ABSTRACT`` for the
abstract's figures, and None where our record of the figure names no table.
"""

from __future__ import annotations

from dataclasses import dataclass

ABSTRACT = "abstract"


@dataclass(frozen=True)
class Claim:
    key: str
    value: float
    unit: str
    table: str | None  # "V", "VI", "VII", ABSTRACT, or None where our record names no table
    what: str


CLAIMS: tuple[Claim, ...] = (
    Claim("cicids2017_accuracy", 98.92, "%", ABSTRACT,
          "L-TCN accuracy on CICIDS2017 (the abstract's 'up to 98.92 %')"),
    Claim("best_f1", 98.75, "%", ABSTRACT, "L-TCN F1-score (the abstract; data set and averaging not stated)"),
    Claim("bot_iot_accuracy", 99.45, "%", ABSTRACT, "L-TCN accuracy on BoT-IoT"),
    Claim("unpruned_mb", 8.8, "MB", None, "unpruned L-TCN, fp32 (about 2.2 M parameters)"),
    Claim("pruned_params_m", 0.9, "M parameters", None, "L-TCN after pruning"),
    Claim("pruned_mb", 3.5, "MB", None, "L-TCN after pruning"),
    Claim("dense_accuracy", 99.12, "%", "VII", "accuracy of the unpruned L-TCN in the pruning table"),
    Claim("pruned_80_accuracy", 88.40, "%", "VII", "accuracy at 80 % sparsity"),
    Claim("dense_ms", 24.5, "ms", "VII", "1,000 flows, dense L-TCN, Raspberry Pi 4"),
    Claim("pruned_60_ms", 12.8, "ms", "VII", "1,000 flows, L-TCN at 60 % sparsity, Raspberry Pi 4"),
    Claim("cloud_lstm_ms", 145.2, "ms", "V", "1,000 flows answered by an LSTM in the cloud"),
    Claim("edge_ltcn_ms", 12.8, "ms", "V", "1,000 flows on the gateway (L-TCN, 60 % sparse, Pi 4)"),
    Claim("latency_reduction_pct", 82.0, "%", "V", "latency reduction of edge against cloud"),
    Claim("ltcn_w", 2.6, "W", "VI", "power of the pruned L-TCN on the Pi 4"),
    Claim("cnn_w", 4.8, "W", "VI", "power of an embedded CNN on the Pi 4"),
    Claim("cloud_energy_saving_pct", 45.0, "%", ABSTRACT, "energy saved against cloud-based detection"),
)  # fmt: skip

_BY_KEY = {c.key: c for c in CLAIMS}


def claim(key: str) -> Claim:
    """The quoted figure ``key``; unknown keys raise ``KeyError`` listing the known ones."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"no quoted paper figure {key!r}; known: {', '.join(_BY_KEY)}") from None


def value(key: str) -> float:
    """The number the paper reports for ``key``."""
    return claim(key).value
