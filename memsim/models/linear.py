"""Models built from tiles. ``AnalogLinear``: a linear layer on one crossbar tile."""

from __future__ import annotations

import numpy as np

from .tile import Tile
from ..params import check_bool

__all__ = ["AnalogLinear"]


class AnalogLinear:
    """``y = W x (+ b)`` stored on one tile of ``out_features x (in_features + bias)`` devices.

    Parameters
    ----------
    in_features, out_features : int
    device, update, backend, dtype, seed
        Passed to :class:`~memsim.models.tile.Tile`.
    bias : bool
        Append a constant input 1 as an extra (last) column; its weight is a device like any other
        but is excluded from every metric of the analysis.

    Notes
    -----
    The forward pass is the tile's ideal read, computed as a sequential float64 dot product
    (:func:`~memsim.backends.base.sequential_forward`) so that fused training reproduces it bit for bit.
    """

    def __init__(self, in_features: int, out_features: int = 1, *, device, update=None, bias: bool = False,
                 periphery=None, zero_shift: bool = False, backend="numba", dtype="float64", seed: int = 0):
        self.bias = check_bool("AnalogLinear", "bias", bias)
        self.in_features = in_features
        self.out_features = out_features
        self.tile = Tile(out_features, in_features + int(self.bias), device, update=update, periphery=periphery,
                         backend=backend, dtype=dtype, seed=seed, zero_shift=zero_shift)

    def augment(self, X) -> np.ndarray:
        """Inputs as the tile sees them: ``X`` with a column of ones appended when ``bias``."""
        X = np.asarray(X, dtype=np.float64)
        X = X[None, :] if X.ndim == 1 else X
        return np.hstack([X, np.ones((X.shape[0], 1))]) if self.bias else X

    def forward(self, X) -> np.ndarray:
        """Predictions, shape ``(n, out_features)``: the tile's read through its periphery, or, with
        no periphery, the ideal read as a sequential float64 dot product."""
        if self.tile.periphery.active:
            return self.tile.forward(self.augment(X))
        return self.tile.exact_forward(self.augment(X))

    @property
    def weights(self) -> np.ndarray:
        """All tile weights (bias column last when present), NumPy copy."""
        return self.tile.weights
