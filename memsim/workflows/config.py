"""Run configurations: a TOML file -> validated, fully resolved :class:`RunConfig`.

Every key is checked; an unknown key or a bad value raises :class:`~memsim.errors.ConfigError`
naming the dotted key, the allowed values and the value given, before anything runs.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..tasks import LinearRegressionTask, task_from_dict
from ..physics.devices import SoftBounds, device_from_dict
from ..errors import ConfigError
from ..params import check_bool, check_choice, check_int, invalid
from ..physics.periphery import Periphery
from ..models.train import TrainConfig
from ..physics.updates import StochasticRounding, update_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["RunConfig", "ModelConfig", "load_toml", "resolve_config", "load_config", "SECTIONS"]

SECTIONS = ("task", "device", "update", "train", "model", "periphery")
TOP_LEVEL = ("seed", "backend", "dtype") + SECTIONS


@dataclass(frozen=True)
class ModelConfig:
    """Model options: a linear model on one tile, or a multi-layer perceptron on tiles (:mod:`memsim.models.mlp`).

    A linear model with the ``'mse'`` loss on a regression task is the linear run
    (:func:`memsim.workflows.run.run_summary`); every other combination (``kind = 'mlp'``, or a
    softmax/logistic/MSE classifier) runs through :mod:`memsim.analysis.network`.
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
    """Reference every cell at its symmetry point (THEORY 2d; ``Tile(zero_shift=True)``); linear
    regression runs only."""

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
        if self.zero_shift and self.kind != "linear":
            raise invalid("model", "zero_shift", "false for kind = 'mlp' (zero-shifting is implemented for the "
                          "linear model)", self.zero_shift)

    def to_dict(self) -> dict[str, Any]:
        """All options (``hidden`` as a list)."""
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Build from a config table; unknown keys raise naming the key."""
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise invalid("model", key, "absent (unknown key; allowed keys: " + ", ".join(sorted(names)) + ")",
                              data[key])
        return cls(**data)


@dataclass(frozen=True)
class RunConfig:
    """A fully resolved run: seed, backend, dtype and one object per section."""

    seed: int = 0
    backend: str = "numba"
    dtype: str = "float64"
    task: Any = dataclasses.field(default_factory=LinearRegressionTask)
    device: Any = dataclasses.field(default_factory=SoftBounds)
    update: Any = dataclasses.field(default_factory=StochasticRounding)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    periphery: Periphery = dataclasses.field(default_factory=Periphery)

    def to_dict(self) -> dict[str, Any]:
        """The full resolved config (every default filled in), TOML/JSON-ready."""
        return {"seed": self.seed, "backend": self.backend, "dtype": self.dtype,
                **{name: getattr(self, name).to_dict() for name in SECTIONS}}


def _section(name: str, table: Any, build):
    if not isinstance(table, dict):
        raise ConfigError(f"Invalid config key '{name}': must be a table ([{name}]). Got {table!r} instead.")
    try:
        return build(table)
    except ConfigError as exc:
        key = _key_in(str(exc))
        raise ConfigError(f"Invalid config key '{name}.{key}': {exc}") from None
    except TypeError as exc:  # e.g. a table where a number was expected
        raise ConfigError(f"Invalid config section '{name}': {exc}") from None


def _key_in(message: str) -> str:
    return message.split("'")[1] if message.count("'") >= 2 else "?"


def resolve_config(raw: dict[str, Any]) -> RunConfig:
    """Validate a parsed TOML document and fill in every default."""
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"Invalid config key '{key}': unknown key; allowed top-level keys: "
                              + ", ".join(TOP_LEVEL) + f". Got {raw[key]!r} instead.")
    try:
        seed = check_int("config", "seed", raw.get("seed", 0), 0, 2 ** 63 - 1)
        backend = check_choice("config", "backend", raw.get("backend", "numba"), ("numba", "numpy", "cupy", "auto"))
        dtype = check_choice("config", "dtype", raw.get("dtype", "float64"), ("float64", "float32"))
    except ConfigError as exc:
        raise ConfigError(f"Invalid config key '{_key_in(str(exc))}': {exc}") from None
    task = _section("task", raw.get("task", {"kind": "linear_regression"}),
                    lambda t: task_from_dict({"kind": "linear_regression", **t}))
    device = _section("device", raw.get("device", {"kind": "soft_bounds"}),
                      lambda t: device_from_dict({"kind": "soft_bounds", **t}))
    update = _section("update", raw.get("update", {"kind": "stochastic_rounding"}),
                      lambda t: update_from_dict({"kind": "stochastic_rounding", **t}))
    train = _section("train", raw.get("train", {}), TrainConfig.from_dict)
    model = _section("model", raw.get("model", {}), ModelConfig.from_dict)
    try:
        model = _resolve_loss(model, task)
    except ConfigError as exc:
        raise ConfigError(f"Invalid config key 'model.{_key_in(str(exc))}': {exc}") from None
    periphery = _section("periphery", raw.get("periphery", {}), Periphery.from_dict)
    return RunConfig(seed=seed, backend=backend, dtype=dtype, task=task, device=device, update=update,
                     train=train, model=model, periphery=periphery)


def _resolve_loss(model: ModelConfig, task: Any) -> ModelConfig:
    """Fill in ``model.loss`` from the task and check that the two fit (``ConfigError`` naming ``loss``)."""
    from ..models.mlp import check_loss_for_task, default_loss

    loss = check_loss_for_task(model.loss if model.loss is not None else default_loss(task), task)
    return dataclasses.replace(model, loss=loss)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file (errors name the file)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"Config file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid TOML: {exc}") from None


def load_config(path: str | Path) -> RunConfig:
    """Parse and resolve a run config file."""
    return resolve_config(load_toml(path))
