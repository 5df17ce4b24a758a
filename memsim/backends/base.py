"""The backend interface every backend implements, and the per-tile arrays it works on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Backend", "TileStatistics"]


@dataclass
class TileStatistics:
    """Per-weight recording arrays of a tile, living on the tile's backend.

    ``n_up``/``n_down`` count pulses over the tile's whole life; the float sums cover only updates
    made while recording (the averaging window): ``sum_abs_grad`` = sum of ``|Delta|/lr = |g|``,
    ``sum_abs_grad_w`` = sum of ``|g| * w`` (``w`` read before the update), ``sum_w`` = sum of the
    weights after each update.
    """

    n_up: Any
    n_down: Any
    sum_abs_grad: Any
    sum_abs_grad_w: Any
    sum_w: Any

    @classmethod
    def zeros(cls, backend: "Backend", rows: int, cols: int) -> "TileStatistics":
        """Fresh zero arrays on ``backend``."""
        z = backend.xp.zeros
        return cls(z((rows, cols), dtype=np.int64), z((rows, cols), dtype=np.int64),
                   z((rows, cols), dtype=np.float64), z((rows, cols), dtype=np.float64),
                   z((rows, cols), dtype=np.float64))


class Backend:
    """Array namespace plus the fixed set of keyword-only operations a tile needs.

    Subclasses set ``name`` and ``xp`` and implement :meth:`pulse_update` and :meth:`pulse_update_dense`.
    """

    name = "base"
    xp = np

    def __init__(self, dtype=np.float64):
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"The 'dtype' parameter of get_backend must be one of 'float32', 'float64'. "
                             f"Got {dtype!r} instead.")
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dtype={self.dtype.name})"

    # ---------------------------------------------------------------- arrays
    def asarray(self, a, dtype=None):
        """``a`` as an array of this backend (default dtype: the backend's)."""
        return self.xp.asarray(a, dtype=self.dtype if dtype is None else dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A NumPy copy of a backend array."""
        return np.array(a, copy=True)

    # ---------------------------------------------------------------- VMMs
    def mvm(self, *, weights, x):
        """Forward VMM ``y = x W^T`` for a batch ``x`` of shape (batch, cols)."""
        return x @ weights.T

    def mvm_t(self, *, weights, d):
        """Backward VMM ``d W`` for a batch ``d`` of shape (batch, rows)."""
        return d @ weights

    # ---------------------------------------------------------------- updates
    def pulse_update(self, *, device, rule, weights, cell_params, x, d, lr, step, seed, record, stats):
        """Apply the batch (x: (batch, cols), d: (batch, rows), float64) as sequential per-sample
        programming events numbered ``step, step+1, ...``; update ``weights`` and ``stats`` in place."""
        raise NotImplementedError

    def pulse_update_dense(self, *, device, rule, weights, cell_params, grad, lr, step, seed, record, stats):
        """One programming event per cell requesting ``-lr * grad`` (grad: (rows, cols), float64)."""
        raise NotImplementedError
