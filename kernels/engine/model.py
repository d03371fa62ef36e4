"""L-TCN inference engine for the edge: numpy + Numba, sparse (CSR) or dense weights.

Build an :class:`EngineModel` from the Flax parameters (flattened to ``"block_0/conv_0/kernel"``
style paths, see :func:`flat_params_from_tree`) and run it:

* :func:`logits_windows` / :func:`predict_proba_windows`: independent sequences
  ``f32[n, T, F]`` (causal windows, or NSL-KDD records as 1-channel sequences) -> head on the
  LAST step, ``f32[n, classes]``;
* :func:`logits_sequence` / :func:`predict_proba_sequence`: one long stream ``f32[T, F]`` ->
  head at EVERY step, ``f32[T, classes]`` (the Flax model with ``return_sequence=True``);
* :class:`Stream`: the same stream pushed one flow or a micro-batch at a time, with
  per-layer history buffers; results are bitwise identical to :func:`logits_sequence`.

Every call is ONE compiled Numba call that runs all blocks, residual paths, ReLUs, the head
and the softmax. Nothing here imports jax/flax, and nothing compiles at import.

Model layout (:class:`EngineModel`)
-----------------------------------
Layers, in execution order, are rows of the int64 table ``meta[n_layers, N_META]``
(columns ``M_*`` in :mod:`ltcn_kernels._engine_kernels`)::

    block 0: conv_0 .. conv_{J-1} (ROLE_CONV), then ROLE_RESIDUAL (1x1 conv) or ROLE_IDENTITY
    block 1: ...
    head (ROLE_HEAD, a 1x1 conv without ReLU)

columns: role, block, j, c_in, c_out, k, dilation, pad = d*(k-1), val_off, nnz, ptr_off,
bias_off, state_off. Every weighted layer is the ``c_out x (k*c_in)`` matrix of
:func:`ltcn_kernels.csr.kernel_matrix` (column = ``tap * c_in + c``; tap ``k-1`` is the
current step, tap ``0`` the oldest) stored in concatenated arrays:

* ``format="csr"``: ``values`` f32 (non-zeros of all layers), ``indices`` (column of each
  value; ONE unsigned dtype, the smallest that holds every layer's columns), ``indptr``
  (``c_out + 1`` row pointers per layer, relative to the layer's ``val_off``; the smallest
  unsigned dtype that holds the largest layer's nnz);
* ``format="dense"``: ``values`` holds each layer's full row-major matrix; ``indices`` and
  ``indptr`` are empty.

``bias`` f32 concatenates the biases. The stream state is one f32 vector: for each conv with
``pad > 0`` its last ``pad`` inputs, ``c_in x pad`` at ``state_off``. (Residual 1x1 convs and
the head look at the current step only and need no history.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import _kernels as _k
from .csr import csr_from_dense, index_dtype, kernel_matrix

__all__ = ["FORMATS", "EngineModel", "flat_params_from_tree"]

FORMATS = ("csr", "dense")


def flat_params_from_tree(tree: Mapping) -> dict[str, np.ndarray]:
    """Nested param dict (Flax ``params``, a ``{"params": ...}`` variables dict, a
    ``FrozenDict``) -> ``{"block_0/conv_0/kernel": ndarray, ...}`` (writable float32 numpy
    copies; jax arrays convert through ``np.array`` without importing jax)."""
    if not isinstance(tree, Mapping):
        raise ValueError(f"expected a nested mapping of parameters, got {type(tree).__name__}")
    if set(tree.keys()) == {"params"} and isinstance(tree["params"], Mapping):
        tree = tree["params"]
    flat: dict[str, np.ndarray] = {}

    def walk(node: Mapping, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}/{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                walk(value, path)
            else:
                flat[path] = np.array(value, dtype=np.float32)  # a writable copy

    walk(tree, "")
    return flat


def _shape_error(path: str, got: tuple, want: tuple, why: str = "") -> ValueError:
    extra = f" ({why})" if why else ""
    return ValueError(f"parameter {path!r} has shape {tuple(got)}, expected {tuple(want)}{extra}")


@dataclass(frozen=True, eq=False)
class EngineModel:
    """A flattened L-TCN ready for the compiled engine (see the module docstring)."""

    format: str
    meta: np.ndarray  # int64 [n_layers, N_META]
    values: np.ndarray  # float32
    indices: np.ndarray  # unsigned (empty for dense)
    indptr: np.ndarray  # unsigned (empty for dense)
    bias: np.ndarray  # float32
    n_features: int
    n_classes: int
    channels: tuple[int, ...]
    dilations: tuple[int, ...]
    kernel_size: int
    convs_per_block: int
    pad_max: int  # largest d * (k - 1): the causal padding columns of the buffers
    c_max: int  # rows of the activation buffers
    state_size: int  # floats of stream state
    layer_names: tuple[str, ...] = field(default=())

    @classmethod
    def from_params(
        cls,
        flat_params: Mapping[str, np.ndarray],
        *,
        dilations: Sequence[int],
        kernel_size: int,
        convs_per_block: int,
        format: str = "csr",
    ) -> EngineModel:
        """Build from flat Flax param paths (see :func:`flat_params_from_tree`).

        Raises:
            ValueError: unknown format, bad architecture ints, missing / unexpected
                parameters, shapes that do not chain, or non-finite weights.
        """
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        if not isinstance(flat_params, Mapping):
            raise ValueError("flat_params must be a dict of path -> array")
        dilations = tuple(int(d) for d in dilations)
        kernel_size = int(kernel_size)
        convs_per_block = int(convs_per_block)
        if not dilations:
            raise ValueError("dilations is empty: the L-TCN needs at least one block")
        if any(d < 1 for d in dilations):
            raise ValueError(f"dilations must be >= 1, got {dilations}")
        if kernel_size < 1 or convs_per_block < 1:
            raise ValueError(
                f"kernel_size and convs_per_block must be >= 1, got {kernel_size} and "
                f"{convs_per_block}"
            )
        params = {str(p): np.asarray(v) for p, v in flat_params.items()}
        block_ids = {
            int(m.group(1)) for p in params if (m := re.match(r"block_(\d+)/", p)) is not None
        }
        n_blocks = len(dilations)
        if block_ids != set(range(n_blocks)):
            raise ValueError(
                f"dilations has {n_blocks} entries (one per block) but the params hold blocks "
                f"{sorted(block_ids)}; expected block_0 .. block_{n_blocks - 1}"
            )

        def get(path: str) -> np.ndarray:
            if path not in params:
                raise ValueError(f"missing parameter {path!r}")
            arr = params[path]
            if not np.issubdtype(arr.dtype, np.floating) and arr.size:
                raise ValueError(f"parameter {path!r} is {arr.dtype}, expected floats")
            arr = arr.astype(np.float32)
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"parameter {path!r} holds NaN or infinite values")
            return arr

        layers: list[tuple[str, int, int, int, int, int, int, np.ndarray | None, np.ndarray]] = []
        # (name, role, block, j, k, dil, c_out, matrix [c_out, k*c_in] or None, bias)
        used: set[str] = set()
        k = kernel_size
        c_prev = None
        channels = []
        for i, d in enumerate(dilations):
            c_block_in = c_prev
            c_in = c_prev
            c_out = None
            for j in range(convs_per_block):
                pk, pb = f"block_{i}/conv_{j}/kernel", f"block_{i}/conv_{j}/bias"
                w, b = get(pk), get(pb)
                used.update((pk, pb))
                if w.ndim != 3:
                    raise ValueError(
                        f"parameter {pk!r} has shape {w.shape}, expected (k, C_in, C_out)"
                    )
                if w.shape[0] != k:
                    raise _shape_error(pk, w.shape, (k, *w.shape[1:]), f"kernel_size={k}")
                if c_in is not None and w.shape[1] != c_in:
                    raise _shape_error(
                        pk, w.shape, (k, c_in, w.shape[2]), "input channels must match the "
                        "previous layer's output channels",
                    )
                if c_out is not None and w.shape[2] != c_out:
                    raise _shape_error(
                        pk, w.shape, (k, w.shape[1], c_out), "all convs of a block share C_out"
                    )
                if c_block_in is None:
                    c_block_in = int(w.shape[1])
                c_in, c_out = int(w.shape[1]), int(w.shape[2])
                if b.shape != (c_out,):
                    raise _shape_error(pb, b.shape, (c_out,))
                layers.append(
                    (f"block_{i}/conv_{j}", _k.ROLE_CONV, i, j, k, d, c_out, kernel_matrix(w), b)
                )
                c_in = c_out
            c_in = c_out
            pk, pb = f"block_{i}/residual/kernel", f"block_{i}/residual/bias"
            if c_block_in != c_out:
                w, b = get(pk), get(pb)
                used.update((pk, pb))
                if w.shape != (1, c_block_in, c_out):
                    raise _shape_error(pk, w.shape, (1, c_block_in, c_out), "1x1 residual conv")
                if b.shape != (c_out,):
                    raise _shape_error(pb, b.shape, (c_out,))
                layers.append(
                    (f"block_{i}/residual", _k.ROLE_RESIDUAL, i, -1, 1, 1, c_out,
                     kernel_matrix(w), b)
                )
            else:
                if pk in params or pb in params:
                    raise ValueError(
                        f"block_{i} keeps {c_out} channels, so its residual is the identity, "
                        f"but the params hold {pk!r}"
                    )
                layers.append(
                    (f"block_{i}/identity", _k.ROLE_IDENTITY, i, -1, 1, 1, c_out, None,
                     np.zeros(0, np.float32))
                )
            channels.append(c_out)
            c_prev = c_out
        hw, hb = get("head/kernel"), get("head/bias")
        used.update(("head/kernel", "head/bias"))
        if hw.ndim != 2 or hw.shape[0] != c_prev:
            raise _shape_error(
                "head/kernel", hw.shape, (c_prev, "classes"), "last block's channels x classes"
            )
        n_classes = int(hw.shape[1])
        if n_classes < 1:
            raise ValueError("head/kernel has no output classes")
        if hb.shape != (n_classes,):
            raise _shape_error("head/bias", hb.shape, (n_classes,))
        layers.append(("head", _k.ROLE_HEAD, -1, -1, 1, 1, n_classes, kernel_matrix(hw), hb))
        extra = sorted(set(params) - used)
        if extra:
            raise ValueError(
                f"unexpected parameters {extra} (convs_per_block={convs_per_block}, "
                f"{n_blocks} blocks)"
            )
        n_features = int(layers[0][7].shape[1] // k)

        # Flatten.
        meta = np.zeros((len(layers), _k.N_META), np.int64)
        csr_parts = {}
        max_col = 0
        max_nnz = 0
        if format == "csr":
            for r, (_, _, _, _, _, _, _, mat, _) in enumerate(layers):
                if mat is not None:
                    csr = csr_from_dense(mat)
                    csr_parts[r] = csr
                    max_col = max(max_col, mat.shape[1] - 1)
                    max_nnz = max(max_nnz, csr.nnz)
        idx_dt, ptr_dt = index_dtype(max_col), index_dtype(max_nnz)
        vals, idxs, ptrs, biases = [], [], [], []
        voff = poff = boff = soff = 0
        c_max = max(n_features, n_classes, *channels)
        pad_max = 0
        for r, (_, role, blk, j, kk, d, c_out, mat, b) in enumerate(layers):
            c_in = int(mat.shape[1] // kk) if mat is not None else c_out
            pad = d * (kk - 1)
            pad_max = max(pad_max, pad)
            row = meta[r]
            row[_k.M_ROLE], row[_k.M_BLOCK], row[_k.M_J] = role, blk, j
            row[_k.M_CIN], row[_k.M_COUT], row[_k.M_K], row[_k.M_DIL] = c_in, c_out, kk, d
            row[_k.M_PAD] = pad
            row[_k.M_VAL_OFF], row[_k.M_BIAS_OFF], row[_k.M_PTR_OFF] = voff, boff, -1
            row[_k.M_STATE_OFF] = soff
            if role == _k.ROLE_CONV:
                soff += c_in * pad
            if mat is not None:
                if format == "csr":
                    csr = csr_parts[r]
                    vals.append(csr.values)
                    idxs.append(csr.indices.astype(idx_dt))
                    ptrs.append(csr.indptr.astype(ptr_dt))
                    row[_k.M_NNZ], row[_k.M_PTR_OFF] = csr.nnz, poff
                    poff += c_out + 1
                else:
                    vals.append(mat.ravel())
                    row[_k.M_NNZ] = mat.size
                voff += int(row[_k.M_NNZ])
                biases.append(b)
                boff += c_out

        def cat(parts, dtype):
            return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0, dtype),
                                        dtype=dtype)

        return cls(
            format=format,
            meta=meta,
            values=cat(vals, np.float32),
            indices=cat(idxs, idx_dt) if format == "csr" else np.zeros(0, np.uint8),
            indptr=cat(ptrs, ptr_dt) if format == "csr" else np.zeros(0, np.uint8),
            bias=cat(biases, np.float32),
            n_features=n_features,
            n_classes=n_classes,
            channels=tuple(channels),
            dilations=dilations,
            kernel_size=k,
            convs_per_block=convs_per_block,
            pad_max=pad_max,
            c_max=c_max,
            state_size=soff,
            layer_names=tuple(name for name, *_ in layers),
        )

    @property
    def dense(self) -> bool:
        return self.format == "dense"

    @property
    def nnz(self) -> int:
        """Stored weights (non-zeros for CSR, every entry for dense), biases excluded."""
        return int(self.values.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the stored weights, indices, row pointers and biases."""
        return int(self.values.nbytes + self.indices.nbytes + self.indptr.nbytes + self.bias.nbytes)

    @property
    def receptive_field(self) -> int:
        return 1 + int(self.meta[:, _k.M_PAD].sum())

    def macs_per_step(self) -> int:
        """Multiply-adds the engine performs per time step (stored weights)."""
        return self.nnz

    def layer(self, name: str) -> dict[str, int]:
        """The metadata row of a layer (``"block_0/conv_1"``, ``"block_2/residual"``, ``"head"``)."""
        r = self.layer_names.index(name)
        cols = ("role", "block", "j", "c_in", "c_out", "k", "dilation", "pad", "val_off", "nnz",
                "ptr_off", "bias_off", "state_off")
        return {c: int(v) for c, v in zip(cols, self.meta[r], strict=True)}

    def _args(self):
        return self.meta, self.values, self.indices, self.indptr, self.bias, self.dense

