r"""The one trainer: in-place SGD of any network on tiles (a linear model is a one-layer network).

Definitions (docs/design.md, section 'Definitions'): per-sample updates in a fresh permutation of the
training set every epoch, drawn from the run seed (:func:`epoch_orders`, shared with the digital
baseline); the per-sample learning rate of every epoch (:func:`learning_rates`); mini-batches of
``batch_size`` consecutive samples of the permutation, whose forward and backward passes read the
weights at the batch start, then per-sample or accumulated programming
(:class:`~memsim.models.mlp.AnalogMLP`). The averaging
window opens at the first batch whose first event index reaches ``ceil(average_from * total_events)``;
from then on every tile adds ``|Delta|/lr``, ``|Delta|/lr * w`` (``w`` read before the event) and
``w`` (after it) to its sums after every programming event.

Two paths, chosen here and never by the caller (``TrainResult.path`` says which one ran):

``"fused"``
    Whole epochs in one compiled call of the backend, bit-identical to the step-by-step path: a
    network of one layer on one tile with the ``mse`` loss and no periphery runs the linear-model
    kernel ``train_linear_epochs``; any other network of plain tiles (every layer, tiling, activation,
    loss, update rule, periphery and zero-shift) runs the backend's network kernel
    (``Backend.train_networks_epoch``: Numba, threads over replicas; CuPy and its CPU emulation,
    one CUDA block per replica).
``"step"``
    Everything else (the NumPy reference, compound schemes): batch by batch
    through :meth:`AnalogMLP.train_batch` (reads through the periphery, back-propagation through
    the tiles). Every read sums its dot products in index order and the activations and losses use
    the C library's ``exp``/``log``/``tanh`` element by element, as the kernels do.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .. import rng
from ..network_math import ACTIVATION_CODES, LOSS_CODES, augment, evaluate, get_loss
from ..params import invalid
from ..tasks.registry import Dataset, data_generator
from .config import TrainConfig
from .mlp import AnalogMLP
from .tile import Tile

__all__ = ["TrainResult", "train", "train_replicas", "epoch_orders", "learning_rates", "events_per_epoch",
           "initial_weights", "targets"]


@dataclass
class TrainResult:
    """What in-place training produced: per-layer lists of NumPy arrays (bias column last).

    Parameters
    ----------
    weights_final : list of numpy.ndarray
        Per layer: the weights at the end of training.
    weights_mean : list of numpy.ndarray
        Per layer: the weights averaged over the window (after every programming event).
    weights_var : list or None
        Per layer: variance of the epoch-end weights inside the window (the jitter); ``None`` if the window
        holds fewer than two epoch ends.
    statistics : list
        Per layer: :meth:`~memsim.models.layers.TiledLinear.statistics` (``mean_abs_grad`` = ``E|g_i|``,
        ``mean_abs_grad_w`` = ``E[|g_i| w_i]``, ``weights_mean``, pulse counts, ``events``, ...).
    curves : dict
        Per epoch: ``epoch``, ``train_loss``, ``test_loss``, ``train_accuracy``, ``test_accuracy`` (exact
        evaluation of the weights at the end of the epoch; accuracies NaN for regression).
    orders : numpy.ndarray
        The data order, shape (epochs, n).
    lrs : numpy.ndarray
        The per-sample learning rate of every epoch.
    initial_weights : list of numpy.ndarray
        Per layer: the weights programmed before training.
    wall_s : float
        Seconds of the whole training call (evaluation of the curves included).
    path : str
        ``"fused"`` or ``"step"`` (module docstring).
    compute_s : float
        Seconds spent training alone (per-epoch evaluation excluded; a shared replica call is split equally
        among its replicas).
    """

    weights_final: list[np.ndarray]
    weights_mean: list[np.ndarray]
    """Per layer: the weights averaged over the window (after every programming event)."""
    weights_var: list[np.ndarray] | None
    """Per layer: variance of the epoch-end weights inside the window (the jitter); ``None`` if the
    window holds fewer than two epoch ends."""
    statistics: list[dict[str, Any]]
    """Per layer: :meth:`~memsim.models.layers.TiledLinear.statistics` (``mean_abs_grad`` = ``E|g_i|``,
    ``mean_abs_grad_w`` = ``E[|g_i| w_i]``, ``weights_mean``, pulse counts, ``events``, ...)."""
    curves: dict[str, list[float]]
    """Per epoch: ``epoch``, ``train_loss``, ``test_loss``, ``train_accuracy``, ``test_accuracy``
    (exact evaluation of the weights at the end of the epoch; accuracies NaN for regression)."""
    orders: np.ndarray
    """The data order, shape (epochs, n)."""
    lrs: np.ndarray
    """The per-sample learning rate of every epoch."""
    initial_weights: list[np.ndarray]
    wall_s: float
    """Seconds of the whole training call (evaluation of the curves included)."""
    path: str
    """``"fused"`` or ``"step"`` (module docstring)."""
    compute_s: float = math.nan
    """Seconds spent training alone (per-epoch evaluation excluded; a shared replica call is split
    equally among its replicas)."""


def epoch_orders(seed: int, n: int, epochs: int) -> np.ndarray:
    """One fresh permutation of ``range(n)`` per epoch, from the run seed (shared with the baselines).

    Parameters
    ----------
    seed : int
        The run seed.
    n : int
        Training samples.
    epochs : int
        Epochs.

    Returns
    -------
    numpy.ndarray of int64
        The permutations, shape (epochs, n).
    """
    g = data_generator(seed, 3)
    return np.stack([g.permutation(n) for _ in range(epochs)]).astype(np.int64)


def learning_rates(config: TrainConfig) -> np.ndarray:
    """The per-sample learning rate of every epoch.

    Parameters
    ----------
    config : TrainConfig
        The training settings (``lr`` and the schedule).

    Returns
    -------
    numpy.ndarray
        The per-sample learning rate of every epoch, shape (epochs,).
    """
    lrs = np.full(config.epochs, config.lr)
    if config.lr_schedule == "step":
        for e in config.lr_step_epochs:
            lrs[e:] *= config.lr_gamma
    return lrs


def events_per_epoch(n: int, config: TrainConfig) -> int:
    """Programming events per epoch: ``n`` per-sample, ``ceil(n / batch_size)`` accumulated.

    Parameters
    ----------
    n : int
        Training samples.
    config : TrainConfig
        The training settings.

    Returns
    -------
    int
        Programming events per epoch.
    """
    return math.ceil(n / config.batch_size) if config.accumulate else n


def targets(data: Dataset) -> tuple[np.ndarray, np.ndarray, int | None]:
    """``(y_train, y_test, n_classes)``: labels of a classification data set, or regression targets and ``None``.

    Parameters
    ----------
    data : memsim.tasks.registry.Dataset
        The data set.

    Returns
    -------
    y_train : numpy.ndarray
        Training labels or targets.
    y_test : numpy.ndarray
        Test labels or targets.
    n_classes : int or None
        Number of classes; ``None`` for regression.
    """
    return np.asarray(data.y_train), np.asarray(data.y_test), getattr(data, "n_classes", None)


def initial_weights(layer_sizes, bias: bool, seed: int, init_std: float = 0.0) -> list[np.ndarray]:
    r"""Initial weights of every layer, from the run seed (the analog run and its digital baseline share them).

    * ``init_std > 0``: every weight (bias column too) :math:`\sim N(0, \sigma_{\rm init}^2)`;
    * ``init_std == 0`` and no hidden layer: all zero (a convex problem);
    * ``init_std == 0`` with hidden layers: Glorot/Xavier normal, :math:`W_{ij} \sim N(0, 2/(n_{\rm in}
      + n_{\rm out}))`, bias column 0 (all-zero weights would be a saddle point of the loss).

    Layer ``l`` of a network with hidden layers draws from ``data_generator(seed, 4, l)``; a
    one-layer network from ``data_generator(seed, 4)``. The tiles clip the values to the cells' bounds.

    Parameters
    ----------
    layer_sizes : sequence of int
        Layer sizes, inputs first.
    bias : bool
        Whether every layer has a bias column.
    seed : int
        The run seed.
    init_std : float
        Standard deviation of the initial weights; 0 for the defaults above.

    Returns
    -------
    list of numpy.ndarray
        Per layer, shape ``(out, in + bias)``.
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
            and not model.periphery_active and getattr(model, "scheme", None) is None)


def _fused_network(model: AnalogMLP) -> bool:
    """Whether whole epochs can run in the backend's compiled network kernel (plain tiles only)."""
    return (getattr(model, "scheme", None) is None and hasattr(model.backend, "train_networks_epoch")
            and all(type(t) is Tile for t in model.tiles))


def _tile_specs(model: AnalogMLP, record_from: int, n_events: int) -> tuple[list[dict], list]:
    """What the network kernel needs of every tile (layer order, row blocks outer), and the tiles."""
    specs, tiles = [], []
    for k, layer in enumerate(model.layers):
        for i, r in enumerate(layer.row_blocks):
            for j, c in enumerate(layer.col_blocks):
                tile = layer.tiles[i][j]
                tiles.append(tile)
                if record_from < n_events and hasattr(tile, "_ensure_statistics"):
                    tile._ensure_statistics()  # the window opens in this call: its per-cell sums must exist
                specs.append({"weights": tile._weights, "cell_params": tile._cell_params,
                              "reference": tile.reference if tile.zero_shift else None, "stats": tile._stats,
                              "layer": k, "rows": r, "cols": c, "seed": tile.seed, "step": tile.step,
                              "read_step": tile.read_step, "uniform_params": tile._uniform_params})
    return specs, tiles


class _Replica:
    """One network being trained: its data, order, learning rates, window and curves."""

    def __init__(self, model: AnalogMLP, data: Dataset, config: TrainConfig, seed: int, lf, initial):
        self.model, self.config, self.seed, self.lf = model, config, seed, lf
        y, yt, n_classes = targets(data)
        self.y, self.yt, self.n_classes = y, yt, n_classes
        self.X = np.asarray(data.X_train, dtype=np.float64)
        self.Xt = np.asarray(data.X_test, dtype=np.float64)
        self.T = lf.targets(y, n_classes)
        n_out = lf.n_outputs(n_classes, y)
        if model.layer_sizes[0] != self.X.shape[1] or model.layer_sizes[-1] != n_out:
            raise invalid("train", "model", f"a network with {self.X.shape[1]} inputs and {n_out} outputs for the "
                          f"loss {lf.name!r} on this data", model)
        if config.accumulate and getattr(model.layers[0].tiles[0][0].update_rule, "kind", "") == "pulse_coincidence":
            raise invalid("Tile.update", "accumulate", "False with the 'pulse_coincidence' rule (its bit "
                          "streams program rank-1 outer products only)", config.accumulate)
        self.n = self.X.shape[0]
        self.orders = epoch_orders(seed, self.n, config.epochs)
        self.lrs = learning_rates(config)
        self.initial = initial
        self.per_epoch = events_per_epoch(self.n, config)
        self.start = math.ceil(config.average_from * self.per_epoch * config.epochs)
        self.fused = _fused(model, lf.name)
        self.network = not self.fused and _fused_network(model)
        self.T2 = np.asarray(self.T, dtype=np.float64).reshape(self.n, -1) if self.network else None
        self.curves: dict[str, list[float]] = {"epoch": [], "train_loss": [], "test_loss": [], "train_accuracy": [],
                                               "test_accuracy": []}
        self.snapshots: list[list[np.ndarray]] = []
        self.compute_s = 0.0

    def begin(self) -> None:
        """Program the initial weights."""
        m = self.model
        m.program(self.initial if self.initial is not None else initial_weights(m.layer_sizes, m.bias, self.seed,
                                                                                 self.config.init_std))
        self.start_weights = m.weights

    def record_from(self, epoch: int) -> int:
        """First event (counted from the start of ``epoch``) inside the window."""
        return max(self.start - epoch * self.per_epoch, 0)

    def kernel_input(self, epoch: int) -> dict:
        """This replica's entry of ``Backend.train_networks_epoch`` for ``epoch``."""
        specs, self.tiles = _tile_specs(self.model, self.record_from(epoch), self.per_epoch)
        first = self.tiles[0]
        return {"tiles": specs, "device": first.device, "rule": first.update_rule, "X": self.X, "T": self.T2,
                "order": self.orders[epoch], "lr": float(self.lrs[epoch]), "batch_size": self.config.batch_size,
                "accumulate": self.config.accumulate, "record_from": self.record_from(epoch)}

    def kernel_output(self, result) -> None:
        """Advance the tiles' counters as the step path would have; refuse non-finite values like it."""
        events, recorded, status, steps, read_steps = result
        for tile, step, read_step in zip(self.tiles, steps, read_steps):
            tile.step = int(step)
            tile.read_step = int(read_step)
            tile.events_total += events
            tile.recorded_events += recorded
            if recorded:
                tile.recording = True
        if status:  # what Tile.update refuses on the step path
            raise invalid("Tile", "d", "finite numbers", "an array with non-finite values")

    def epoch_alone(self, epoch: int) -> None:
        """One epoch on the linear-model kernel or step by step."""
        m, cfg, B = self.model, self.config, self.config.batch_size
        t0 = time.perf_counter()
        if self.fused:
            tile = m.layers[0].tiles[0][0]
            tile.train_linear_epochs(augment(self.X, m.bias), self.T, self.orders[epoch:epoch + 1],
                                     self.lrs[epoch:epoch + 1], B, cfg.accumulate, self.record_from(epoch))
        else:
            events, lr, order = epoch * self.per_epoch, float(self.lrs[epoch]), self.orders[epoch]
            for s in range(0, self.n, B):
                idx = order[s:s + B]
                if events >= self.start and not m.recording:
                    m.start_recording()
                tb = self.T[idx]
                m.train_batch(self.X[idx], lambda out: self.lf.grad(out, tb), lr, cfg.accumulate)
                events += 1 if cfg.accumulate else idx.size
        self.compute_s += time.perf_counter() - t0

    def end_epoch(self, epoch: int) -> None:
        """Epoch-end snapshot (inside the window) and the exact evaluation of the curves."""
        m = self.model
        w = m.weights
        if (epoch + 1) * self.per_epoch > self.start:  # this epoch ended inside the averaging window
            self.snapshots.append(w)
        tr = evaluate(w, self.X, self.y, self.lf, m.activation, m.bias, self.n_classes)
        te = evaluate(w, self.Xt, self.yt, self.lf, m.activation, m.bias, self.n_classes)
        self.curves["epoch"].append(epoch + 1)
        for key, value in (("train_loss", tr[0]), ("test_loss", te[0]), ("train_accuracy", tr[1]),
                           ("test_accuracy", te[1])):
            self.curves[key].append(value)

    def result(self, wall: float) -> "TrainResult":
        m = self.model
        stats = m.statistics()
        if stats[0]["events"] == 0:  # average_from so late that no batch opened the window
            raise invalid("train", "average_from", "a fraction that leaves at least one update in the window",
                          self.config.average_from)
        var = ([np.var(np.stack([s[k] for s in self.snapshots]), axis=0) for k in range(len(m.layers))]
               if len(self.snapshots) > 1 else None)
        return TrainResult(weights_final=m.weights, weights_mean=[s["weights_mean"] for s in stats],
                           weights_var=var, statistics=stats, curves=self.curves, orders=self.orders, lrs=self.lrs,
                           initial_weights=self.start_weights, wall_s=wall,
                           path="fused" if self.fused or self.network else "step", compute_s=self.compute_s)


def _replica_group_key(rep: _Replica) -> tuple:
    """Replicas with equal keys share one network-kernel call per epoch."""
    m = rep.model
    first = m.layers[0].tiles[0][0]
    return (type(m.backend).__name__, m.backend.dtype.str, m.layer_sizes, m.bias, m.activation, rep.lf.name,
            tuple(tuple((b.start, b.stop) for b in layer.row_blocks + layer.col_blocks) for layer in m.layers),
            type(first.device), tuple(first.device.formula_sources().values()), first.periphery, rep.n,
            rep.config.epochs)


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
        The per-sample loss (:data:`memsim.network_math.LOSSES`).
    progress : bool or None
        Show a tqdm bar over epochs (``tqdm.auto``: the widget in a notebook, text elsewhere); ``None`` or
        ``True``: shown, ``False``: none (``memsim run --quiet``, ``progress = false`` in a config, sweeps).
    initial : list of numpy.ndarray, optional
        Program these instead of :func:`initial_weights`.

    Returns
    -------
    TrainResult
        The trained weights, recorded statistics, curves and the path that ran.
    """
    return train_replicas([model], [data], [config], [seed], loss=loss, progress=progress,
                          initial=[initial])[0]


def train_replicas(models, datas, configs, seeds, loss: str = "mse", progress: bool | None = None,
                   initial=None) -> list[TrainResult]:
    """Train R independent networks; each result is bit-identical to :func:`train` of that network alone.

    Networks of one shape on a backend with a network kernel (same layer sizes, activation, bias, tiling,
    device model, periphery, number of samples and epochs; any device, update or training parameter that
    does not change array shapes may differ, and so may the data and the seed) share one compiled call per
    epoch (``Backend.train_networks_epoch``: threads over replicas on Numba, one CUDA block per replica on
    CuPy). Others run one after the other.

    Parameters
    ----------
    models : sequence of memsim.models.mlp.AnalogMLP
        The networks (each trained in place).
    datas : sequence of memsim.tasks.registry.Dataset
        The data set of each network.
    configs : sequence of memsim.models.config.TrainConfig
        The training settings of each network.
    seeds : sequence of int
        The run seed of each network.
    loss : {'mse', 'softmax', 'logistic'}
        The per-sample loss of every network.
    progress : bool or None
        A tqdm bar over epochs (see :func:`train`).
    initial : sequence of (list of numpy.ndarray or None), optional
        Initial weights per network (``None``: :func:`initial_weights`).

    Returns
    -------
    list of TrainResult
        One per network, in order.
    """
    models, datas, configs, seeds = list(models), list(datas), list(configs), list(seeds)
    if not (len(models) == len(datas) == len(configs) == len(seeds)) or not models:
        raise invalid("train_replicas", "models", "as many networks as data sets, configs and seeds (at least one)",
                      f"{len(models)}, {len(datas)}, {len(configs)}, {len(seeds)}")
    initial = [None] * len(models) if initial is None else list(initial)
    lf = get_loss(loss)
    reps = [_Replica(m, d, c, s, lf, i) for m, d, c, s, i in zip(models, datas, configs, seeds, initial)]
    for rep in reps:
        rep.begin()
    groups: dict[tuple, list[_Replica]] = {}
    for rep in reps:
        if rep.network:
            groups.setdefault(_replica_group_key(rep), []).append(rep)
    alone = [rep for rep in reps if not rep.network]
    show = True if progress is None else bool(progress)
    bar = None
    epochs = max(rep.config.epochs for rep in reps)
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="training", unit="epoch", leave=False)
    # The epoch-end evaluation's small products gain nothing from BLAS threads, whose spinning workers
    # would take the cores from the training kernels (measured: half the speed of the digits MLP).
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        for epoch in range(epochs):
            for group in groups.values():
                if epoch >= group[0].config.epochs:
                    continue
                first = group[0].model
                inputs = [rep.kernel_input(epoch) for rep in group]
                t1 = time.perf_counter()
                outputs = first.backend.train_networks_epoch(
                    device=inputs[0]["device"], periphery=group[0].tiles[0].periphery, sizes=first.layer_sizes,
                    bias=first.bias, activation=ACTIVATION_CODES.index(first.activation),
                    loss=LOSS_CODES.index(lf.name), replicas=inputs,
                    read_streams=(rng.STREAM_READ, rng.STREAM_WEIGHT_READ))
                elapsed = time.perf_counter() - t1
                for rep, out in zip(group, outputs):
                    rep.compute_s += elapsed / len(group)
                    rep.kernel_output(out)
            for rep in alone:
                if epoch < rep.config.epochs:
                    rep.epoch_alone(epoch)
            for rep in reps:
                if epoch < rep.config.epochs:
                    rep.end_epoch(epoch)
            if bar is not None:
                bar.update(1)
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return [rep.result(wall) for rep in reps]
