"""In-place training of networks (classifiers, MLPs) on tiles: the data order and averaging window of ``training``.

Definitions (DESIGN.md, as in :mod:`memsim.models.train`): a fresh permutation of the training set
every epoch (:func:`~memsim.models.train.epoch_orders`), the per-sample learning rate of every epoch
(:func:`~memsim.models.train.learning_rates`), mini-batches of ``batch_size`` consecutive samples of the
permutation (forward and backward at the weights of the batch start, then per-sample or
accumulated programming, :class:`~memsim.models.mlp.AnalogMLP`), and the averaging window: it opens
at the first batch whose first event index reaches ``ceil(average_from * total_events)``; from
then on every tile adds ``|Delta|/lr``, ``|Delta|/lr * w`` (``w`` read before the event) and ``w``
(after it) to its sums after every programming event.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tasks.registry import Dataset, data_generator
from .mlp import AnalogMLP, evaluate, get_loss
from ..params import invalid
from .train import TrainConfig, epoch_orders, events_per_epoch, learning_rates

__all__ = ["NetworkTrainResult", "train_network", "initial_network_weights", "network_targets"]


@dataclass
class NetworkTrainResult:
    """What a network training run produced (per-layer lists of NumPy arrays, bias column last)."""

    weights_final: list[np.ndarray]
    weights_mean: list[np.ndarray]
    statistics: list[dict[str, Any]]
    """Per layer: :meth:`~memsim.models.mlp.TiledLinear.statistics` (``mean_abs_grad`` = E|g_i|,
    ``mean_abs_grad_w`` = E[|g_i| w_i], ``weights_mean``, pulse counts, ...)."""
    curves: dict[str, list[float]]
    """Per epoch: ``epoch``, ``train_loss``, ``test_loss``, ``train_accuracy``, ``test_accuracy``
    (exact evaluation of the weights at the end of the epoch)."""
    orders: np.ndarray
    lrs: np.ndarray
    initial_weights: list[np.ndarray]
    wall_s: float


def network_targets(data: Dataset) -> tuple[np.ndarray, np.ndarray, int | None]:
    """``(y_train, y_test, n_classes)``: labels of a classification data set, or regression targets and ``None``."""
    n_classes = getattr(data, "n_classes", None)
    return np.asarray(data.y_train), np.asarray(data.y_test), n_classes


def initial_network_weights(layer_sizes, bias: bool, seed: int, init_std: float = 0.0) -> list[np.ndarray]:
    r"""Initial weights of every layer, from the run seed (the analog run and its digital baselines share them).

    * ``init_std > 0``: every weight (bias column too) :math:`\sim N(0, \sigma_{\rm init}^2)`, as
      for the linear model;
    * ``init_std == 0`` and no hidden layer: all zero (a convex problem; as for the linear model);
    * ``init_std == 0`` with hidden layers: Glorot/Xavier normal, :math:`W_{ij} \sim N(0, 2/(n_{\rm in}
      + n_{\rm out}))`, bias column 0 (all-zero weights would be a saddle point of the loss).

    Layer ``l`` draws from ``data_generator(seed, 4, l)``. The tiles clip the values to the cells' bounds.
    """
    sizes = list(layer_sizes)
    out = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shape = (n_out, n_in + int(bias))
        g = data_generator(seed, 4, k)
        if init_std > 0:
            W = init_std * g.standard_normal(shape)
        elif len(sizes) == 2:
            W = np.zeros(shape)
        else:
            W = np.zeros(shape)
            W[:, :n_in] = math.sqrt(2.0 / (n_in + n_out)) * g.standard_normal((n_out, n_in))
        out.append(W)
    return out


def train_network(model: AnalogMLP, data: Dataset, config: TrainConfig, seed: int, loss: str = "softmax",
                  progress: bool | None = None, initial_weights: list[np.ndarray] | None = None) -> NetworkTrainResult:
    """Train ``model`` in place on ``data`` with the per-sample loss ``loss`` (module docstring).

    Parameters
    ----------
    model : memsim.models.mlp.AnalogMLP
    data : memsim.tasks.registry.Dataset
        A :class:`~memsim.tasks.classification.ClassificationData` (integer labels) or a regression data set.
    config : memsim.models.train.TrainConfig
        ``lr`` (per sample), ``epochs``, ``batch_size``, ``accumulate``, ``average_from``, the schedule
        and ``init_std`` (:func:`initial_network_weights`).
    seed : int
        Run seed: data order and initial weights.
    loss : {'softmax', 'logistic', 'mse'}
    progress : bool or None
        tqdm bar over epochs; ``None``: only when stderr is a terminal.
    initial_weights : list of numpy.ndarray, optional
        Program these instead of :func:`initial_network_weights`.

    Returns
    -------
    NetworkTrainResult
    """
    lf = get_loss(loss)
    y, yt, n_classes = network_targets(data)
    X = np.asarray(data.X_train, dtype=np.float64)
    Xt = np.asarray(data.X_test, dtype=np.float64)
    T = lf.targets(y, n_classes)
    n_out = lf.n_outputs(n_classes, y)
    if model.layer_sizes[0] != X.shape[1] or model.layer_sizes[-1] != n_out:
        raise invalid("train_network", "model", f"a network with {X.shape[1]} inputs and {n_out} outputs for the "
                      f"loss {lf.name!r} on this data", model)
    n = X.shape[0]
    orders = epoch_orders(seed, n, config.epochs)
    lrs = learning_rates(config)
    init = initial_weights if initial_weights is not None else initial_network_weights(
        model.layer_sizes, model.bias, seed, config.init_std)
    model.program(init)
    initial = model.weights
    per_epoch = events_per_epoch(n, config)
    start = math.ceil(config.average_from * per_epoch * config.epochs)
    curves: dict[str, list[float]] = {"epoch": [], "train_loss": [], "test_loss": [], "train_accuracy": [],
                                      "test_accuracy": []}
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc="training", unit="epoch", leave=False)
    events = 0
    B = config.batch_size
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        lr = float(lrs[epoch])
        order = orders[epoch]
        for s in range(0, n, B):
            idx = order[s:s + B]
            if events >= start and not model.recording:
                model.start_recording()
            tb = T[idx]
            model.train_batch(X[idx], lambda out: lf.grad(out, tb), lr, config.accumulate)
            events += 1 if config.accumulate else idx.size
        w = model.weights
        tr = evaluate(w, X, y, lf, model.activation, model.bias, n_classes)
        te = evaluate(w, Xt, yt, lf, model.activation, model.bias, n_classes)
        curves["epoch"].append(epoch + 1)
        curves["train_loss"].append(tr[0])
        curves["test_loss"].append(te[0])
        curves["train_accuracy"].append(tr[1])
        curves["test_accuracy"].append(te[1])
        if bar is not None:
            bar.update(1)
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    stats = model.statistics()
    if stats[0]["events"] == 0:
        raise invalid("train", "average_from", "a fraction that leaves at least one update in the window",
                      config.average_from)
    return NetworkTrainResult(weights_final=model.weights, weights_mean=[s["weights_mean"] for s in stats],
                              statistics=stats, curves=curves, orders=orders, lrs=lrs, initial_weights=initial,
                              wall_s=wall)
