"""The source paper's reported figures, quoted in one place (never measured here).

Ch. V. S. S. P. Kumar and S. Gupta, "Edge-Native Machine Learning Frameworks for Real-Time
Intrusion Detection in IoT Networks" (https://internationalpubls.com/index.php/cana/article/view/6839;
received 2023-06-20, accepted 2023-08-07). Every row of its Tables I-VII is here, with the
abstract's and the text's figures, so that ``results/paper_tables.md`` can set each beside ours
and a corrected quote is corrected everywhere. ``table`` names where the figure is printed
("I" ... "VII", ``ABSTRACT``, or a figure or the text); ``value`` is a number, or the paper's
words where it prints no number (Table II's lists, Table V's failure, Table VI's battery drain).
The paper states no split, seeds, sample, dense runtime or power meter: these are claims to test.
"""

from __future__ import annotations

from dataclasses import dataclass

ABSTRACT = "abstract"


@dataclass(frozen=True)
class Claim:
    key: str
    value: float | str
    unit: str
    table: str  # "I" ... "VII" (comma-separated where printed twice), ABSTRACT, "Fig. 5", "text"
    what: str
    decimals: int | None = None  # the places the paper prints (98.60 %), where :g would drop a zero

    def quoted(self) -> str:
        """The figure as the paper prints it, with its unit (records with thousands separators)."""
        if isinstance(self.value, str):
            return self.value
        if self.unit == "records":
            return f"{self.value:,.0f}"
        number = f"{self.value:.{self.decimals}f}" if self.decimals is not None else f"{self.value:g}"
        return f"{number} {self.unit}".rstrip()


CLAIMS: tuple[Claim, ...] = (
    # Table I: datasets
    Claim("nsl_kdd_records", 125_973, "records", "I", "NSL-KDD records used"),
    Claim("nsl_kdd_normal_pct", 53.4, "%", "I", "NSL-KDD share of normal records"),
    Claim("nsl_kdd_attack_pct", 46.6, "%", "I", "NSL-KDD share of attack records"),
    Claim("cicids2017_records", 1_500_000, "records", "I", "CICIDS2017 records used"),
    Claim("cicids2017_normal_pct", 80.3, "%", "I", "CICIDS2017 share of normal records"),
    Claim("cicids2017_attack_pct", 19.7, "%", "I", "CICIDS2017 share of attack records"),
    Claim("bot_iot_records", 2_000_000, "records", "I", "BoT-IoT records used"),
    Claim("bot_iot_normal_pct", 5.0, "%", "I", "BoT-IoT share of normal records"),
    Claim("bot_iot_attack_pct", 95.0, "%", "I", "BoT-IoT share of attack records"),
    # Table II: hyperparameters
    Claim("filter_sizes", "16, 32, 64", "", "II", "filter size (k)"),
    Claim("dilations", "1, 2, 4, 8", "", "II", "dilation rates (d)"),
    Claim("learning_rate", 0.001, "", "II", "learning rate"),
    Claim("optimizer", "Adam", "", "II", "optimizer"),
    Claim("target_sparsity", 60.0, "%", "II", "pruning target sparsity"),
    # Table III: model complexity
    Claim("transformer_params_m", 12.5, "M parameters", "III", "Transformer-based IDS"),
    Claim("transformer_mb", 50.1, "MB", "III", "Transformer-based IDS, inference size"),
    Claim("heavy_cnn_params_m", 4.2, "M parameters", "III", "cloud heavy CNN"),
    Claim("heavy_cnn_mb", 16.8, "MB", "III", "cloud heavy CNN, inference size"),
    Claim("federated_cnn_params_m", 2.5, "M parameters", "III", "federated learning CNN"),
    Claim("federated_cnn_mb", 10.0, "MB", "III", "federated learning CNN, inference size"),
    Claim("pruned_params_m", 0.9, "M parameters", "III", "L-TCN after pruning"),
    Claim("pruned_mb", 3.5, "MB", "III, VII", "L-TCN after pruning (60 %), inference size"),
    Claim("fewer_params_than_transformer_pct", 78.0, "%", "III",
          "the text: the pruned L-TCN has 78 % fewer parameters than the Transformer"),
    # Table IV: classification (and the abstract's headline figures, the same numbers)
    Claim("lstm_cicids2017_accuracy", 98.60, "%", "IV", "cloud LSTM, CICIDS2017, accuracy", 2),
    Claim("lstm_cicids2017_precision", 98.21, "%", "IV", "cloud LSTM, CICIDS2017, precision", 2),
    Claim("lstm_cicids2017_recall", 98.15, "%", "IV", "cloud LSTM, CICIDS2017, recall", 2),
    Claim("lstm_cicids2017_f1", 98.18, "%", "IV", "cloud LSTM, CICIDS2017, F1", 2),
    Claim("cicids2017_accuracy", 98.92, "%", "IV", "L-TCN, CICIDS2017, accuracy (the abstract's 'up to 98.92 %')", 2),
    Claim("cicids2017_precision", 98.88, "%", "IV", "L-TCN, CICIDS2017, precision", 2),
    Claim("cicids2017_recall", 98.63, "%", "IV", "L-TCN, CICIDS2017, recall", 2),
    Claim("cicids2017_f1", 98.75, "%", "IV", "L-TCN, CICIDS2017, F1 (the abstract's F1; averaging not stated)", 2),
    Claim("lstm_bot_iot_accuracy", 99.10, "%", "IV", "cloud LSTM, BoT-IoT, accuracy", 2),
    Claim("lstm_bot_iot_precision", 99.05, "%", "IV", "cloud LSTM, BoT-IoT, precision", 2),
    Claim("lstm_bot_iot_recall", 99.11, "%", "IV", "cloud LSTM, BoT-IoT, recall", 2),
    Claim("lstm_bot_iot_f1", 99.08, "%", "IV", "cloud LSTM, BoT-IoT, F1", 2),
    Claim("bot_iot_accuracy", 99.45, "%", "IV", "L-TCN, BoT-IoT, accuracy", 2),
    Claim("bot_iot_precision", 99.40, "%", "IV", "L-TCN, BoT-IoT, precision", 2),
    Claim("bot_iot_recall", 99.30, "%", "IV", "L-TCN, BoT-IoT, recall", 2),
    Claim("bot_iot_f1", 99.35, "%", "IV", "L-TCN, BoT-IoT, F1", 2),
    Claim("cicids2017_roc_auc", 0.989, "", "Fig. 5", "ROC AUC 'near 0.989 across multiple cross-validation runs', CICIDS2017"),
    # Table V: end-to-end latency, a batch of 1,000 flows
    Claim("cloud_lstm_ms", 145.2, "ms", "V", "1,000 flows answered by an LSTM in the cloud"),
    Claim("transformer_edge", "out of memory (failed)", "", "V", "Transformer-based IDS on the edge hardware"),
    Claim("federated_cnn_ms", 45.0, "ms", "V", "1,000 flows, federated learning CNN on the edge hardware"),
    Claim("edge_ltcn_ms", 12.8, "ms", "V", "1,000 flows on the gateway (L-TCN, 60 % sparse, Pi 4)"),
    Claim("latency_reduction_pct", 82.0, "%", "V", "latency reduction of edge against cloud (the text)"),
    # Table VI: gateway power
    Claim("cnn_w", 4.8, "W", "VI", "power of a standard embedded CNN on the Pi 4"),
    Claim("cnn_battery", "high", "", "VI", "battery drain of the embedded CNN"),
    Claim("ltcn_w", 2.6, "W", "VI", "power of the pruned L-TCN on the Pi 4"),
    Claim("ltcn_battery", "low", "", "VI", "battery drain of the pruned L-TCN"),
    Claim("cloud_energy_saving_pct", 45.0, "%", ABSTRACT, "energy saved against cloud-based detection"),
    # Table VII: pruning ablation
    Claim("unpruned_mb", 8.8, "MB", "VII", "unpruned L-TCN, fp32 (about 2.2 M parameters)"),
    Claim("pruned_40_mb", 5.3, "MB", "VII", "L-TCN pruned 40 %, size"),
    Claim("pruned_80_mb", 1.5, "MB", "VII", "L-TCN pruned 80 %, size"),
    Claim("dense_accuracy", 99.12, "%", "VII", "accuracy of the unpruned L-TCN in the pruning table", 2),
    Claim("pruned_40_accuracy", 99.05, "%", "VII", "accuracy at 40 % sparsity", 2),
    Claim("pruned_60_accuracy", 98.92, "%", "VII", "accuracy at 60 % sparsity", 2),
    Claim("pruned_80_accuracy", 88.40, "%", "VII", "accuracy at 80 % sparsity", 2),
    Claim("dense_ms", 24.5, "ms", "VII", "1,000 flows, dense L-TCN, Raspberry Pi 4"),
    Claim("pruned_40_ms", 17.2, "ms", "VII", "1,000 flows, L-TCN at 40 % sparsity, Raspberry Pi 4"),
    Claim("pruned_60_ms", 12.8, "ms", "VII", "1,000 flows, L-TCN at 60 % sparsity, Raspberry Pi 4"),
    Claim("pruned_80_ms", 9.0, "ms", "VII", "1,000 flows, L-TCN at 80 % sparsity, Raspberry Pi 4"),
    Claim("pruned_60_f1_drop_pct", 0.2, "%", "VII", "the text: pruning 60 % costs 'only a 0.2 % drop in F1'"),
)

_BY_KEY = {c.key: c for c in CLAIMS}


def claim(key: str) -> Claim:
    """The quoted figure ``key``; unknown keys raise ``KeyError`` listing the known ones."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"no quoted paper figure {key!r}; known: {', '.join(_BY_KEY)}") from None


def value(key: str) -> float:
    """The number the paper reports for ``key``; a figure it gives in words only (Table II's lists,
    Table V's failure, Table VI's battery drain) raises ``TypeError``: quote it with ``claim(key).quoted()``."""
    v = claim(key).value
    if isinstance(v, str):
        raise TypeError(f"the paper gives {key!r} in words ({v!r}), not as a number")
    return v
