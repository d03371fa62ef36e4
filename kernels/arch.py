"""The L-TCN architecture, written once: layers, parameter names and shapes, receptive field.

Everything that has to agree on the network's layout reads it from :class:`LTCNArch` instead
of re-encoding it: the Flax model (:mod:`ltcn_jax.models`) takes its module names and defaults
from here, the edge engine packs :attr:`LTCNArch.layers` in order, a model's spec
(:class:`~ltcn_kernels.spec.ModelSpec`: this plus how records are fed) writes
:meth:`LTCNArch.to_dict` into the artifact manifest's ``"architecture"`` entry, and the ONNX
graph, the NumPy reference runtime and the complexity counts walk the same layer list. Changing
the layout is therefore one edit here. Numpy and the standard library only: the edge (a
Raspberry Pi without JAX) imports it.

Flat parameter paths, with ``B = len(channels)`` blocks, ``C_i = channels[i]``,
``C_{-1} = n_features``, ``k = kernel_size`` and ``J = convs_per_block``::

    block_{i}/conv_{j}/kernel   f32[k, C_in, C_i]    j in 0..J-1; C_in = C_{i-1} if j == 0 else C_i
    block_{i}/conv_{j}/bias     f32[C_i]
    block_{i}/residual/kernel   f32[1, C_{i-1}, C_i] only when C_{i-1} != C_i (else: identity)
    block_{i}/residual/bias     f32[C_i]
    head/kernel                 f32[C_{B-1}, num_classes]
    head/bias                   f32[num_classes]
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CONV",
    "DEFAULT_CHANNELS",
    "DEFAULT_CONVS_PER_BLOCK",
    "DEFAULT_DILATIONS",
    "DEFAULT_KERNEL_SIZE",
    "HEAD",
    "IDENTITY",
    "RESIDUAL",
    "LTCNArch",
    "Layer",
    "block_index",
    "block_name",
    "conv_name",
    "is_conv_kernel",
    "is_head_kernel",
    "is_residual_kernel",
    "kernel_predicate",
    "receptive_field",
]

# The default L-TCN (also the Flax `LTCN`'s field defaults).
DEFAULT_CHANNELS = (16, 32, 64, 64)
DEFAULT_DILATIONS = (1, 2, 4, 8)
DEFAULT_KERNEL_SIZE = 3
DEFAULT_CONVS_PER_BLOCK = 2

MODEL = "ltcn"  # the manifest's "model" entry
# Module names, which double as the layer roles (a dilated conv's role is CONV).
CONV, RESIDUAL, IDENTITY, HEAD = "conv", "residual", "identity", "head"
KERNEL, BIAS = "kernel", "bias"
# The architecture's own fields (the rest of an `LTCN`'s kwargs, e.g. dropout, is training).
HYPERPARAMETERS = ("channels", "dilations", "kernel_size", "convs_per_block")

_BLOCK_PATH = re.compile(r"block_(\d+)/")


def block_name(i: int) -> str:
    """Module name of residual block ``i`` (the first component of its param paths)."""
    return f"block_{i}"


def conv_name(j: int) -> str:
    """Module name of the ``j``-th dilated convolution inside a block."""
    return f"conv_{j}"


def block_index(path: str) -> int | None:
    """The block a flat param path belongs to (``"block_3/conv_0/kernel"`` -> 3), else None."""
    m = _BLOCK_PATH.match(path)
    return int(m.group(1)) if m else None


def is_conv_kernel(path: str) -> bool:
    """A block's kernel: a dilated conv or a 1x1 residual conv (what CSR stores and pruning
    thins; the head and the biases are not)."""
    return block_index(path) is not None and path.endswith(f"/{KERNEL}")


def is_residual_kernel(path: str) -> bool:
    """A block's 1x1 residual projection kernel."""
    return is_conv_kernel(path) and path.split("/")[-2] == RESIDUAL


def is_head_kernel(path: str) -> bool:
    """The dense head's kernel."""
    return path == f"{HEAD}/{KERNEL}"


def kernel_predicate(
    *, include_residual: bool = True, include_head: bool = False
) -> Callable[[str], bool]:
    """``path -> bool`` selecting the block kernels (residual ones optionally) and, optionally,
    the head kernel: the default pruning selection."""

    def select(path: str) -> bool:
        if is_conv_kernel(path):
            return include_residual or not is_residual_kernel(path)
        return include_head and is_head_kernel(path)

    return select


def _as_int(name: str, value: Any) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _check_hyper(dilations: tuple[int, ...], kernel_size: int, convs_per_block: int) -> None:
    if not dilations:
        raise ValueError("dilations is empty: the L-TCN needs at least one block")
    if any(d < 1 for d in dilations):
        raise ValueError(f"dilations must be >= 1, got {dilations}")
    if kernel_size < 1 or convs_per_block < 1:
        raise ValueError(
            f"kernel_size and convs_per_block must be >= 1, got {kernel_size} and {convs_per_block}"
        )


def receptive_field(kernel_size: int, dilations: Sequence[int], convs_per_block: int) -> int:
    """Input steps that can influence one output step: ``1 + J * (k - 1) * sum(dilations)``.

    Each causal conv with kernel ``k`` and dilation ``d`` looks ``d * (k - 1)`` steps further
    back (its :attr:`Layer.pad`); the 1x1 residual convs and the head add nothing. Needs no
    channel counts, so the Flax model can ask before it has seen an input.
    """
    dilations = tuple(_as_int("dilations", d) for d in dilations)
    kernel_size, convs_per_block = int(kernel_size), int(convs_per_block)
    _check_hyper(dilations, kernel_size, convs_per_block)
    return 1 + convs_per_block * (kernel_size - 1) * sum(dilations)


def _shape_error(path: str, got: Sequence, want: Sequence, why: str = "") -> ValueError:
    extra = f" ({why})" if why else ""
    return ValueError(f"parameter {path!r} has shape {tuple(got)}, expected {tuple(want)}{extra}")


@dataclass(frozen=True)
class Layer:
    """One layer in execution order. ``name`` is its flat param prefix (``"block_0/conv_1"``,
    ``"block_2/residual"``, ``"head"``); identity residuals get a name (``"block_1/identity"``)
    but no params, because the engine still runs them as a step."""

    name: str
    role: str  # CONV | RESIDUAL | IDENTITY | HEAD
    block: int  # -1 for the head
    j: int  # conv index inside the block; -1 for residual / identity / head
    c_in: int
    c_out: int
    k: int = 1
    dilation: int = 1

    @property
    def pad(self) -> int:
        """Causal left padding: the past steps this layer reads beyond the current one."""
        return self.dilation * (self.k - 1)

    @property
    def module(self) -> str:
        """The Flax submodule name (the last component of ``name``)."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def kernel_shape(self) -> tuple[int, ...] | None:
        """``nn.Conv`` layout ``(k, c_in, c_out)``; the head is a ``Dense`` ``(c_in, c_out)``."""
        if self.role == IDENTITY:
            return None
        if self.role == HEAD:
            return (self.c_in, self.c_out)
        return (self.k, self.c_in, self.c_out)

    @property
    def kernel_path(self) -> str:
        return f"{self.name}/{KERNEL}"

    @property
    def bias_path(self) -> str:
        return f"{self.name}/{BIAS}"

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{kernel path: shape, bias path: (c_out,)}``; empty for an identity."""
        shape = self.kernel_shape
        if shape is None:
            return {}
        return {self.kernel_path: shape, self.bias_path: (self.c_out,)}

    @property
    def macs(self) -> int:
        """Dense multiply-adds per time step (every kernel entry once)."""
        return 0 if self.role == IDENTITY else self.k * self.c_in * self.c_out

    def kernel_mismatch(self, got: Sequence[int]) -> str:
        """Why a kernel of shape ``got`` does not fit this layer (for error messages)."""
        if self.role == RESIDUAL:
            return "1x1 residual conv"
        if self.role == HEAD:
            return "last block's channels x classes"
        if len(got) != 3:
            return "a (k, C_in, C_out) kernel"
        if got[0] != self.k:
            return f"kernel_size={self.k}"
        if got[1] != self.c_in:
            return "input channels must match the previous layer's output channels"
        return "all convs of a block share C_out"


@dataclass(frozen=True)
class LTCNArch:
    """An L-TCN's layout (see the module docstring); validated and normalised on creation.

    Attributes:
        n_features: input channels per time step (the manifest's ``input_channels``).
        num_classes: output classes (logits).
        channels: output channels of each residual block.
        dilations: dilation of each block's convs (one per block).
        kernel_size: temporal kernel size of every dilated conv.
        convs_per_block: dilated convs per block.
    """

    n_features: int
    num_classes: int
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    dilations: tuple[int, ...] = DEFAULT_DILATIONS
    kernel_size: int = DEFAULT_KERNEL_SIZE
    convs_per_block: int = DEFAULT_CONVS_PER_BLOCK

    def __post_init__(self) -> None:
        # Accept lists (JSON) and numpy ints; store plain ints so equality and JSON just work.
        for name in ("n_features", "num_classes", "kernel_size", "convs_per_block"):
            object.__setattr__(self, name, _as_int(name, getattr(self, name)))
        for name in ("channels", "dilations"):
            object.__setattr__(self, name, tuple(_as_int(name, v) for v in getattr(self, name)))
        _check_hyper(self.dilations, self.kernel_size, self.convs_per_block)
        if len(self.channels) != len(self.dilations):
            raise ValueError(
                f"channels {self.channels} and dilations {self.dilations} must have the same "
                "length (one dilation per block)"
            )
        if any(c < 1 for c in self.channels):
            raise ValueError(f"channels must be >= 1, got {self.channels}")
        if self.n_features < 1 or self.num_classes < 1:
            raise ValueError(
                f"n_features and num_classes must be >= 1, got {self.n_features} and "
                f"{self.num_classes}"
            )

    # ------------------------------------------------------------------ layout

    @property
    def n_blocks(self) -> int:
        return len(self.channels)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, self.dilations, self.convs_per_block)

    def block_layers(self, i: int) -> tuple[Layer, ...]:
        """Block ``i``'s layers: its dilated convs, then its residual (1x1 conv or identity)."""
        c_in = self.n_features if i == 0 else self.channels[i - 1]
        c, d, block = self.channels[i], self.dilations[i], block_name(i)
        convs = tuple(
            Layer(f"{block}/{conv_name(j)}", CONV, i, j, c_in if j == 0 else c, c,
                  self.kernel_size, d)
            for j in range(self.convs_per_block)
        )
        # A 1x1 conv only where the channel count changes: the identity is free at the edge.
        role = RESIDUAL if c_in != c else IDENTITY
        return (*convs, Layer(f"{block}/{role}", role, i, -1, c_in, c))

    @property
    def head(self) -> Layer:
        return Layer(HEAD, HEAD, -1, -1, self.channels[-1], self.num_classes)

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Every layer in execution order (blocks in order, then the head)."""
        blocks = (layer for i in range(self.n_blocks) for layer in self.block_layers(i))
        return (*blocks, self.head)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{flat param path: shape}`` in execution order (the Flax model's param tree)."""
        return {p: s for layer in self.layers for p, s in layer.param_shapes.items()}

    def param_count(self) -> int:
        return sum(int(np.prod(s)) for s in self.param_shapes().values())

    def macs_per_step(self) -> int:
        """Dense multiply-adds to compute one new time step of every layer, head included."""
        return sum(layer.macs for layer in self.layers)

    # ------------------------------------------------------------------ params

    def check_params(self, flat: Mapping[str, Any]) -> None:
        """Raise ValueError unless ``flat`` (path -> array) holds exactly this layout's params
        with these shapes; the message names the first path that does not fit, and why."""
        for layer in self.layers:
            if layer.role == IDENTITY:
                residual = f"{block_name(layer.block)}/{RESIDUAL}"
                held = [p for p in (f"{residual}/{KERNEL}", f"{residual}/{BIAS}") if p in flat]
                if held:
                    raise ValueError(
                        f"{block_name(layer.block)} keeps {layer.c_out} channels, so its residual "
                        f"is the identity, but the params hold {held[0]!r}"
                    )
            for path, want in layer.param_shapes.items():
                if path not in flat:
                    raise ValueError(f"missing parameter {path!r}")
                got = tuple(np.shape(flat[path]))
                if got != want:
                    why = layer.kernel_mismatch(got) if path.endswith(KERNEL) else ""
                    raise _shape_error(path, got, want, why)
        extra = sorted(set(flat) - set(self.param_shapes()))
        if extra:
            raise ValueError(
                f"unexpected parameters {extra} (convs_per_block={self.convs_per_block}, "
                f"{self.n_blocks} blocks)"
            )

    @classmethod
    def from_params(
        cls,
        flat: Mapping[str, Any],
        *,
        dilations: Sequence[int],
        kernel_size: int = DEFAULT_KERNEL_SIZE,
        convs_per_block: int = DEFAULT_CONVS_PER_BLOCK,
    ) -> LTCNArch:
        """The architecture of flat params: channels, ``n_features`` and ``num_classes`` are
        read off the shapes (dilations cannot be, so they are given); then every param is
        checked (:meth:`check_params`).

        Raises:
            ValueError: bad hyper-parameters, a block count that differs from
                ``len(dilations)``, or params that do not fit.
        """
        dilations = tuple(_as_int("dilations", d) for d in dilations)
        kernel_size = _as_int("kernel_size", kernel_size)
        convs_per_block = _as_int("convs_per_block", convs_per_block)
        _check_hyper(dilations, kernel_size, convs_per_block)
        n = len(dilations)
        blocks = {b for p in flat if (b := block_index(p)) is not None}
        if blocks != set(range(n)):
            raise ValueError(
                f"dilations has {n} entries (one per block) but the params hold blocks "
                f"{sorted(blocks)}; expected {block_name(0)} .. {block_name(n - 1)}"
            )

        def shape(path: str) -> tuple[int, ...]:
            if path not in flat:
                raise ValueError(f"missing parameter {path!r}")
            return tuple(np.shape(flat[path]))

        firsts = []
        for i in range(n):
            path = f"{block_name(i)}/{conv_name(0)}/{KERNEL}"
            if len(s := shape(path)) != 3:
                raise ValueError(f"parameter {path!r} has shape {s}, expected (k, C_in, C_out)")
            firsts.append(s)
        head_path = f"{HEAD}/{KERNEL}"
        if len(head := shape(head_path)) != 2:
            raise _shape_error(head_path, head, (firsts[-1][2], "classes"),
                               "last block's channels x classes")
        if head[1] < 1:
            raise ValueError(f"{head_path} has no output classes")
        arch = cls(firsts[0][1], head[1], tuple(s[2] for s in firsts), dilations, kernel_size,
                   convs_per_block)
        arch.check_params(flat)
        return arch

    # ------------------------------------------------------------------ manifest

    def to_dict(self) -> dict[str, Any]:
        """The network's keys of the artifact manifest's ``"architecture"`` entry (JSON-ready;
        :meth:`ModelSpec.to_dict <ltcn_kernels.spec.ModelSpec.to_dict>` adds how records are
        fed). The key names are a file format: committed ``.ltcn`` files hold them."""
        return {
            "model": MODEL,
            "channels": list(self.channels),
            "dilations": list(self.dilations),
            "kernel_size": self.kernel_size,
            "convs_per_block": self.convs_per_block,
            "num_classes": self.num_classes,
            "input_channels": self.n_features,
            "receptive_field": self.receptive_field,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LTCNArch:
        """Inverse of :meth:`to_dict`. Other keys (``sequence``, ``window``: how the data is
        fed, not the network) are ignored; a stored ``receptive_field`` must agree."""
        if d.get("model", MODEL) != MODEL:
            raise ValueError(f"not an L-TCN architecture (model {d.get('model')!r})")
        missing = [k for k in ("input_channels", "num_classes", *HYPERPARAMETERS) if k not in d]
        if missing:
            raise ValueError(f"architecture entry lacks {missing}")
        arch = cls(d["input_channels"], d["num_classes"],
                   **{k: d[k] for k in HYPERPARAMETERS})
        if "receptive_field" in d and int(d["receptive_field"]) != arch.receptive_field:
            raise ValueError(
                f"architecture says receptive_field={d['receptive_field']}, but its layers give "
                f"{arch.receptive_field}"
            )
        return arch

    @classmethod
    def from_kwargs(
        cls, n_features: int, num_classes: int, kwargs: Mapping[str, Any]
    ) -> LTCNArch:
        """From an ``LTCN``'s constructor kwargs (a run's ``config.json`` ``model.kwargs``):
        the architecture fields are taken, defaults fill the rest, training-only ones such as
        ``dropout_rate`` are not architecture and are left out."""
        given = {k: kwargs[k] for k in HYPERPARAMETERS if k in kwargs}
        return cls(n_features, num_classes, **given)
