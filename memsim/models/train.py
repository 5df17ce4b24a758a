r"""The one trainer: in-place SGD of any network on tiles (a linear model is a one-layer network).

Definitions (DESIGN.md): per-sample updates in a fresh permutation of the training set every epoch,
drawn from the run seed (:func:`epoch_orders`, shared with the digital baseline); the per-sample
learning rate of every epoch (:func:`learning_rates`); mini-batches of ``batch_size`` consecutive
samples of the permutation, whose forward and backward passes read the weights at the batch start,
then per-sample or accumulated programming (:class:`~memsim.models.mlp.AnalogMLP`). The averaging
window opens at the first batch whose first event index reaches ``ceil(average_from * total_events)``;
from then on every tile adds ``|Delta|/lr``, ``|Delta|/lr * w`` (``w`` read before the event) and
``w`` (after it) to its sums after every programming event.

Two paths, chosen here and never by the caller (``TrainResult.path`` says which one ran):

``"fused"``
    A network of one layer on one tile with the ``mse`` loss and no periphery: whole epochs of
    per-sample updates in the backend's compiled ``train_linear_epochs`` (forward passes as
    sequential float64 dot products), bit-identical to the step-by-step path.
``"step"``
    Everything else: batch by batch through :meth:`AnalogMLP.train_batch` (reads through the
    periphery, back-propagation through the tiles).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..network_math import augment, evaluate, get_loss
from ..params import invalid
from ..tasks.registry import Dataset, data_generator
from .config import TrainConfig
from .mlp import AnalogMLP

__all__ = ["TrainResult", "train", "epoch_orders", "learning_rates", "events_per_epoch", "initial_weights",
           "targets"]


@dataclass
class TrainResult:
    """What in-place training produced: per-layer lists of NumPy arrays (bias column last)."""

    weights_final: list[np.ndarray]
    weights_mean: list[np.ndarray]
    """Per layer: the weights averaged over the window (after every programming event)."""
    weights_var: list[np.ndarray] | None
    """Per layer: variance of the epoch-end weights inside the window (the jitter); ``None`` if the
    window holds fewer than two epoch ends."""
    statistics: list[dict[str, Any]]
    """Per layer: :meth:`~memsim.models.layers.TiledLinear.statistics` (``mean_abs_grad`` = E|g_i|,
    ``mean_abs_grad_w`` = E[|g_i| w_i], ``weights_mean``, pulse counts, ``events``, ...)."""
    curves: dict[str, list[float]]
    """Per epoch: ``epoch``, ``train_loss``, ``test_loss``, ``train_accuracy``, ``test_accuracy``
    (exact evaluation of the weights at the end of the epoch; accuracies NaN for regression)."""
    orders: np.ndarray
    """The data order, shape (epochs, n)."""
    lrs: np.ndarray
    """The per-sample learning rate of every epoch."""
    initial_weights: list[np.ndarray]
    wall_s: float
    path: str
    """``"fused"`` or ``"step"`` (module docstring)."""


def epoch_orders(seed: int, n: int, epochs: int) -> np.ndarray:
    """One fresh permutation of ``range(n)`` per epoch, from the run seed (shared with the baselines)."""
    g = data_generator(seed, 3)
    return np.stack([g.permutation(n) for _ in range(epochs)]).astype(np.int64)


def learning_rates(config: TrainConfig) -> np.ndarray:
    """The per-sample learning rate of every epoch."""
    lrs = np.full(config.epochs, config.lr)
    if config.lr_schedule == "step":
        for e in config.lr_step_epochs:
            lrs[e:] *= config.lr_gamma
    return lrs


def events_per_epoch(n: int, config: TrainConfig) -> int:
    """Programming events per epoch: ``n`` per-sample, ``ceil(n / batch_size)`` accumulated."""
    return math.ceil(n / config.batch_size) if config.accumulate else n


def targets(data: Dataset) -> tuple[np.ndarray, np.ndarray, int | None]:
    """``(y_train, y_test, n_classes)``: labels of a classification data set, or regression targets and ``None``."""
    return np.asarray(data.y_train), np.asarray(data.y_test), getattr(data, "n_classes", None)


def initial_weights(layer_sizes, bias: bool, seed: int, init_std: float = 0.0) -> list[np.ndarray]:
    r"""Initial weights of every layer, from the run seed (the analog run and its digital baseline share them).

    * ``init_std > 0``: every weight (bias column too) :math:`\sim N(0, \sigma_{\rm init}^2)`;
    * ``init_std == 0`` and no hidden layer: all zero (a convex problem);
    * ``init_std == 0`` with hidden layers: Glorot/Xavier normal, :math:`W_{ij} \sim N(0, 2/(n_{\rm in}
      + n_{\rm out}))`, bias column 0 (all-zero weights would be a saddle point of the loss).

    Layer ``l`` of a network with hidden layers draws from ``data_generator(seed, 4, l)``; a
    one-layer network from ``data_generator(seed, 4)``. The tiles clip the values to the cells' bounds.
    """
    sizes = list(layer_sizes)
    out = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shape = (n_out, n_in + int(bias))
        g = data_generator(seed, 4) if len(sizes) == 2 else data_generator(seed, 4, k)
        if init_std > 0:
            W = init_std * g.standard_normal(shape)
        elif len(sizes) == 2:
            W = np.zeros(shape)
        else:
            W = np.zeros(shape)
            W[:, :n_in] = math.sqrt(2.0 / (n_in + n_out)) * g.standard_normal((n_out, n_in))
        out.append(W)
    return out


def _fused(model: AnalogMLP, loss: str) -> bool:
    """Whether whole epochs can run in the backend's compiled linear-model kernel."""
    return (len(model.layers) == 1 and model.layers[0].n_tiles == 1 and loss == "mse"
            and not model.periphery_active)


def train(model: AnalogMLP, data: Dataset, config: TrainConfig, seed: int, loss: str = "mse",
          progress: bool | None = None, initial: list[np.ndarray] | None = None) -> TrainResult:
    """Train ``model`` in place on ``data`` with the per-sample loss ``loss`` (module docstring).

    Parameters
    ----------
    model : memsim.models.mlp.AnalogMLP
        Any network on tiles; ``AnalogMLP([d, k], ...)`` is a linear model.
    data : memsim.tasks.registry.Dataset
        A regression data set or a :class:`~memsim.tasks.classification.ClassificationData`.
    config : memsim.models.config.TrainConfig
        ``lr`` (per sample), ``epochs``, ``batch_size``, ``accumulate``, ``average_from``, the schedule
        and ``init_std`` (:func:`initial_weights`).
    seed : int
        Run seed: data order and initial weights.
    loss : {'mse', 'softmax', 'logistic'}
    progress : bool or None
        tqdm bar over epochs (``tqdm.auto``: the widget in a notebook, text elsewhere); ``None`` or
        ``True``: shown, ``False``: none (``memsim run --quiet``, ``progress = false`` in a config, sweeps).
    initial : list of numpy.ndarray, optional
        Program these instead of :func:`initial_weights`.

    Returns
    -------
    TrainResult
    """
    lf = get_loss(loss)
    y, yt, n_classes = targets(data)
    X = np.asarray(data.X_train, dtype=np.float64)
    Xt = np.asarray(data.X_test, dtype=np.float64)
    T = lf.targets(y, n_classes)
    n_out = lf.n_outputs(n_classes, y)
    if model.layer_sizes[0] != X.shape[1] or model.layer_sizes[-1] != n_out:
        raise invalid("train", "model", f"a network with {X.shape[1]} inputs and {n_out} outputs for the "
                      f"loss {lf.name!r} on this data", model)
    n = X.shape[0]
    orders = epoch_orders(seed, n, config.epochs)
    lrs = learning_rates(config)
    model.program(initial if initial is not None else initial_weights(model.layer_sizes, model.bias, seed,
                                                                      config.init_std))
    start_weights = model.weights
    per_epoch = events_per_epoch(n, config)
    start = math.ceil(config.average_from * per_epoch * config.epochs)
    fused = _fused(model, lf.name)
    A = augment(X, model.bias) if fused else None
    curves: dict[str, list[float]] = {"epoch": [], "train_loss": [], "test_loss": [], "train_accuracy": [],
                                      "test_accuracy": []}
    snapshots: list[list[np.ndarray]] = []
    show = True if progress is None else bool(progress)
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc="training", unit="epoch", leave=False)
    B = config.batch_size
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        done = epoch * per_epoch
        if fused:
            tile = model.layers[0].tiles[0][0]
            tile.train_linear_epochs(A, T, orders[epoch:epoch + 1], lrs[epoch:epoch + 1], B, config.accumulate,
                                     max(start - done, 0))
        else:
            events, lr, order = done, float(lrs[epoch]), orders[epoch]
            for s in range(0, n, B):
                idx = order[s:s + B]
                if events >= start and not model.recording:
                    model.start_recording()
                tb = T[idx]
                model.train_batch(X[idx], lambda out: lf.grad(out, tb), lr, config.accumulate)
                events += 1 if config.accumulate else idx.size
        w = model.weights
        if done + per_epoch > start:  # this epoch ended inside the averaging window
            snapshots.append(w)
        tr = evaluate(w, X, y, lf, model.activation, model.bias, n_classes)
        te = evaluate(w, Xt, yt, lf, model.activation, model.bias, n_classes)
        curves["epoch"].append(epoch + 1)
        for key, value in (("train_loss", tr[0]), ("test_loss", te[0]), ("train_accuracy", tr[1]),
                           ("test_accuracy", te[1])):
            curves[key].append(value)
        if bar is not None:
            bar.update(1)
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    stats = model.statistics()
    if stats[0]["events"] == 0:  # average_from so late that no batch opened the window
        raise invalid("train", "average_from", "a fraction that leaves at least one update in the window",
                      config.average_from)
    var = ([np.var(np.stack([s[k] for s in snapshots]), axis=0) for k in range(len(model.layers))]
           if len(snapshots) > 1 else None)
    return TrainResult(weights_final=model.weights, weights_mean=[s["weights_mean"] for s in stats],
                       weights_var=var, statistics=stats, curves=curves, orders=orders, lrs=lrs,
                       initial_weights=start_weights, wall_s=wall, path="fused" if fused else "step")
