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
Layers, in the execution order of :attr:`ltcn_kernels.arch.LTCNArch.layers`, are rows of the
int64 table ``meta[n_layers, N_META]`` (columns ``M_*`` in :mod:`ltcn_kernels.engine._kernels`)::

    block 0: conv_0 .. conv_{J-1} (ROLE_CONV), then ROLE_RESIDUAL (1x1 conv) or ROLE_IDENTITY
    block 1: ...
    head (ROLE_HEAD, a 1x1 conv without ReLU)

columns: role, block, j, c_in, c_out, k, dilation, pad = d*(k-1), val_off, nnz, ptr_off,
bias_off, state_off. Every weighted layer is the ``c_out x (k*c_in)`` matrix of
:func:`ltcn_kernels.csr.kernel_matrix` (column = ``tap * c_in + c``; tap ``k-1`` is the
current step, tap ``0`` the oldest) stored in concatenated arrays:

* ``format="sparse"`` (CSR): ``values`` f32 (non-zeros of all layers), ``indices`` (column of each
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..arch import CONV, HEAD, IDENTITY, RESIDUAL, Layer, LTCNArch
from . import _kernels as _k
from ._layout import tile_layout
from .csr import csr_from_dense, index_dtype, kernel_matrix

__all__ = ["FORMATS", "EngineModel", "flat_params_from_tree"]

FORMATS = ("sparse", "dense")  # the engine axis: CSR weights (non-zeros only) or every entry
_ROLES = {CONV: _k.ROLE_CONV, RESIDUAL: _k.ROLE_RESIDUAL, IDENTITY: _k.ROLE_IDENTITY,
          HEAD: _k.ROLE_HEAD}


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


def _load(params: Mapping[str, np.ndarray], path: str) -> np.ndarray:
    """``params[path]`` as float32, refusing integer arrays and NaN / infinite weights."""
    arr = params[path]
    if not np.issubdtype(arr.dtype, np.floating) and arr.size:
        raise ValueError(f"parameter {path!r} is {arr.dtype}, expected floats")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"parameter {path!r} holds NaN or infinite values")
    return arr


def _weights(
    layer: Layer, params: Mapping[str, np.ndarray]
) -> tuple[np.ndarray | None, np.ndarray]:
    """(``c_out x (k*c_in)`` matrix or None for an identity, bias) of one layer."""
    if layer.role == IDENTITY:
        return None, np.zeros(0, np.float32)
    return kernel_matrix(_load(params, layer.kernel_path)), _load(params, layer.bias_path)


def _packed(arch: LTCNArch, params: Mapping[str, np.ndarray], format: str) -> dict:
    """The concatenated arrays and the ``meta`` table of the module docstring."""
    layers = [(layer, *_weights(layer, params)) for layer in arch.layers]
    sparse = format == "sparse"
    csrs = {r: csr_from_dense(mat) for r, (_, mat, _) in enumerate(layers)
            if sparse and mat is not None}
    max_col = max((layers[r][1].shape[1] - 1 for r in csrs), default=0)
    idx_dt = index_dtype(max_col)
    ptr_dt = index_dtype(max((c.nnz for c in csrs.values()), default=0))
    meta = np.zeros((len(layers), _k.N_META), np.int64)
    vals, idxs, ptrs, biases = [], [], [], []
    voff = poff = boff = soff = 0
    for r, (layer, mat, b) in enumerate(layers):
        row = meta[r]
        row[_k.M_ROLE], row[_k.M_BLOCK], row[_k.M_J] = _ROLES[layer.role], layer.block, layer.j
        row[_k.M_CIN], row[_k.M_COUT] = layer.c_in, layer.c_out
        row[_k.M_K], row[_k.M_DIL], row[_k.M_PAD] = layer.k, layer.dilation, layer.pad
        row[_k.M_VAL_OFF], row[_k.M_BIAS_OFF], row[_k.M_PTR_OFF] = voff, boff, -1
        row[_k.M_STATE_OFF] = soff
        if layer.role == CONV:
            soff += layer.c_in * layer.pad
        if mat is None:
            continue
        if sparse:
            csr = csrs[r]
            vals.append(csr.values)
            idxs.append(csr.indices.astype(idx_dt))
            ptrs.append(csr.indptr.astype(ptr_dt))
            row[_k.M_NNZ], row[_k.M_PTR_OFF] = csr.nnz, poff
            poff += layer.c_out + 1
        else:
            vals.append(mat.ravel())
            row[_k.M_NNZ] = mat.size
        voff += int(row[_k.M_NNZ])
        biases.append(b)
        boff += layer.c_out

    def cat(parts, dtype):
        return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0, dtype),
                                    dtype=dtype)

    empty = np.zeros(0, np.uint8)
    return {
        "meta": meta,
        "values": cat(vals, np.float32),
        "indices": cat(idxs, idx_dt) if sparse else empty,
        "indptr": cat(ptrs, ptr_dt) if sparse else empty.copy(),
        "bias": cat(biases, np.float32),
    }


def _sizes(arch: LTCNArch) -> dict[str, int]:
    """The buffer sizes a model's layers imply: ``pad_max`` (the causal padding columns),
    ``c_max`` (activation rows: the widest layer input or output) and ``state_size`` (stream
    history floats: ``c_in * pad`` per conv, laid out at each conv's ``state_off``)."""
    layers = arch.layers
    return {
        "pad_max": max(layer.pad for layer in layers),
        "c_max": max(arch.n_features, arch.num_classes, *arch.channels),
        "state_size": sum(layer.c_in * layer.pad for layer in layers if layer.role == CONV),
    }


def _as_params(flat_params: Mapping[str, np.ndarray], format: str) -> dict[str, np.ndarray]:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if not isinstance(flat_params, Mapping):
        raise ValueError("flat_params must be a dict of path -> array")
    return {str(p): np.asarray(v) for p, v in flat_params.items()}


@dataclass(frozen=True, eq=False)
class EngineModel:
    """A flattened L-TCN ready for the compiled engine (see the module docstring)."""

    format: str  # "sparse" (CSR weights) or "dense"
    arch: LTCNArch
    meta: np.ndarray  # int64 [n_layers, N_META]
    values: np.ndarray  # float32
    indices: np.ndarray  # unsigned (empty for dense)
    indptr: np.ndarray  # unsigned (empty for dense)
    bias: np.ndarray  # float32
    pad_max: int  # largest d * (k - 1): the causal padding columns of the buffers
    c_max: int  # rows of the activation buffers: the widest layer input or output
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
        format: str = "sparse",
    ) -> EngineModel:
        """Build from flat Flax param paths (see :func:`flat_params_from_tree`); channels,
        features and classes are read off the shapes (:meth:`LTCNArch.from_params`).

        Raises:
            ValueError: unknown format, bad architecture ints, missing / unexpected
                parameters, shapes that do not chain, or non-finite weights.
        """
        params = _as_params(flat_params, format)
        arch = LTCNArch.from_params(
            params, dilations=dilations, kernel_size=kernel_size, convs_per_block=convs_per_block
        )
        return cls._build(arch, params, format)

    @classmethod
    def from_arch(
        cls, arch: LTCNArch, flat_params: Mapping[str, np.ndarray], *, format: str = "sparse"
    ) -> EngineModel:
        """Build a known architecture (e.g. an artifact's manifest) from its flat params.

        Raises:
            ValueError: as :meth:`from_params`, or params that do not fit ``arch``.
        """
        params = _as_params(flat_params, format)
        arch.check_params(params)
        return cls._build(arch, params, format)

    @classmethod
    def _build(cls, arch: LTCNArch, params: Mapping[str, np.ndarray], format: str) -> EngineModel:
        packed = _packed(arch, params, format)
        for value in packed.values():
            if isinstance(value, np.ndarray):
                # A model is immutable, and read-only like a model mapped from its file
                # (artifact.engine_model): one compiled specialisation serves both.
                value.flags.writeable = False
        return cls(format=format, arch=arch, **packed, **_sizes(arch),
                   layer_names=tuple(layer.name for layer in arch.layers))

    # The architecture facts the runners read.
    n_features = property(lambda self: self.arch.n_features)
    n_classes = property(lambda self: self.arch.num_classes)
    channels = property(lambda self: self.arch.channels)
    dilations = property(lambda self: self.arch.dilations)
    kernel_size = property(lambda self: self.arch.kernel_size)
    convs_per_block = property(lambda self: self.arch.convs_per_block)

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
        return self.arch.receptive_field

    def macs_per_step(self) -> int:
        """Multiply-adds the engine performs per time step (stored weights)."""
        return self.nnz

    def layer(self, name: str) -> dict[str, int]:
        """The metadata row of a layer (``"block_0/conv_1"``, ``"block_2/residual"``, ``"head"``)."""
        r = self.layer_names.index(name)
        cols = ("role", "block", "j", "c_in", "c_out", "k", "dilation", "pad", "val_off", "nnz",
                "ptr_off", "bias_off", "state_off")
        return {c: int(v) for c, v in zip(cols, self.meta[r], strict=True)}

    @cached_property
    def _tile_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """(per-weight tile offsets, per-layer row groups) for this host's tile kernels,
        derived on first use (:mod:`ltcn_kernels.engine._layout`)."""
        return tile_layout(self.meta, self.indices, self.indptr, self.nnz, self.dense)

    def _args(self):
        offsets, groups = self._tile_layout
        return (self.meta, self.values, self.indices, self.indptr, self.bias, self.dense, offsets,
                groups)

    # ------------------------------------------------------------------ packed arrays
    # The packed layout as plain arrays and scalars: what a model file stores, so that a model
    # is built straight from the stored (memory-mapped, read-only) arrays without a copy.

    @classmethod
    def _engine_fields(cls) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(array fields, scalar fields): every dataclass field but ``arch``, split by its
        annotation, so a format that adds arrays (e.g. block-sparse tiles) needs no change in
        :meth:`engine_arrays`, :meth:`engine_scalars` or the model file."""
        arrays, scalars = [], []
        for f in cls.__dataclass_fields__.values():
            if f.name == "arch":
                continue
            annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            (arrays if annotation in ("np.ndarray", "ndarray") else scalars).append(f.name)
        return tuple(arrays), tuple(scalars)

    def engine_arrays(self) -> dict[str, np.ndarray]:
        """Every array field by name (``meta``, ``values``, ``indices``, ``indptr``, ``bias``):
        the arrays themselves, not copies."""
        return {name: getattr(self, name) for name in self._engine_fields()[0]}

    def engine_scalars(self) -> dict:
        """The int / str / tuple fields (``format``, ``pad_max``, ``c_max``, ``state_size``,
        ``layer_names``), everything but ``arch``."""
        return {name: getattr(self, name) for name in self._engine_fields()[1]}

    @classmethod
    def from_engine_arrays(
        cls, arch: LTCNArch, arrays: Mapping[str, np.ndarray], scalars: Mapping
    ) -> EngineModel:
        """The model from :meth:`engine_arrays` and :meth:`engine_scalars` (e.g. read-only views
        of a memory-mapped file), using the arrays as they are: nothing is copied.

        The compiled kernels do not bounds-check, so everything they index by is checked here:
        each array's dtype, shape and contiguity; ``meta`` row by row against ``arch`` (roles,
        channels, taps, dilations), every row's offsets and ``nnz`` inside the arrays; for CSR
        each layer's ``indptr`` (from 0, non-decreasing, ending at the layer's ``nnz``) and
        ``indices`` (below ``k * c_in``, ascending within each row); the scalars against
        ``arch``; and finite weights. (The tile layout the kernels derive on first use,
        ``_tile_layout``, is not a field: it is computed from these checked arrays.)

        Raises:
            ValueError: naming the field, layer or entry that does not fit.
        """
        array_names, scalar_names = cls._engine_fields()
        if not isinstance(arch, LTCNArch):
            raise ValueError(f"arch must be an LTCNArch, got {type(arch).__name__}")
        for what, given, names in (("arrays", arrays, array_names),
                                   ("scalars", scalars, scalar_names)):
            if not isinstance(given, Mapping):
                raise ValueError(f"engine {what} must be a mapping, got {type(given).__name__}")
            missing = [n for n in names if n not in given]
            extra = sorted(str(n) for n in given if n not in names)
            if missing or extra:
                raise ValueError(f"engine {what}: missing {missing}, unexpected {extra}")
        for name in array_names:
            a = arrays[name]
            if not isinstance(a, np.ndarray):
                raise ValueError(f"engine array {name!r} is a {type(a).__name__}, not an ndarray")
            if not (a.flags.c_contiguous and a.flags.aligned and a.dtype.isnative):
                raise ValueError(f"engine array {name!r} must be C-contiguous, aligned, native")
        fmt = scalars["format"]
        if not isinstance(fmt, str) or fmt not in FORMATS:
            raise ValueError(f"engine format must be one of {FORMATS}, got {fmt!r}")
        ints = {}
        for name in ("pad_max", "c_max", "state_size"):
            v = scalars[name]
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise ValueError(f"engine {name} must be a non-negative integer, got {v!r}")
            ints[name] = int(v)
        names = scalars["layer_names"]
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise ValueError("engine layer_names must be a list of strings")
        layers = arch.layers
        for name, v in _sizes(arch).items():
            if ints[name] != v:
                raise ValueError(f"engine {name} is {ints[name]}, the architecture gives {v}")
        if tuple(names) != tuple(layer.name for layer in layers):
            raise ValueError("engine layer_names do not match the architecture's layers")
        cls._check_packed(arch, fmt, arrays, ints["state_size"])
        fields = {n: scalars[n] for n in scalar_names}
        fields.update(ints, format=fmt, layer_names=tuple(names))
        return cls(arch=arch, **fields, **{n: arrays[n] for n in array_names})

    @staticmethod
    def _check_packed(arch: LTCNArch, fmt: str, arrays: Mapping[str, np.ndarray],
                      state_size: int) -> None:
        """The array checks of :meth:`from_engine_arrays` (the module docstring's layout)."""
        meta, values, bias = arrays["meta"], arrays["values"], arrays["bias"]
        indices, indptr = arrays["indices"], arrays["indptr"]
        layers = arch.layers
        if meta.dtype != np.int64 or meta.shape != (len(layers), _k.N_META):
            raise ValueError(f"engine meta is {meta.dtype}{list(meta.shape)}, expected "
                             f"int64[{len(layers)}, {_k.N_META}] (one row per layer)")
        for name, a in (("values", values), ("bias", bias)):
            if a.dtype != np.float32 or a.ndim != 1:
                raise ValueError(f"engine {name} is {a.dtype}{list(a.shape)}, expected float32[n]")
        for name, a in (("indices", indices), ("indptr", indptr)):
            if a.dtype.kind != "u" or a.ndim != 1:
                raise ValueError(f"engine {name} is {a.dtype}{list(a.shape)}, expected unsigned[n]")
        sparse = fmt == "sparse"
        if sparse and indices.shape != values.shape:
            raise ValueError(f"engine indices has {indices.size} entries, values {values.size}")
        if not sparse and (indices.size or indptr.size):
            raise ValueError("a dense engine stores no indices or indptr")
        cols = (_k.M_ROLE, _k.M_BLOCK, _k.M_J, _k.M_CIN, _k.M_COUT, _k.M_K, _k.M_DIL, _k.M_PAD)
        for r, layer in enumerate(layers):
            row = [int(v) for v in meta[r]]
            expect = (_ROLES[layer.role], layer.block, layer.j, layer.c_in, layer.c_out, layer.k,
                      layer.dilation, layer.pad)
            if tuple(row[c] for c in cols) != expect:
                raise ValueError(f"engine meta row {r} does not describe layer {layer.name!r}")
            voff, nnz, poff = row[_k.M_VAL_OFF], row[_k.M_NNZ], row[_k.M_PTR_OFF]
            boff, soff = row[_k.M_BIAS_OFF], row[_k.M_STATE_OFF]
            where = f"layer {layer.name!r}"
            if layer.role == CONV and not 0 <= soff <= state_size - layer.c_in * layer.pad:
                raise ValueError(f"{where}: state_off {soff} is outside the stream state")
            if layer.role == IDENTITY:
                if nnz != 0 or poff != -1:
                    raise ValueError(f"{where}: an identity stores no weights")
                continue
            kc = layer.k * layer.c_in
            if not 0 <= boff <= bias.size - layer.c_out:
                raise ValueError(f"{where}: bias_off {boff} + {layer.c_out} is outside bias")
            if not (0 <= nnz <= layer.c_out * kc and 0 <= voff <= values.size - nnz):
                raise ValueError(f"{where}: val_off {voff} / nnz {nnz} outside values "
                                 f"({values.size}) or the layer ({layer.c_out}x{kc})")
            if not sparse:
                if nnz != layer.c_out * kc or poff != -1:
                    raise ValueError(f"{where}: a dense layer stores all {layer.c_out * kc} "
                                     "weights and no indptr")
                continue
            if not 0 <= poff <= indptr.size - (layer.c_out + 1):
                raise ValueError(f"{where}: ptr_off {poff} + {layer.c_out + 1} is outside indptr")
            ptr = indptr[poff : poff + layer.c_out + 1]
            if int(ptr[0]) != 0 or int(ptr[-1]) != nnz:
                raise ValueError(f"{where}: indptr runs {int(ptr[0])}..{int(ptr[-1])}, "
                                 f"expected 0..{nnz}")
            if np.any(ptr[1:] < ptr[:-1]):
                raise ValueError(f"{where}: indptr decreases")
            if nnz == 0:
                continue
            columns = indices[voff : voff + nnz]
            if int(columns.max()) >= kc:
                raise ValueError(f"{where}: a column index is >= k * c_in = {kc}")
            # The kernels track each weight's tap from the previous one (no division): the
            # columns must ascend within every row, or an input row index would wrap around.
            ascending = columns[1:] > columns[:-1]
            starts = ptr[1:-1].astype(np.int64)
            ascending[starts[(starts > 0) & (starts < nnz)] - 1] = True  # a new row may restart
            if not ascending.all():
                raise ValueError(f"{where}: column indices do not ascend within a row")
        for name, a in (("values", values), ("bias", bias)):
            # min / max propagate NaN and show an infinity: no temporary array.
            if a.size and not (np.isfinite(a.min()) and np.isfinite(a.max())):
                raise ValueError(f"engine {name} hold NaN or infinite values")
