"""Compiled dense reads in a fixed summation order (``Backend.sequential_mvm`` on the Numba backend)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["sequential_mvm"]


@njit(cache=True)
def sequential_mvm(w, v, transpose, out):
    """``out[b, j] = sum_i w[j, i] v[b, i]`` (or ``sum_j w[j, i] v[b, j]`` with ``transpose``), each sum
    accumulated in float64 from 0.0 in index order: the same numbers as ``Backend.sequential_mvm``.

    Parameters
    ----------
    w : numpy.ndarray
        The weights, shape (rows, cols).
    v : numpy.ndarray
        The vectors, float64, shape (batch, cols), or (batch, rows) with ``transpose``.
    transpose : bool
        Sum over the rows instead of the columns.
    out : numpy.ndarray
        The result, float64, shape (batch, rows), or (batch, cols) with ``transpose``; written in place.
    """
    rows, cols = w.shape
    for b in range(v.shape[0]):
        if transpose:
            for i in range(cols):
                out[b, i] = 0.0
            for j in range(rows):
                vj = v[b, j]
                for i in range(cols):
                    out[b, i] += np.float64(w[j, i]) * vj
        else:
            for j in range(rows):
                acc = 0.0
                for i in range(cols):
                    acc += np.float64(w[j, i]) * v[b, i]
                out[b, j] = acc
