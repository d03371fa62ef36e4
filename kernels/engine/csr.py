"""Compressed sparse row (CSR) storage of convolution kernels, numpy only.

A causal 1-D convolution kernel ``w[tap, c_in, c_out]`` is stored as a ``c_out x (k * c_in)``
matrix, row = output channel, column = ``tap * c_in + c_in_index``: each non-zero weight then
drives one contiguous run of multiply-adds along time. Indices use the smallest unsigned
integer type that holds them: on an edge device the index bytes are a large share of a sparse
model's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def index_dtype(max_value: int) -> np.dtype:
    """The smallest unsigned integer dtype that can hold ``max_value``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


@dataclass(frozen=True)
class CSR:
    """A CSR matrix: ``values[indptr[r]:indptr[r+1]]`` are row r's non-zeros at ``indices``."""

    values: np.ndarray  # float32 (nnz,)
    indices: np.ndarray  # unsigned (nnz,) column of each value
    indptr: np.ndarray  # unsigned (rows + 1,)
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.indices.nbytes + self.indptr.nbytes)

    def to_dense(self) -> np.ndarray:
        dense = np.zeros(self.shape, np.float32)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr.astype(np.int64)))
        dense[rows, self.indices.astype(np.int64)] = self.values
        return dense


def kernel_matrix(kernel: np.ndarray) -> np.ndarray:
    """``(k, c_in, c_out)`` convolution kernel (or ``(c_in, c_out)`` dense weight) as the
    ``c_out x (k * c_in)`` matrix that :func:`csr_from_dense` stores."""
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim == 2:
        kernel = kernel[None]
    k, c_in, c_out = kernel.shape
    return np.ascontiguousarray(kernel.reshape(k * c_in, c_out).T)


def kernel_from_matrix(matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`kernel_matrix`: the ``c_out x (k * c_in)`` matrix back as a
    float32 kernel of ``shape`` (``(k, c_in, c_out)`` or ``(c_in, c_out)``)."""
    return np.ascontiguousarray(np.asarray(matrix).T.reshape(shape), dtype=np.float32)


def csr_from_dense(matrix: np.ndarray) -> CSR:
    """Exact zeros are dropped; everything else is kept as float32."""
    matrix = np.asarray(matrix, np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a matrix, got shape {matrix.shape}")
    rows, cols = np.nonzero(matrix)
    nnz = len(rows)
    counts = np.bincount(rows, minlength=matrix.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index_dtype(nnz))
    return CSR(
        values=matrix[rows, cols].astype(np.float32),
        indices=cols.astype(index_dtype(max(matrix.shape[1] - 1, 0))),
        indptr=indptr,
        shape=(int(matrix.shape[0]), int(matrix.shape[1])),
    )


def csr_bytes(kernel: np.ndarray) -> int:
    """Bytes of a kernel stored as CSR (values, narrow indices, row pointers)."""
    return csr_from_dense(kernel_matrix(kernel)).nbytes
