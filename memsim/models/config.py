"""Training and model settings: frozen dataclasses read by the trainer and by the run configuration.

They import nothing of the simulator, so reading a config does not build or load a crossbar.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..params import MAX_MAGNITUDE, check_bool, check_choice, check_float, check_int, check_keys, invalid

__all__ = ["TrainConfig", "ModelConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """In-place SGD settings.

    Parameters
    ----------
    lr : float
        Per-sample learning rate; in (0, 1e150] (:data:`memsim.params.MAX_MAGNITUDE`).
    epochs : int
        Passes over the training set; >= 1.
    batch_size : int
        Samples per batch; >= 1. Per-sample updates unless ``accumulate``.
    accumulate : bool
        Program one event per batch with the summed gradient (digital accumulation).
    average_from : float
        Fraction of all updates after which weights and statistics are averaged; in [0, 1).
    lr_schedule : str
        'constant' or 'step' (multiply by ``lr_gamma`` at each epoch of ``lr_step_epochs``).
    lr_step_epochs : tuple of int
        Epochs at which the 'step' schedule multiplies the learning rate by ``lr_gamma``: each in ``[1, epochs
        - 1]``; only with ``lr_schedule = 'step'``.
    lr_gamma : float
        Factor of the 'step' schedule; in (0, 1e150], and every rate of the schedule in (0, 1e150].
    init_std : float
        Initial weights ~ N(0, init_std^2) from the run seed (0: all zero); >= 0.
    """

    lr: float = 0.005
    """Per-sample learning rate; in (0, 1e150] (:data:`memsim.params.MAX_MAGNITUDE`)."""
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
    """Epochs at which the 'step' schedule multiplies the learning rate by ``lr_gamma``: each in
    ``[1, epochs - 1]``; only with ``lr_schedule = 'step'``."""
    lr_gamma: float = 0.1
    """Factor of the 'step' schedule; in (0, 1e150], and every rate of the schedule in (0, 1e150]."""
    init_std: float = 0.0
    """Initial weights ~ N(0, init_std^2) from the run seed (0: all zero); >= 0."""

    def __post_init__(self) -> None:
        owner = "train"
        object.__setattr__(self, "lr", check_float(owner, "lr", self.lr, 0.0, MAX_MAGNITUDE, lo_open=True))
        object.__setattr__(self, "epochs", check_int(owner, "epochs", self.epochs, 1))
        object.__setattr__(self, "batch_size", check_int(owner, "batch_size", self.batch_size, 1))
        check_bool(owner, "accumulate", self.accumulate)
        object.__setattr__(self, "average_from", check_float(owner, "average_from", self.average_from, 0.0, 1.0,
                                                             hi_open=True))
        check_choice(owner, "lr_schedule", self.lr_schedule, ("constant", "step"))
        if isinstance(self.lr_step_epochs, (str, bytes)) or not isinstance(self.lr_step_epochs, (list, tuple)):
            raise invalid(owner, "lr_step_epochs", "a list of epochs", self.lr_step_epochs)
        steps = tuple(check_int(owner, "lr_step_epochs", e, 1) for e in self.lr_step_epochs)
        if steps and self.lr_schedule != "step":
            raise invalid(owner, "lr_step_epochs", "empty with lr_schedule = 'constant' (a step needs "
                          "lr_schedule = 'step')", list(steps))
        late = [e for e in steps if e >= self.epochs]
        if late:
            raise invalid(owner, "lr_step_epochs", f"epochs in [1, {self.epochs - 1}] (a step at epoch e changes "
                          f"the rate from the (e+1)-th of epochs = {self.epochs} on)", list(steps))
        object.__setattr__(self, "lr_step_epochs", steps)
        object.__setattr__(self, "lr_gamma", check_float(owner, "lr_gamma", self.lr_gamma, 0.0, MAX_MAGNITUDE,
                                                         lo_open=True))
        if steps:  # the largest and smallest rate of the schedule must stay in range too
            peak = self.lr * max(1.0, self.lr_gamma) ** len(steps)
            low = self.lr * min(1.0, self.lr_gamma) ** len(steps)
            if not (peak <= MAX_MAGNITUDE and low > 0.0):
                raise invalid(owner, "lr_gamma", f"a factor that keeps every rate lr * lr_gamma**k of the schedule "
                              f"in (0, {MAX_MAGNITUDE:g}] (lr = {self.lr:g}, {len(steps)} steps)", self.lr_gamma)
        object.__setattr__(self, "init_std", check_float(owner, "init_std", self.init_std, 0.0, MAX_MAGNITUDE))

    def to_dict(self) -> dict[str, Any]:
        """All settings (lists for tuples).

        Returns
        -------
        dict
            Every setting (``lr_step_epochs`` as a list).
        """
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a config table; unknown keys raise naming the key.

        Parameters
        ----------
        data : dict
            The ``[train]`` table.
        """
        check_keys("train", data, (f.name for f in dataclasses.fields(cls)))
        data = dict(data)
        if "lr_step_epochs" in data:
            if not isinstance(data["lr_step_epochs"], (list, tuple)):
                raise invalid("train", "lr_step_epochs", "a list of epochs", data["lr_step_epochs"])
            data["lr_step_epochs"] = tuple(data["lr_step_epochs"])
        return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """Model options: the network on tiles (:class:`~memsim.models.mlp.AnalogMLP`), ``'linear'`` being one layer.

    Every kind trains through the same trainer (:func:`memsim.models.train.train`) and run path
    (:func:`memsim.workflows.run.run_summary`); a one-layer ``'mse'`` model on a regression task gets the
    linear theory's analysis (:mod:`memsim.analysis.penalty`), every other the network comparison
    (:mod:`memsim.analysis.network`).

    Parameters
    ----------
    kind : str
        'linear' (one layer, no activation) or 'mlp' (``hidden`` layers with ``activation``).
    bias : bool or None
        Append a bias input to every layer (excluded from every metric); ``None``: False for 'linear', True
        for 'mlp'.
    hidden : tuple of int
        Hidden layer sizes of an 'mlp' (at least one, each >= 1); empty for 'linear'. A single integer means
        one hidden layer (so a sweep can vary it: ``"model.hidden" = [8, 16]``).
    activation : str
        Activation of the hidden layers: 'tanh', 'sigmoid' or 'relu'.
    loss : str or None
        'mse', 'softmax' or 'logistic'; ``None`` (resolved from the task): 'mse' for regression, 'logistic'
        for two classes, 'softmax' for more.
    max_tile_size : int or None
        Split every layer into tiles of at most this many rows and columns; ``None``: one tile per layer.
    zero_shift : bool
        Reference every cell of every layer at its symmetry point (``Tile(zero_shift=True)``; docs/theory.md,
        section '2d. Up/down asymmetry, device-to-device variation, zero-shifting').
    """

    kind: str = "linear"
    """'linear' (one layer, no activation) or 'mlp' (``hidden`` layers with ``activation``)."""
    bias: bool | None = None
    """Append a bias input to every layer (excluded from every metric); ``None``: False for
    'linear', True for 'mlp'."""
    hidden: tuple[int, ...] = ()
    """Hidden layer sizes of an 'mlp' (at least one, each >= 1); empty for 'linear'. A single integer
    means one hidden layer (so a sweep can vary it: ``"model.hidden" = [8, 16]``)."""
    activation: str = "tanh"
    """Activation of the hidden layers: 'tanh', 'sigmoid' or 'relu'."""
    loss: str | None = None
    """'mse', 'softmax' or 'logistic'; ``None`` (resolved from the task): 'mse' for regression,
    'logistic' for two classes, 'softmax' for more."""
    max_tile_size: int | None = None
    """Split every layer into tiles of at most this many rows and columns; ``None``: one tile per layer."""
    zero_shift: bool = False
    """Reference every cell of every layer at its symmetry point (``Tile(zero_shift=True)``; docs/theory.md,
    section '2d. Up/down asymmetry, device-to-device variation, zero-shifting')."""

    def __post_init__(self) -> None:
        check_choice("model", "kind", self.kind, ("linear", "mlp"))
        if self.bias is None:
            object.__setattr__(self, "bias", self.kind == "mlp")
        check_bool("model", "bias", self.bias)
        if isinstance(self.hidden, int) and not isinstance(self.hidden, bool):
            object.__setattr__(self, "hidden", (self.hidden,))  # one hidden layer (sweepable as a number)
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, (list, tuple)):
            raise invalid("model", "hidden", "a list of hidden layer sizes (integers >= 1)", self.hidden)
        object.__setattr__(self, "hidden", tuple(check_int("model", "hidden", h, 1) for h in self.hidden))
        if self.kind == "linear" and self.hidden:
            raise invalid("model", "hidden", "an empty list for kind = 'linear' (use kind = 'mlp')", list(self.hidden))
        if self.kind == "mlp" and not self.hidden:
            raise invalid("model", "hidden", "a non-empty list of layer sizes for kind = 'mlp'", list(self.hidden))
        check_choice("model", "activation", self.activation, ("tanh", "sigmoid", "relu"))
        if self.loss is not None:
            check_choice("model", "loss", self.loss, ("mse", "softmax", "logistic"))
        if self.max_tile_size is not None:
            object.__setattr__(self, "max_tile_size", check_int("model", "max_tile_size", self.max_tile_size, 1))
        check_bool("model", "zero_shift", self.zero_shift)

    def to_dict(self) -> dict[str, Any]:
        """All options (``hidden`` as a list).

        Returns
        -------
        dict
            Every option (``hidden`` as a list).
        """
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Build from a config table; unknown keys raise naming the key.

        Parameters
        ----------
        data : dict
            The ``[model]`` table.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise invalid("model", key, "absent (unknown key; allowed keys: " + ", ".join(sorted(names)) + ")",
                              data[key])
        return cls(**data)
