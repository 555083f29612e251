"""Small array helpers that the layers and the losses share (BLAS-backed sums)."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=32)
def ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones, cached: row and column sums as BLAS products use it."""
    out = np.ones(n, dtype)
    out.flags.writeable = False  # shared between calls: nobody may write into it
    return out


def colsum(a: np.ndarray) -> np.ndarray:
    """Column sums of a 2-D array as a product with ones: one BLAS call, where ``a.sum(axis=0)``
    reduces along the long axis of a narrow array (many rows, few columns) slowly."""
    return np.dot(ones(a.shape[0], a.dtype), a)


def rowsum(a: np.ndarray) -> np.ndarray:
    """Row sums of a 2-D array as a product with ones (one BLAS call)."""
    return np.dot(a, ones(a.shape[1], a.dtype))


def add_scaled(a: np.ndarray, b: np.ndarray, c: float, out=None) -> np.ndarray:
    """``a + c * b`` in ``a``'s dtype (into ``out``, which may be ``a`` when the caller owns it):
    the L2 penalty's gradient and coupled weight decay."""
    return np.add(a, np.multiply(b, c, dtype=a.dtype), out=out)
