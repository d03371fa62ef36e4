"""Model complexity: parameters, fp32 size and multiply-accumulates (MACs).

Conventions (read these before quoting a number):

* A MAC is one multiply-add of a weight with an activation. Bias adds, activations,
  normalisation, softmax and pooling are not counted.
* "MB" is 10**6 bytes; fp32 size = 4 bytes per parameter (the paper's 8.8 MB = 2.2 M params).
* ``window`` is the number of time steps fed to a model to classify one flow.

Every ``*_macs`` function returns a dict with:

* ``per_flow``: MACs to classify one flow from a window of ``window`` steps, computing
  only what that decision needs. For the L-TCN this is the dependency-pruned cost of the LAST
  output step only (activations that cannot reach it are skipped; taps falling on the zero
  left-padding are skipped). For the LSTM it is the full recurrence over the window; for the
  Transformer and the CNN the dense forward pass over the window.
* ``full_window``: a dense forward pass computing every layer at every window position (what
  a batched `model.apply` does; for convolutions this includes the multiplications by the
  zero padding).
* ``per_step``: streaming cost of one NEW time step once earlier activations are cached
  (L-TCN: one output per layer from cached dilated inputs; LSTM: one recurrence step;
  Transformer: one token with a KV cache over ``window`` keys). None for the non-causal CNN,
  which has to recompute its pooled window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from ltcn_jax.model_kinds import kind_of
from ltcn_jax.models import LTCN, HeavyCNN, LSTMClassifier, TransformerClassifier
from ltcn_kernels.arch import LTCNArch

BYTES_FP32 = 4


def param_count(params: Any) -> int:
    """Total number of scalars in a parameter pytree (arrays or `ShapeDtypeStruct`s)."""
    return int(sum(int(x.size) for x in jax.tree.leaves(params)))


def fp32_megabytes(num_params: int) -> float:
    """Size of ``num_params`` fp32 values in MB (10**6 bytes)."""
    return num_params * BYTES_FP32 / 1e6


def model_param_count(model: nn.Module, num_features: int, window: int = 8) -> int:
    """Parameter count of ``model`` for ``num_features`` inputs (shape-only init, no compute)."""
    x = jax.ShapeDtypeStruct((1, window, num_features), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
    return param_count(variables["params"])


def ltcn_param_count(
    num_features: int,
    num_classes: int,
    channels: Sequence[int],
    kernel_size: int,
    convs_per_block: int,
) -> int:
    """Closed-form L-TCN parameter count (`ltcn_kernels.arch.LTCNArch.param_count`)."""
    # Dilations change no shape; one per block only to make the architecture complete.
    arch = LTCNArch(num_features, num_classes, tuple(channels), (1,) * len(channels),
                    kernel_size, convs_per_block)
    return arch.param_count()


def _last_output_macs(arch: LTCNArch, window: int) -> int:
    """MACs of the LAST output step only: walk back from ``{window - 1}``, tracking which
    positions each layer must produce, and count only taps that land inside the window."""
    needed = {window - 1}
    total = arch.head.macs
    for i in reversed(range(arch.n_blocks)):
        *convs, residual = arch.block_layers(i)
        block_out = set(needed)
        total += len(block_out) * residual.macs  # 1x1 conv at the output positions (or 0)
        for conv in reversed(convs):
            inputs = set()
            for s in needed:
                taps = [s - m * conv.dilation for m in range(conv.k) if s - m * conv.dilation >= 0]
                total += len(taps) * conv.c_in * conv.c_out
                inputs.update(taps)
            needed = inputs
        # The residual reads the block input at the output positions, already included.
        needed |= block_out
    return total


def ltcn_macs(model: LTCN, num_features: int, window: int | None = None) -> dict[str, int]:
    """MACs of the L-TCN (see the module docstring for the three quantities).

    Args:
        model: the L-TCN configuration.
        num_features: input features per step.
        window: steps in the classification window (default: the receptive field, the
            shortest window that gives the last output its full context).

    Returns:
        ``{"per_flow", "full_window", "per_step", "window", "receptive_field"}``.
    """
    arch = model.arch(num_features)
    window = arch.receptive_field if window is None else int(window)
    # Streaming and dense costs: one output position per layer, resp. `window` of them.
    per_step = arch.macs_per_step()
    head = arch.head.macs
    return {
        "per_flow": int(_last_output_macs(arch, window)),
        "full_window": int((per_step - head) * window + head),
        "per_step": int(per_step),
        "window": window,
        "receptive_field": arch.receptive_field,
    }


def lstm_macs(model: LSTMClassifier, num_features: int, window: int) -> dict[str, int]:
    """MACs of the stacked LSTM: ``4 * H * (in + H)`` per layer and step, plus the head."""
    step, c_in = 0, num_features
    for h in model.hidden_sizes:
        step += 4 * h * (c_in + h)
        c_in = h
    head = c_in * model.num_classes
    full = step * window + head
    return {"per_flow": full, "full_window": full, "per_step": step + head, "window": window}


def transformer_macs(
    model: TransformerClassifier, num_features: int, window: int
) -> dict[str, int]:
    """MACs of the encoder; attention counted densely (the causal mask is not exploited)."""
    d, m, t = model.d_model, model.mlp_dim, window
    embed = num_features * d
    proj = 4 * d * d + 2 * d * m  # q, k, v, out projections + MLP, per token and layer
    full = t * embed + model.num_layers * (t * proj + 2 * t * t * d) + d * model.num_classes
    # One new token with a KV cache: its projections and its attention over `t` keys.
    step = embed + model.num_layers * (proj + 2 * t * d) + d * model.num_classes
    return {"per_flow": full, "full_window": full, "per_step": step, "window": window}


def heavy_cnn_macs(model: HeavyCNN, num_features: int, window: int) -> dict[str, Any]:
    """MACs of the stacked CNN (``SAME`` padding, dense: every position and tap)."""
    total, c_in = 0, num_features
    for c in model.channels:
        total += window * model.kernel_size * c_in * c
        c_in = c
    total += c_in * model.num_classes
    return {"per_flow": total, "full_window": total, "per_step": None, "window": window}


def model_macs(model: nn.Module, num_features: int, window: int) -> dict[str, Any]:
    """The MACs of ``model`` by the counter its kind names (`ltcn_jax.model_kinds`).

    Raises:
        TypeError: a model of no registered kind, or of a kind without a counter.
    """
    return kind_of(model).count_macs(model, num_features, window)


def complexity_table(
    models: Mapping[str, nn.Module], num_features: int, window: int
) -> list[dict[str, Any]]:
    """One row per model: name, params, fp32 MB and MACs.

    Args:
        models: display name -> model.
        num_features: input features per step.
        window: classification window length (the same for every model, for comparability).

    Returns:
        Rows ``{"model", "params", "fp32_mb", "macs_per_flow", "macs_full_window",
        "macs_per_step", "window"}`` (JSON-serialisable; see the module docstring for what
        each MAC column means).
    """
    rows = []
    for name, model in models.items():
        n = model_param_count(model, num_features, window)
        macs = model_macs(model, num_features, window)
        rows.append(
            {
                "model": name,
                "params": n,
                "fp32_mb": round(fp32_megabytes(n), 4),
                "macs_per_flow": macs["per_flow"],
                "macs_full_window": macs["full_window"],
                "macs_per_step": macs["per_step"],
                "window": window,
            }
        )
    return rows
