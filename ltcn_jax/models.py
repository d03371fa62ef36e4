"""Flax linen classifiers for windows of flow features.

Every model takes ``x: f32[batch, time, features]`` plus a ``train`` flag (dropout is active
only when ``train=True``, which then needs a ``"dropout"`` rng) and returns LOGITS of shape
``[batch, num_classes]``; softmax belongs to the loss and to prediction.

L-TCN parameter tree
--------------------
The edge engine exports the L-TCN weights by name, so the names below are part of the
interface. They, the layer order and the receptive field are owned by
:class:`ltcn_kernels.arch.LTCNArch` (numpy only, shared with the engine, the exporter and
the complexity counts); this module builds its Flax modules from that description. With
``B = len(channels)`` blocks, ``C_i = channels[i]``, ``C_{-1} = features``,
``k = kernel_size`` and ``J = convs_per_block``::

    params
    ├── block_{i}                      for i in 0..B-1
    │   ├── conv_{j}                   for j in 0..J-1  (dilation = dilations[i])
    │   │   ├── kernel  f32[k, C_in, C_i]   C_in = C_{i-1} if j == 0 else C_i
    │   │   └── bias    f32[C_i]
    │   └── residual                   only when C_{i-1} != C_i (1x1 conv)
    │       ├── kernel  f32[1, C_{i-1}, C_i]
    │       └── bias    f32[C_i]
    └── head
        ├── kernel  f32[C_{B-1}, num_classes]
        └── bias    f32[num_classes]

Kernels use the standard ``nn.Conv`` layout ``(time_tap, in, out)``: tap ``0`` multiplies the
OLDEST input of the window (``t - d * (k - 1)``) and tap ``k - 1`` the current step ``t``.

Block ``i`` computes::

    h = x
    repeat J times: h = Dropout(ReLU(CausalConv_{k, d_i}(h)))
    out = ReLU(residual(x) + h)          residual = identity or 1x1 conv

and the head is ``Dense(num_classes)`` applied to the last time step (or to every step when
``return_sequence=True``; the same parameters are used either way).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from flax import linen as nn

from ltcn_kernels import arch as A


def _causal_conv(layer: A.Layer) -> nn.Conv:
    """An ``nn.Conv`` configured as the dilated causal convolution ``layer``."""
    return nn.Conv(
        features=layer.c_out,
        kernel_size=(layer.k,),
        kernel_dilation=(layer.dilation,),
        padding=((layer.pad, 0),),
        name=layer.module,
    )


class TemporalBlock(nn.Module):
    """One L-TCN residual block, running the layers `LTCNArch.block_layers` lists for it."""

    layers: tuple[A.Layer, ...]
    dropout_rate: float = 0.1

    @nn.compact
    def __call__(self, x: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
        h, residual = x, x  # the identity unless the block has a 1x1 residual conv
        for layer in self.layers:
            if layer.role == A.CONV:
                h = nn.relu(_causal_conv(layer)(h))
                h = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(h)
            elif layer.role == A.RESIDUAL:
                residual = nn.Conv(layer.c_out, kernel_size=(1,), name=layer.module)(x)
        return nn.relu(residual + h)


class LTCN(nn.Module):
    """Lightweight Temporal Convolutional Network classifier.

    Attributes:
        num_classes: number of output classes (logits).
        channels: output channels of each residual block.
        dilations: dilation of each block (same length as ``channels``).
        kernel_size: temporal kernel size of every dilated convolution.
        convs_per_block: dilated convolutions per block.
        dropout_rate: dropout after every convolution's ReLU (training only).
        return_sequence: if True return per-time-step logits ``[batch, time, classes]``
            (used to check causality); otherwise logits of the last step only.
    """

    num_classes: int
    channels: Sequence[int] = A.DEFAULT_CHANNELS
    dilations: Sequence[int] = A.DEFAULT_DILATIONS
    kernel_size: int = A.DEFAULT_KERNEL_SIZE
    convs_per_block: int = A.DEFAULT_CONVS_PER_BLOCK
    dropout_rate: float = 0.1
    return_sequence: bool = False

    @classmethod
    def from_arch(cls, arch: A.LTCNArch, **kwargs) -> LTCN:
        """The module of an architecture (``kwargs``: dropout_rate, return_sequence)."""
        return cls(num_classes=arch.num_classes, channels=arch.channels,
                   dilations=arch.dilations, kernel_size=arch.kernel_size,
                   convs_per_block=arch.convs_per_block, **kwargs)

    def arch(self, n_features: int) -> A.LTCNArch:
        """This model's layout for inputs of ``n_features`` channels per step."""
        return A.LTCNArch(n_features, self.num_classes, tuple(self.channels),
                          tuple(self.dilations), self.kernel_size, self.convs_per_block)

    @property
    def receptive_field(self) -> int:
        """Input steps that influence one output step (`ltcn_kernels.arch.receptive_field`)."""
        return A.receptive_field(self.kernel_size, self.dilations, self.convs_per_block)

    @nn.compact
    def __call__(self, x: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
        if x.ndim != 3:
            raise ValueError(f"expected x of shape (batch, time, features), got {x.shape}")
        arch = self.arch(x.shape[-1])
        h = x
        for i in range(arch.n_blocks):
            block = TemporalBlock(
                layers=arch.block_layers(i), dropout_rate=self.dropout_rate, name=A.block_name(i)
            )
            h = block(h, train=train)
        if not self.return_sequence:
            h = h[:, -1, :]
        return nn.Dense(arch.head.c_out, name=arch.head.name)(h)


class LSTMClassifier(nn.Module):
    """Stacked LSTM baseline (the source paper's "cloud LSTM").

    Param tree: ``lstm_{i}/cell/...`` (``nn.OptimizedLSTMCell``) for each layer, ``head``.

    Attributes:
        num_classes: number of output classes.
        hidden_sizes: units of each LSTM layer.
        dropout_rate: dropout on the outputs of every LSTM layer (training only).
    """

    num_classes: int
    hidden_sizes: Sequence[int] = (64, 64)
    dropout_rate: float = 0.1

    @nn.compact
    def __call__(self, x: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
        h = x
        for i, units in enumerate(self.hidden_sizes):
            # parent=None hands the cell to nn.RNN, so its params nest under ``lstm_{i}``
            # instead of appearing as siblings named ``OptimizedLSTMCell_{i}``.
            cell = nn.OptimizedLSTMCell(units, parent=None)
            h = nn.RNN(cell, name=f"lstm_{i}")(h)
            h = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(h)
        return nn.Dense(self.num_classes, name="head")(h[:, -1, :])


class TransformerClassifier(nn.Module):
    """Small causal pre-LN Transformer encoder baseline.

    Param tree: ``embed`` (Dense), ``pos_embedding`` f32[max_len, d_model],
    ``layer_{i}/{ln_attn, attn, ln_mlp, mlp_in, mlp_out}``, ``ln_final``, ``head``.

    Attributes:
        num_classes: number of output classes.
        d_model: embedding width.
        num_heads: attention heads (must divide ``d_model``).
        num_layers: encoder layers.
        mlp_dim: hidden width of each feed-forward block.
        max_len: longest supported window (size of the learned positional embedding).
        dropout_rate: dropout on attention weights and residual branches (training only).
    """

    num_classes: int
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    mlp_dim: int = 128
    max_len: int = 128
    dropout_rate: float = 0.1

    @nn.compact
    def __call__(self, x: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
        _, t, _ = x.shape
        if t > self.max_len:
            raise ValueError(f"window length {t} exceeds max_len={self.max_len}")
        h = nn.Dense(self.d_model, name="embed")(x)
        pos = self.param(
            "pos_embedding", nn.initializers.normal(stddev=0.02), (self.max_len, self.d_model)
        )
        h = h + pos[None, :t, :]
        h = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(h)
        # Causal so the last step summarises the window exactly like the LSTM/TCN do.
        mask = nn.make_causal_mask(jnp.ones(x.shape[:2], dtype=jnp.int32))
        for i in range(self.num_layers):
            h = _EncoderLayer(
                num_heads=self.num_heads,
                mlp_dim=self.mlp_dim,
                dropout_rate=self.dropout_rate,
                name=f"layer_{i}",
            )(h, mask, train=train)
        h = nn.LayerNorm(name="ln_final")(h)
        return nn.Dense(self.num_classes, name="head")(h[:, -1, :])


class _EncoderLayer(nn.Module):
    """Pre-LN encoder layer: ``x + Attn(LN(x))`` then ``x + MLP(LN(x))``."""

    num_heads: int
    mlp_dim: int
    dropout_rate: float

    @nn.compact
    def __call__(self, x: jnp.ndarray, mask: jnp.ndarray, *, train: bool) -> jnp.ndarray:
        d_model = x.shape[-1]
        y = nn.LayerNorm(name="ln_attn")(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads,
            dropout_rate=self.dropout_rate,
            deterministic=not train,
            name="attn",
        )(y, y, mask=mask)
        x = x + nn.Dropout(rate=self.dropout_rate, deterministic=not train)(y)
        y = nn.LayerNorm(name="ln_mlp")(x)
        y = nn.gelu(nn.Dense(self.mlp_dim, name="mlp_in")(y))
        y = nn.Dense(d_model, name="mlp_out")(y)
        return x + nn.Dropout(rate=self.dropout_rate, deterministic=not train)(y)


class HeavyCNN(nn.Module):
    """Heavier, non-dilated stacked 1-D CNN baseline with global average pooling.

    Param tree: ``conv_{i}`` for each layer, ``head``. Convolutions use ``SAME`` padding (the
    model is not causal: it pools over the whole window).

    Attributes:
        num_classes: number of output classes.
        channels: output channels of each convolution.
        kernel_size: temporal kernel size of every convolution.
        dropout_rate: dropout after every convolution's ReLU (training only).
    """

    num_classes: int
    channels: Sequence[int] = (64, 128, 128, 256)
    kernel_size: int = 5
    dropout_rate: float = 0.1

    @nn.compact
    def __call__(self, x: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
        h = x
        for i, c in enumerate(self.channels):
            h = nn.Conv(c, kernel_size=(self.kernel_size,), padding="SAME", name=f"conv_{i}")(h)
            h = nn.relu(h)
            h = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(h)
        h = jnp.mean(h, axis=1)
        return nn.Dense(self.num_classes, name="head")(h)


def paper_scale_ltcn_kwargs() -> dict:
    """L-TCN configuration at the scale of the source paper's unpruned model.

    The paper reports an 8.8 MB fp32 model, i.e. about 2.2 M parameters. With the default
    4 blocks, ``kernel_size=3``, two convolutions per block and dilations ``(1, 2, 4, 8)``,
    channels ``(192, 288, 352, 352)`` give, with ``num_classes=5``, 2,199,909 parameters
    (8.80 MB fp32) for 122 input features (NSL-KDD after one-hot encoding) and 2,198,373 for
    120 features. The receptive field is 61 steps.

    The input width is not an argument: the first convolution infers it from the data.

    Returns:
        Keyword arguments for `LTCN` (everything except ``num_classes``).
    """
    return {
        "channels": (192, 288, 352, 352),
        "dilations": (1, 2, 4, 8),
        "kernel_size": 3,
        "convs_per_block": 2,
        "dropout_rate": 0.1,
    }
