r"""A layer on crossbar tiles: :math:`z = W\,[a; 1]` stored on a grid of :class:`~memsim.models.tile.Tile` s.

A linear model is a network of one such layer (:class:`~memsim.models.mlp.AnalogMLP` with
``layer_sizes = [d, k]``); a multi-layer perceptron stacks several.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..params import check_bool, check_int, invalid
from .tile import Tile

__all__ = ["TiledLinear", "tile_seed"]


def tile_seed(seed: int, layer: int, row_block: int = 0, col_block: int = 0) -> int:
    """The Philox key of tile ``(row_block, col_block)`` of ``layer``, derived from the run seed.

    ``numpy.random.SeedSequence(seed, spawn_key=(layer, row_block, col_block))``, first 64-bit word:
    the same construction as ``SeedSequence(seed).spawn`` children, nested. Every tile of every
    layer gets its own independent noise, and the seeds depend only on the run seed and the
    tile's position (not on the tile size or the number of layers).

    Parameters
    ----------
    seed : int
        The run seed.
    layer : int
        Layer index.
    row_block : int
        Row block of the tile.
    col_block : int
        Column block of the tile.

    Returns
    -------
    int
        The tile's Philox key.
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(layer), int(row_block), int(col_block)))
    return int(ss.generate_state(1, dtype=np.uint64)[0])


def _blocks(n: int, size: int | None) -> list[slice]:
    """Contiguous blocks of at most ``size`` (the last one holds the remainder)."""
    size = n if size is None else size
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


class TiledLinear:
    r"""One layer :math:`z = W[a; 1]` stored on a grid of tiles of at most ``max_tile_size`` rows and columns.

    ``W`` (shape ``(out, in + bias)``) is cut into contiguous row blocks :math:`R_r` and column
    blocks :math:`C_c` of ``max_tile_size`` (the last block of each holds the remainder); tile
    :math:`(r, c)` stores :math:`W[R_r, C_c]` and has seed :func:`tile_seed` ``(seed, layer, r, c)``.

    .. math::
        z[R_r] = \sum_c T_{rc}\,a[C_c] \qquad
        (W^\top d)[C_c] = \sum_r T_{rc}^\top d[R_r] \qquad
        \Delta T_{rc} = -\eta\, d[R_r]\, a[C_c]^\top

    Every read goes through each tile's own periphery (an ADC per tile, partial sums added
    digitally); every tile sees the same sequence of programming events.

    Parameters
    ----------
    in_features : int
        Inputs of the layer (without the bias).
    out_features : int
        Outputs of the layer.
    device : memsim.physics.devices.base.PulsedDevice
        Device model of every cell, passed to every tile.
    update : memsim.physics.updates.UpdateRule, optional
        Pulse-count rule of every tile (default stochastic rounding).
    periphery : memsim.physics.periphery.Periphery, optional
        DAC/ADC and read noise of every tile (default: exact reads).
    bias : bool
        Append a constant input 1 (last column of ``W``).
    max_tile_size : int or None
        Largest tile side; ``None``: one tile.
    backend : str
        ``"numba"`` (default), ``"numpy"``, ``"cupy"`` or ``"auto"``.
    dtype : {"float64", "float32"}
        Storage dtype of the weights.
    seed : int
        Run seed.
    layer : int
        Layer index (for :func:`tile_seed`).
    zero_shift : bool
        Reference every cell at its symmetry point (:class:`~memsim.models.tile.Tile` ``zero_shift``).
    own_seed : bool
        Key the (single) tile with ``seed`` itself instead of :func:`tile_seed`: a network of one
        layer on one tile then sees exactly the noise of ``Tile(..., seed=seed)``.
    scheme : memsim.physics.schemes.Scheme, optional
        A compound scheme: every tile is a :class:`~memsim.models.compound.CompoundTile` (same
        seeds, same interface) instead of a :class:`Tile`.
    """

    def __init__(self, in_features: int, out_features: int, *, device, update=None, periphery=None,
                 bias: bool = True, max_tile_size: int | None = None, backend="numba", dtype="float64",
                 seed: int = 0, layer: int = 0, zero_shift: bool = False, own_seed: bool = False, scheme=None):
        owner = "TiledLinear"
        self.in_features = check_int(owner, "in_features", in_features, 1)
        self.out_features = check_int(owner, "out_features", out_features, 1)
        self.bias = check_bool(owner, "bias", bias)
        if max_tile_size is not None:
            max_tile_size = check_int(owner, "max_tile_size", max_tile_size, 1)
        self.max_tile_size = max_tile_size
        self.row_blocks = _blocks(self.out_features, max_tile_size)
        self.col_blocks = _blocks(self.in_features + int(self.bias), max_tile_size)
        self.zero_shift = check_bool(owner, "zero_shift", zero_shift)
        if own_seed and len(self.row_blocks) * len(self.col_blocks) != 1:
            raise invalid(owner, "own_seed", "False for a layer of several tiles", own_seed)
        self.scheme = scheme
        if scheme is None:
            def make(n_rows, n_cols, tile_key):
                return Tile(n_rows, n_cols, device, update=update, periphery=periphery, backend=backend,
                            dtype=dtype, zero_shift=self.zero_shift, seed=tile_key)
        else:  # a compound scheme (memsim.physics.schemes): every tile is a CompoundTile of two Tiles
            from .compound import CompoundTile

            def make(n_rows, n_cols, tile_key):
                return CompoundTile(n_rows, n_cols, device, scheme, update=update, periphery=periphery,
                                    backend=backend, dtype=dtype, seed=tile_key, zero_shift=self.zero_shift)
        self.tiles = [[make(r.stop - r.start, c.stop - c.start, seed if own_seed else tile_seed(seed, layer, i, j))
                       for j, c in enumerate(self.col_blocks)] for i, r in enumerate(self.row_blocks)]

    @property
    def shape(self) -> tuple[int, int]:
        """``(out, in + bias)``."""
        return self.out_features, self.in_features + int(self.bias)

    def _all(self):
        for i, r in enumerate(self.row_blocks):
            for j, c in enumerate(self.col_blocks):
                yield r, c, self.tiles[i][j]

    def forward(self, A: np.ndarray) -> np.ndarray:
        """Pre-activations ``z`` (batch, out) of augmented inputs ``A`` (batch, in + bias), through the tiles.

        Parameters
        ----------
        A : numpy.ndarray
            Augmented inputs, shape (batch, in + bias).

        Returns
        -------
        numpy.ndarray
            Pre-activations ``z``, shape (batch, out).
        """
        out = np.zeros((A.shape[0], self.out_features))
        for r, c, tile in self._all():
            out[:, r] += tile.forward(A[:, c])
        return out

    def backward(self, D: np.ndarray) -> np.ndarray:
        """``W^T d`` (batch, in + bias) of deltas ``D`` (batch, out), through the tiles (bias entry included).

        Parameters
        ----------
        D : numpy.ndarray
            Deltas, shape (batch, out).

        Returns
        -------
        numpy.ndarray
            ``W^T d``, shape (batch, in + bias) (bias entry included).
        """
        out = np.zeros((D.shape[0], self.shape[1]))
        for r, c, tile in self._all():
            out[:, c] += tile.backward(D[:, r])
        return out

    def update(self, A: np.ndarray, D: np.ndarray, lr: float, accumulate: bool = False) -> None:
        """Program ``Delta W = -lr * D^T A`` (per sample, or accumulated): each tile gets its slices.

        Parameters
        ----------
        A : numpy.ndarray
            Augmented inputs, shape (batch, in + bias).
        D : numpy.ndarray
            Deltas, shape (batch, out).
        lr : float
            Per-sample learning rate.
        accumulate : bool
            One event per batch with the summed gradient (else one per sample).
        """
        for r, c, tile in self._all():
            tile.update(A[:, c], D[:, r], lr=lr, accumulate=accumulate)

    @property
    def weights(self) -> np.ndarray:
        """The assembled weights ``W`` (NumPy copy)."""
        W = np.empty(self.shape)
        for r, c, tile in self._all():
            W[r, c] = tile.weights
        return W

    def program(self, W) -> None:
        """Set the weights (each tile's slice; clipped to the cells' bounds).

        Parameters
        ----------
        W : array_like
            The weights, shape ``(out, in + bias)`` (broadcast).
        """
        W = np.broadcast_to(np.asarray(W, dtype=np.float64), self.shape)
        for r, c, tile in self._all():
            tile.program(W[r, c])

    def statistics(self) -> dict[str, Any]:
        """The tiles' :meth:`Tile.statistics`, assembled into full ``(out, in + bias)`` arrays.

        Returns
        -------
        dict
            The recorded statistics, every per-cell array of shape ``(out, in + bias)``; ``events`` as one
            tile's.
        """
        parts = [[tile.statistics() for tile in row] for row in self.tiles]
        first = parts[0][0]
        out: dict[str, Any] = {"events": first["events"]}
        for key, value in first.items():
            if key == "events":
                continue
            if any(isinstance(p[key], np.ndarray) and p[key].ndim == 0 for row in parts for p in row):
                # a tile above PER_CELL_COUNTERS_MAX cells reports per-tile totals: the layer's total
                total = sum(int(np.sum(p[key])) for row in parts for p in row)
                out[key] = np.array(min(total, np.iinfo(np.int64).max), dtype=np.int64)
                continue
            full = np.zeros(self.shape, dtype=np.asarray(value).dtype)
            for i, r in enumerate(self.row_blocks):
                for j, c in enumerate(self.col_blocks):
                    full[r, c] = parts[i][j][key]
            out[key] = full
        return out

    @property
    def cell_parameters(self) -> dict[str, np.ndarray]:
        """Per-cell device parameters of every tile, assembled into full ``(out, in + bias)`` arrays."""
        out: dict[str, np.ndarray] = {}
        for r, c, tile in self._all():
            for key, value in tile.cell_parameters.items():
                out.setdefault(key, np.zeros(self.shape))[r, c] = value
        return out

    @property
    def step(self) -> int:
        """Programming events so far (the same on every tile)."""
        return self.tiles[0][0].step

    def set_recording(self, on: bool) -> None:
        """Open (``True``) or close the averaging window of every tile.

        Parameters
        ----------
        on : bool
            ``True`` opens the averaging window, ``False`` closes it.
        """
        for _, _, tile in self._all():
            tile.start_recording() if on else tile.stop_recording()

    def reset_statistics(self) -> None:
        """Zero every tile's recorded sums."""
        for _, _, tile in self._all():
            tile.reset_statistics()

    @property
    def recording(self) -> bool:
        """Whether the averaging window is open."""
        return self.tiles[0][0].recording

    @property
    def n_tiles(self) -> int:
        """Number of tiles."""
        return len(self.row_blocks) * len(self.col_blocks)
