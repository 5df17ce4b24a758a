"""In-place training of linear models on a tile: data order, schedules, averaging window, curves.

Definitions (DESIGN.md): per-sample updates in a fresh permutation of the training set every epoch,
drawn from the run seed; the per-sample learning rate is ``lr``; weights are averaged after every
update from the fraction ``average_from`` of all updates onwards (``weights_mean``) and the
per-weight statistics use the same window. The window opens at the first batch whose first event
index reaches ``ceil(average_from * total_events)``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tasks.registry import Dataset, data_generator
from .linear import AnalogLinear
from ..params import check_bool, check_choice, check_float, check_int, check_keys, invalid

__all__ = ["TrainConfig", "TrainResult", "train_linear", "epoch_orders", "learning_rates", "events_per_epoch"]


@dataclass(frozen=True)
class TrainConfig:
    """In-place SGD settings."""

    lr: float = 0.005
    """Per-sample learning rate; > 0."""
    epochs: int = 300
    """Passes over the training set; >= 1."""
    batch_size: int = 1
    """Samples per batch; >= 1. Per-sample updates unless ``accumulate``."""
    accumulate: bool = False
    """Program one event per batch with the summed gradient (digital accumulation)."""
    average_from: float = 0.5
    """Fraction of all updates after which weights and statistics are averaged; in [0, 1)."""
    lr_schedule: str = "constant"
    """'constant' or 'step' (multiply by ``lr_gamma`` at each epoch of ``lr_step_epochs``)."""
    lr_step_epochs: tuple[int, ...] = ()
    """Epochs at which the 'step' schedule multiplies the learning rate by ``lr_gamma``."""
    lr_gamma: float = 0.1
    """Factor of the 'step' schedule; > 0."""
    init_std: float = 0.0
    """Initial weights ~ N(0, init_std^2) from the run seed (0: all zero); >= 0."""

    def __post_init__(self) -> None:
        owner = "train"
        object.__setattr__(self, "lr", check_float(owner, "lr", self.lr, 0.0, lo_open=True))
        object.__setattr__(self, "epochs", check_int(owner, "epochs", self.epochs, 1))
        object.__setattr__(self, "batch_size", check_int(owner, "batch_size", self.batch_size, 1))
        check_bool(owner, "accumulate", self.accumulate)
        object.__setattr__(self, "average_from", check_float(owner, "average_from", self.average_from, 0.0, 1.0,
                                                             hi_open=True))
        check_choice(owner, "lr_schedule", self.lr_schedule, ("constant", "step"))
        steps = tuple(check_int(owner, "lr_step_epochs", e, 1) for e in self.lr_step_epochs)
        object.__setattr__(self, "lr_step_epochs", steps)
        object.__setattr__(self, "lr_gamma", check_float(owner, "lr_gamma", self.lr_gamma, 0.0, lo_open=True))
        object.__setattr__(self, "init_std", check_float(owner, "init_std", self.init_std, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """All settings (lists for tuples)."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a config table; unknown keys raise naming the key."""
        check_keys("train", data, (f.name for f in dataclasses.fields(cls)))
        data = dict(data)
        if "lr_step_epochs" in data:
            if not isinstance(data["lr_step_epochs"], (list, tuple)):
                raise invalid("train", "lr_step_epochs", "a list of epochs", data["lr_step_epochs"])
            data["lr_step_epochs"] = tuple(data["lr_step_epochs"])
        return cls(**data)


@dataclass
class TrainResult:
    """What a training run produced (NumPy arrays; tile weights include the bias column if any)."""

    weights_final: np.ndarray
    weights_mean: np.ndarray
    statistics: dict[str, Any]
    curves: dict[str, list[float]]
    orders: np.ndarray
    initial_weights: np.ndarray
    wall_s: float
    weights_var: np.ndarray | None = None
    """Per-weight variance of the epoch-end weights inside the averaging window (the jitter)."""


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


def _loss(pred: np.ndarray, y: np.ndarray) -> float:
    return float(0.5 * np.mean(np.sum((pred - y) ** 2, axis=1)))


def _train_epoch_with_periphery(tile, X, Y, order, lr, config: TrainConfig, record_from: int) -> None:
    """One epoch as in ``Backend.train_linear_epochs`` but reading through the periphery."""
    events = 0
    for start in range(0, len(order), config.batch_size):
        idx = order[start:start + config.batch_size]
        if events >= record_from and not tile.recording:
            tile.start_recording()
        D = tile.forward(X[idx]) - Y[idx]
        tile.update(X[idx], D, lr=float(lr), accumulate=config.accumulate)
        events += 1 if config.accumulate else idx.size


def train_linear(model: AnalogLinear, data: Dataset, config: TrainConfig, seed: int,
                 progress: bool | None = None) -> TrainResult:
    """Train ``model`` in place on ``data`` (loss ``1/2 ||W x - y||^2`` per sample).

    Whole epochs run in the backend's ``train_linear_epochs`` (a fused compiled kernel on Numba;
    bit-identical to the step-by-step definition). Learning curves are evaluated after each epoch.

    Parameters
    ----------
    progress : bool or None
        tqdm bar over epochs; ``None``: only when stderr is a terminal.
    """
    tile = model.tile
    X = model.augment(data.X_train)
    Y = np.asarray(data.y_train, dtype=np.float64).reshape(len(X), -1)
    Xt, Yt = model.augment(data.X_test), np.asarray(data.y_test, dtype=np.float64).reshape(len(data.X_test), -1)
    n = X.shape[0]
    orders = epoch_orders(seed, n, config.epochs)
    lrs = learning_rates(config)
    if config.init_std > 0:
        tile.program(config.init_std * data_generator(seed, 4).standard_normal((tile.rows, tile.cols)))
    initial = tile.weights
    per_epoch = events_per_epoch(n, config)
    start = math.ceil(config.average_from * per_epoch * config.epochs)
    curves: dict[str, list[float]] = {"epoch": [], "train_loss": [], "test_loss": []}
    snapshots = []
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc="training", unit="epoch", leave=False)
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        done = epoch * per_epoch
        record_from = max(start - done, 0)  # beyond this epoch's events: no recording yet
        if tile.periphery.active:  # noisy/quantised reads: step by step through Tile.forward/update
            _train_epoch_with_periphery(tile, X, Y, orders[epoch], lrs[epoch], config, record_from)
        else:
            tile.train_linear_epochs(X, Y, orders[epoch:epoch + 1], lrs[epoch:epoch + 1], config.batch_size,
                                     config.accumulate, record_from)
        curves["epoch"].append(epoch + 1)
        w = tile.weights
        if done + per_epoch > start:  # this epoch ended inside the averaging window
            snapshots.append(w)
        curves["train_loss"].append(_loss(X @ w.T, Y))  # BLAS is fine for curves (not bit-critical)
        curves["test_loss"].append(_loss(Xt @ w.T, Yt))
        if bar is not None:
            bar.update(1)
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    stats = tile.statistics()
    if stats["events"] == 0:  # average_from so late that no batch opened the window
        raise invalid("train", "average_from", "a fraction that leaves at least one update in the window",
                      config.average_from)
    return TrainResult(weights_final=tile.weights, weights_mean=stats["weights_mean"], statistics=stats,
                       curves=curves, orders=orders, initial_weights=initial, wall_s=wall,
                       weights_var=np.var(np.stack(snapshots), axis=0) if len(snapshots) > 1 else None)
