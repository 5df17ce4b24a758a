r"""The network on crossbar tiles (``AnalogMLP``): a linear model is its one-layer case.

Conventions (docs/design.md, section 'Conventions'): a layer computes :math:`z = W\,[a; 1]` with ``W`` of shape
``(out, in + bias)`` (bias column last), stored on one or more :class:`~memsim.models.tile.Tile` s of
dimensionless device weights. Hidden layers apply an activation :math:`\phi`; the output layer is
linear (its outputs are the logits). A loss :math:`\ell(o, t)` is per sample; training uses the
per-sample gradient :math:`d = \partial\ell/\partial o` and back-propagates

.. math::  d^{(l-1)} = \big(W^{(l)\top} d^{(l)}\big)_{1..\rm in} \odot \phi'\big(z^{(l-1)}\big),
           \qquad \Delta W^{(l)} = -\eta\, d^{(l)} [a^{(l-1)}; 1]^\top

with :math:`W^\top d` read from the tiles (:meth:`Tile.backward`, through the periphery). Every
loss value reported anywhere is the MEAN over samples of :math:`\ell`.

The NumPy functions of :mod:`memsim.network_math` (``mlp_forward``, ``mlp_backward``,
``loss_and_gradients``, ``evaluate``) compute the same network from explicit weight matrices; the
digital baseline (:mod:`memsim.compare.digital`) and every evaluation of trained weights use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..network_math import ACTIVATIONS, augment
from ..params import check_bool, check_choice, check_int, invalid
from .layers import TiledLinear
from .tile import Tile

__all__ = ["AnalogMLP", "ForwardCache"]


@dataclass
class ForwardCache:
    """What :meth:`AnalogMLP.forward` keeps for the backward pass: per layer the augmented input and ``z``.

    Parameters
    ----------
    inputs : list of numpy.ndarray
        Per layer, the augmented input :math:`[a^{(l-1)}; 1]`, shape (batch, in_l + bias).
    pre_activations : list of numpy.ndarray
        Per layer, the pre-activation :math:`z^{(l)}`, shape (batch, out_l).
    """

    inputs: list[np.ndarray]
    pre_activations: list[np.ndarray]


class AnalogMLP:
    r"""A multi-layer perceptron whose every layer is a :class:`TiledLinear` of crossbar tiles.

    ``layer_sizes = [d, h_1, ..., h_{L-1}, K]``: layer ``l`` maps ``h_{l-1}`` inputs to ``h_l``
    outputs, :math:`z^{(l)} = W^{(l)}[a^{(l-1)}; 1]`, with the activation on every hidden layer
    and a linear output (module docstring). ``[d, K]`` is a linear model: linear regression with
    the MSE loss, multinomial / binary logistic regression with the softmax / logistic loss.

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
    device : memsim.physics.devices.base.PulsedDevice
        Device model of every cell, passed to every tile.
    update : memsim.physics.updates.UpdateRule, optional
        Pulse-count rule of every tile (default stochastic rounding).
    periphery : memsim.physics.periphery.Periphery, optional
        DAC/ADC and read noise of every tile (default: exact reads).
    bias : bool
        A bias column in every layer (a device like any other; excluded from every metric).
    max_tile_size : int or None
        Split layers into tiles of at most this many rows and columns (:class:`TiledLinear`).
    backend : str
        ``"numba"`` (default), ``"numpy"``, ``"cupy"`` or ``"auto"``.
    dtype : {"float64", "float32"}
        Storage dtype of the weights.
    seed : int
        Run seed; tile ``(r, c)`` of layer ``l`` uses :func:`~memsim.models.layers.tile_seed`
        ``(seed, l, r, c)``, except that a network of a single tile (a linear model on one tile) uses
        ``seed`` itself, the key of ``Tile(..., seed=seed)``.
    zero_shift : bool
        Reference every cell of every layer at its symmetry point (``Tile(zero_shift=True)``).
    scheme : memsim.physics.schemes.Scheme, optional
        A compound (residual-learning) scheme: every tile is a
        :class:`~memsim.models.compound.CompoundTile`; stored as ``self.scheme`` (``None``: plain in-place SGD).
    """

    def __init__(self, layer_sizes, activation: str = "tanh", *, device, update=None, periphery=None,
                 bias: bool = True, max_tile_size: int | None = None, backend="numba", dtype="float64",
                 seed: int = 0, zero_shift: bool = False, scheme=None):
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
        self.zero_shift = check_bool(owner, "zero_shift", zero_shift)
        pairs = list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        one_tile = len(pairs) == 1 and (max_tile_size is None or max(pairs[0][1], pairs[0][0] + self.bias)
                                        <= max_tile_size)
        self.layers = [TiledLinear(n_in, n_out, device=device, update=update, periphery=periphery, bias=self.bias,
                                   max_tile_size=max_tile_size, backend=backend, dtype=dtype, seed=self.seed,
                                   layer=k, zero_shift=self.zero_shift, own_seed=one_tile, scheme=scheme)
                       for k, (n_in, n_out) in enumerate(pairs)]
        self.scheme = scheme
        self.device = device

    # ------------------------------------------------------------------ passes
    def forward(self, X, cache: bool = False):
        """Outputs (logits) of shape (batch, K) read through the tiles; with ``cache``, also a :class:`ForwardCache`.

        Parameters
        ----------
        X : array_like
            Inputs, shape (batch, layer_sizes[0]) or (layer_sizes[0],).
        cache : bool
            Also return the :class:`ForwardCache`.

        Returns
        -------
        out : numpy.ndarray
            Outputs (logits), shape (batch, K).
        cache : ForwardCache
            Only with ``cache=True``.
        """
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
        transposed reads :math:`W^\\top d` go through the tiles (:meth:`Tile.backward`).

        Parameters
        ----------
        cache : ForwardCache
            From :meth:`forward`.
        d_out : array_like
            Per-sample output gradients, shape (batch, K).

        Returns
        -------
        list of numpy.ndarray
            The deltas :math:`d^{(l)}` of every layer, shape (batch, out_l).
        """
        dphi = ACTIVATIONS[self.activation][1]
        deltas = [np.asarray(d_out, dtype=np.float64)]
        for k in range(len(self.layers) - 1, 0, -1):
            back = self.layers[k].backward(deltas[0])
            if self.bias:
                back = back[:, :-1]
            deltas.insert(0, back * dphi(cache.pre_activations[k - 1]))
        return deltas

    def update(self, cache: ForwardCache, deltas: list[np.ndarray], lr: float, accumulate: bool = False) -> None:
        """Program every layer: :math:`\\Delta W^{(l)} = -\\eta\\, d^{(l)\\top} [a^{(l-1)}; 1]` (class docstring).

        Parameters
        ----------
        cache : ForwardCache
            From :meth:`forward`.
        deltas : list of numpy.ndarray
            From :meth:`backward`.
        lr : float
            Per-sample learning rate.
        accumulate : bool
            One event per batch with the summed gradient (else one per sample).
        """
        for layer, a, d in zip(self.layers, cache.inputs, deltas):
            layer.update(a, d, lr, accumulate)

    def train_batch(self, X, d_fn: Callable[[np.ndarray], np.ndarray], lr: float,
                    accumulate: bool = False) -> np.ndarray:
        """Forward, backward and update on one batch; returns the outputs ``out``.

        ``d_fn(out)`` gives the per-sample output gradients :math:`\\partial\\ell/\\partial o`.

        Parameters
        ----------
        X : array_like
            Inputs, shape (batch, layer_sizes[0]).
        d_fn : callable
            ``d_fn(out)`` gives the per-sample output gradients.
        lr : float
            Per-sample learning rate.
        accumulate : bool
            One event per batch with the summed gradient (else one per sample).

        Returns
        -------
        numpy.ndarray
            The outputs ``out`` before the update, shape (batch, K).
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
        """Set every layer's weights (clipped to the cells' bounds).

        Parameters
        ----------
        weights : list of array_like
            One matrix per layer, shape ``(out_l, in_l + bias)``.
        """
        if len(weights) != len(self.layers):
            raise invalid("AnalogMLP.program", "weights", f"a list of {len(self.layers)} matrices", len(weights))
        for layer, W in zip(self.layers, weights):
            layer.program(W)

    def statistics(self) -> list[dict[str, Any]]:
        """Per layer, the recorded statistics (:meth:`TiledLinear.statistics`).

        Returns
        -------
        list of dict
            One dict per layer.
        """
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
