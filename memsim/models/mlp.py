r"""Networks built from tiles (``AnalogMLP``, ``AnalogClassifier``), their loss functions and the same maths in NumPy.

Conventions (DESIGN.md): a layer computes :math:`z = W\,[a; 1]` with ``W`` of shape
``(out, in + bias)`` (bias column last), stored on one or more :class:`~memsim.models.tile.Tile` s of
dimensionless device weights. Hidden layers apply an activation :math:`\phi`; the output layer is
linear (its outputs are the logits). A loss :math:`\ell(o, t)` is per sample; training uses the
per-sample gradient :math:`d = \partial\ell/\partial o` and back-propagates

.. math::  d^{(l-1)} = \big(W^{(l)\top} d^{(l)}\big)_{1..\rm in} \odot \phi'\big(z^{(l-1)}\big),
           \qquad \Delta W^{(l)} = -\eta\, d^{(l)} [a^{(l-1)}; 1]^\top

with :math:`W^\top d` read from the tiles (:meth:`Tile.backward`, through the periphery). Every
loss value reported anywhere is the MEAN over samples of :math:`\ell`.

The NumPy functions (:func:`mlp_forward`, :func:`mlp_backward`, :func:`loss_and_gradients`,
:func:`evaluate`) compute the same network from explicit weight matrices; the digital baselines
(:mod:`memsim.compare.digital`) and every evaluation of trained weights use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .tile import Tile
from ..params import check_bool, check_choice, check_int, invalid

__all__ = ["ACTIVATIONS", "LOSSES", "Loss", "MSELoss", "SoftmaxCrossEntropy", "LogisticLoss", "get_loss",
           "default_loss", "is_classification_task", "tile_seed", "TiledLinear", "AnalogMLP", "AnalogClassifier",
           "augment", "mlp_forward", "mlp_backward", "loss_and_gradients", "evaluate"]


from ..network_math import (ACTIVATIONS, LOSSES, LogisticLoss, Loss, MSELoss, SoftmaxCrossEntropy,  # noqa: F401
                       augment, check_loss_for_task, default_loss, evaluate, get_loss,
                       is_classification_task, loss_and_gradients, mlp_backward, mlp_forward)
# ---------------------------------------------------------------------------- tiles
def tile_seed(seed: int, layer: int, row_block: int = 0, col_block: int = 0) -> int:
    """The Philox key of tile ``(row_block, col_block)`` of ``layer``, derived from the run seed.

    ``numpy.random.SeedSequence(seed, spawn_key=(layer, row_block, col_block))``, first 64-bit word:
    the same construction as ``SeedSequence(seed).spawn`` children, nested. Every tile of every
    layer gets its own independent noise, and the seeds depend only on the run seed and the
    tile's position (not on the tile size or the number of layers).
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
    in_features, out_features : int
    device, update, periphery, backend, dtype
        Passed to every :class:`~memsim.models.tile.Tile`.
    bias : bool
        Append a constant input 1 (last column of ``W``).
    max_tile_size : int or None
        Largest tile side; ``None``: one tile.
    seed : int
        Run seed.
    layer : int
        Layer index (for :func:`tile_seed`).
    """

    def __init__(self, in_features: int, out_features: int, *, device, update=None, periphery=None,
                 bias: bool = True, max_tile_size: int | None = None, backend="numba", dtype="float64",
                 seed: int = 0, layer: int = 0):
        owner = "TiledLinear"
        self.in_features = check_int(owner, "in_features", in_features, 1)
        self.out_features = check_int(owner, "out_features", out_features, 1)
        self.bias = check_bool(owner, "bias", bias)
        if max_tile_size is not None:
            max_tile_size = check_int(owner, "max_tile_size", max_tile_size, 1)
        self.max_tile_size = max_tile_size
        self.row_blocks = _blocks(self.out_features, max_tile_size)
        self.col_blocks = _blocks(self.in_features + int(self.bias), max_tile_size)
        self.tiles = [[Tile(r.stop - r.start, c.stop - c.start, device, update=update, periphery=periphery,
                            backend=backend, dtype=dtype, seed=tile_seed(seed, layer, i, j))
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
        """Pre-activations ``z`` (batch, out) of augmented inputs ``A`` (batch, in + bias), through the tiles."""
        out = np.zeros((A.shape[0], self.out_features))
        for r, c, tile in self._all():
            out[:, r] += tile.forward(A[:, c])
        return out

    def backward(self, D: np.ndarray) -> np.ndarray:
        """``W^T d`` (batch, in + bias) of deltas ``D`` (batch, out), through the tiles (bias entry included)."""
        out = np.zeros((D.shape[0], self.shape[1]))
        for r, c, tile in self._all():
            out[:, c] += tile.backward(D[:, r])
        return out

    def update(self, A: np.ndarray, D: np.ndarray, lr: float, accumulate: bool = False) -> None:
        """Program ``Delta W = -lr * D^T A`` (per sample, or accumulated): each tile gets its slices."""
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
        """Set the weights (each tile's slice; clipped to the cells' bounds)."""
        W = np.broadcast_to(np.asarray(W, dtype=np.float64), self.shape)
        for r, c, tile in self._all():
            tile.program(W[r, c])

    def statistics(self) -> dict[str, Any]:
        """The tiles' :meth:`Tile.statistics`, assembled into full ``(out, in + bias)`` arrays."""
        parts = [[tile.statistics() for tile in row] for row in self.tiles]
        first = parts[0][0]
        out: dict[str, Any] = {"events": first["events"]}
        for key, value in first.items():
            if key == "events":
                continue
            full = np.zeros(self.shape, dtype=np.asarray(value).dtype)
            for i, r in enumerate(self.row_blocks):
                for j, c in enumerate(self.col_blocks):
                    full[r, c] = parts[i][j][key]
            out[key] = full
        return out

    def set_recording(self, on: bool) -> None:
        """Open (``True``) or close the averaging window of every tile."""
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


@dataclass
class ForwardCache:
    """What :meth:`AnalogMLP.forward` keeps for the backward pass: per layer the augmented input and ``z``."""

    inputs: list[np.ndarray]
    pre_activations: list[np.ndarray]


class AnalogMLP:
    r"""A multi-layer perceptron whose every layer is a :class:`TiledLinear` of crossbar tiles.

    ``layer_sizes = [d, h_1, ..., h_{L-1}, K]``: layer ``l`` maps ``h_{l-1}`` inputs to ``h_l``
    outputs, :math:`z^{(l)} = W^{(l)}[a^{(l-1)}; 1]`, with the activation on every hidden layer
    and a linear output (module docstring). ``[d, K]`` is a linear model (a softmax/logistic
    classifier with those losses, :class:`AnalogClassifier`).

    A mini-batch is processed as on the hardware: the forward and backward passes of the whole
    batch read the weights at the batch start; then every layer programs
    :math:`\Delta W^{(l)} = -\eta\sum_b d^{(l)}_b [a^{(l-1)}_b; 1]^\top` either as one rank-1
    programming event per sample, in order (``accumulate=False``, the default, as
    :meth:`Tile.update` does), or as one event with the digitally summed gradient
    (``accumulate=True``).

    Parameters
    ----------
    layer_sizes : sequence of int
        At least two sizes, each >= 1.
    activation : {'tanh', 'sigmoid', 'relu'}
        Of the hidden layers.
    device, update, periphery, backend, dtype
        Passed to every :class:`~memsim.models.tile.Tile`.
    bias : bool
        A bias column in every layer (a device like any other; excluded from every metric).
    max_tile_size : int or None
        Split layers into tiles of at most this many rows and columns (:class:`TiledLinear`).
    seed : int
        Run seed; tile ``(r, c)`` of layer ``l`` uses :func:`tile_seed` ``(seed, l, r, c)``.
    """

    def __init__(self, layer_sizes, activation: str = "tanh", *, device, update=None, periphery=None,
                 bias: bool = True, max_tile_size: int | None = None, backend="numba", dtype="float64",
                 seed: int = 0):
        owner = "AnalogMLP"
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__") or len(layer_sizes) < 2:
            raise invalid(owner, "layer_sizes", "a sequence of at least two integers >= 1", layer_sizes)
        self.layer_sizes = tuple(check_int(owner, "layer_sizes", s, 1) for s in layer_sizes)
        self.activation = check_choice(owner, "activation", activation, tuple(ACTIVATIONS))
        self.bias = check_bool(owner, "bias", bias)
        if max_tile_size is not None:
            max_tile_size = check_int(owner, "max_tile_size", max_tile_size, 1)
        self.max_tile_size = max_tile_size
        self.seed = check_int(owner, "seed", seed, 0, 2 ** 64 - 1)
        self.layers = [TiledLinear(n_in, n_out, device=device, update=update, periphery=periphery, bias=self.bias,
                                   max_tile_size=max_tile_size, backend=backend, dtype=dtype, seed=self.seed,
                                   layer=k)
                       for k, (n_in, n_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))]
        self.device = device

    # ------------------------------------------------------------------ passes
    def forward(self, X, cache: bool = False):
        """Outputs (logits) of shape (batch, K) read through the tiles; with ``cache``, also a :class:`ForwardCache`."""
        a = np.asarray(X, dtype=np.float64)
        a = a[None, :] if a.ndim == 1 else a
        if a.ndim != 2 or a.shape[1] != self.layer_sizes[0]:
            raise invalid("AnalogMLP.forward", "X", f"an array of shape (batch, {self.layer_sizes[0]})",
                          f"shape {np.shape(X)}")
        phi = ACTIVATIONS[self.activation][0]
        inputs, pre = [], []
        for k, layer in enumerate(self.layers):
            aa = augment(a, self.bias)
            z = layer.forward(aa)
            inputs.append(aa)
            pre.append(z)
            a = phi(z) if k < len(self.layers) - 1 else z
        return (a, ForwardCache(inputs, pre)) if cache else a

    def backward(self, cache: ForwardCache, d_out) -> list[np.ndarray]:
        """Per-sample deltas :math:`d^{(l)}` of every layer from the output gradient ``d_out``; the
        transposed reads :math:`W^\\top d` go through the tiles (:meth:`Tile.backward`)."""
        dphi = ACTIVATIONS[self.activation][1]
        deltas = [np.asarray(d_out, dtype=np.float64)]
        for k in range(len(self.layers) - 1, 0, -1):
            back = self.layers[k].backward(deltas[0])
            if self.bias:
                back = back[:, :-1]
            deltas.insert(0, back * dphi(cache.pre_activations[k - 1]))
        return deltas

    def update(self, cache: ForwardCache, deltas: list[np.ndarray], lr: float, accumulate: bool = False) -> None:
        """Program every layer: :math:`\\Delta W^{(l)} = -\\eta\\, d^{(l)\\top} [a^{(l-1)}; 1]` (class docstring)."""
        for layer, a, d in zip(self.layers, cache.inputs, deltas):
            layer.update(a, d, lr, accumulate)

    def train_batch(self, X, d_fn: Callable[[np.ndarray], np.ndarray], lr: float,
                    accumulate: bool = False) -> np.ndarray:
        """Forward, backward and update on one batch; returns the outputs ``out``.

        ``d_fn(out)`` gives the per-sample output gradients :math:`\\partial\\ell/\\partial o`.
        """
        out, cache = self.forward(X, cache=True)
        self.update(cache, self.backward(cache, d_fn(out)), lr, accumulate)
        return out

    # ------------------------------------------------------------------ state
    @property
    def weights(self) -> list[np.ndarray]:
        """The weight matrices of every layer (NumPy copies, bias column last)."""
        return [layer.weights for layer in self.layers]

    def program(self, weights) -> None:
        """Set every layer's weights (clipped to the cells' bounds)."""
        if len(weights) != len(self.layers):
            raise invalid("AnalogMLP.program", "weights", f"a list of {len(self.layers)} matrices", len(weights))
        for layer, W in zip(self.layers, weights):
            layer.program(W)

    def statistics(self) -> list[dict[str, Any]]:
        """Per layer, the recorded statistics (:meth:`TiledLinear.statistics`)."""
        return [layer.statistics() for layer in self.layers]

    def start_recording(self) -> None:
        """Open the averaging window of every tile."""
        for layer in self.layers:
            layer.set_recording(True)

    def stop_recording(self) -> None:
        """Close the averaging window of every tile."""
        for layer in self.layers:
            layer.set_recording(False)

    def reset_statistics(self) -> None:
        """Zero every tile's recorded sums."""
        for layer in self.layers:
            layer.reset_statistics()

    @property
    def recording(self) -> bool:
        """Whether the averaging window is open."""
        return self.layers[0].recording

    @property
    def tiles(self) -> list[Tile]:
        """Every tile, layer by layer, row block by row block."""
        return [t for layer in self.layers for row in layer.tiles for t in row]

    @property
    def step(self) -> int:
        """Programming events so far (the same on every tile)."""
        return self.layers[0].tiles[0][0].step

    @property
    def backend(self):
        """The backend object of the tiles."""
        return self.layers[0].tiles[0][0].backend

    @property
    def periphery_active(self) -> bool:
        """Whether the tiles read through an active periphery."""
        return self.layers[0].tiles[0][0].periphery.active

    def __repr__(self) -> str:
        return (f"AnalogMLP({list(self.layer_sizes)}, activation={self.activation!r}, bias={self.bias}, "
                f"tiles={len(self.tiles)}, device={self.device.kind}, seed={self.seed})")


class AnalogClassifier(AnalogMLP):
    """A linear classifier on tiles, ``o = W [x; 1]``: :class:`AnalogMLP` with ``layer_sizes = [in, out]``.

    With the softmax loss it is multinomial logistic regression (``out_features`` = classes), with
    the logistic loss binary logistic regression (``out_features = 1``): the ``AnalogLinear`` semantics
    (per-sample rank-1 updates of ``-lr * d x^T``, ``d = dl/do``) with a non-quadratic loss.
    """

    def __init__(self, in_features: int, out_features: int = 1, **kwargs):
        kwargs.setdefault("activation", "tanh")
        super().__init__([in_features, out_features], **kwargs)
