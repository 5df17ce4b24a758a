"""Run configurations: a TOML file -> validated, fully resolved :class:`RunConfig`.

Every key is checked; an unknown key or a bad value raises :class:`~memsim.errors.ConfigError`
naming the dotted key, the allowed values and the value given, before anything runs.

Relative file names of a task (a task class with ``with_base_dir``, e.g. ``kind = "file"``) are
resolved against the config file's folder by :func:`load_config` (``resolve_config(raw, base_dir)``);
the resolved config holds the absolute paths. The top-level ``progress`` (bool, default true) turns
the training progress bars of ``memsim run`` and ``memsim sweep`` off; it is not part of what a run
computes, so :func:`memsim.workflows.sweeps.config_hash` leaves it out.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models.config import ModelConfig, TrainConfig
from ..network_math import check_loss_for_task, default_loss
from ..params import MAX_MAGNITUDE, check_bool, check_choice, check_int
from ..physics.devices import SoftBounds, device_from_dict
from ..physics.periphery import Periphery
from ..physics.updates import StochasticRounding, update_from_dict
from ..tasks import TASKS, LinearRegressionTask, task_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["RunConfig", "ModelConfig", "load_toml", "resolve_config", "load_config", "config_dir", "SECTIONS"]

SECTIONS = ("task", "device", "update", "train", "model", "periphery")
TOP_LEVEL = ("seed", "backend", "dtype", "progress") + SECTIONS + ("scheme",)


@dataclass(frozen=True)
class RunConfig:
    """A fully resolved run: seed, backend, dtype and one object per section.

    Parameters
    ----------
    seed : int
        The run seed in ``[0, 2**64)`` (data order, initial weights, device noise).
    backend : str
        ``"numba"``, ``"numpy"``, ``"cupy"`` or ``"auto"``.
    dtype : str
        Storage dtype of the weights (``"float64"`` or ``"float32"``).
    progress : bool
        Progress bars of ``memsim run`` / ``memsim sweep`` (not hashed: it changes no result).
    task : object
        The task (:mod:`memsim.tasks`).
    device : memsim.physics.devices.base.PulsedDevice
        The device model.
    update : memsim.physics.updates.UpdateRule
        The pulse-count rule.
    train : memsim.models.config.TrainConfig
        The training settings.
    model : memsim.models.config.ModelConfig
        The model options.
    periphery : memsim.physics.periphery.Periphery
        The periphery.
    scheme : memsim.physics.schemes.Scheme or None
        A compound scheme (``[scheme]``, :mod:`memsim.physics.schemes`); ``None``: plain in-place SGD.
    """

    seed: int = 0
    backend: str = "numba"
    dtype: str = "float64"
    progress: bool = True
    """Progress bars of ``memsim run`` / ``memsim sweep`` (not hashed: it changes no result)."""
    task: Any = dataclasses.field(default_factory=LinearRegressionTask)
    device: Any = dataclasses.field(default_factory=SoftBounds)
    update: Any = dataclasses.field(default_factory=StochasticRounding)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    periphery: Periphery = dataclasses.field(default_factory=Periphery)
    scheme: Any = None
    """A compound scheme (``[scheme]``, :mod:`memsim.physics.schemes`); ``None``: plain in-place SGD."""

    def to_dict(self) -> dict[str, Any]:
        """The full resolved config (every default filled in), TOML/JSON-ready (``scheme`` only when set,
        so configs without one keep their hashes).

        Returns
        -------
        dict
            The resolved configuration, one table per section.
        """
        out = {"seed": self.seed, "backend": self.backend, "dtype": self.dtype, "progress": self.progress,
               **{name: getattr(self, name).to_dict() for name in SECTIONS}}
        if self.scheme is not None:
            out["scheme"] = self.scheme.to_dict()
        return out


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


def _task(table: dict[str, Any], base_dir: str | None) -> Any:
    """The task of a ``[task]`` table, its relative file names joined to ``base_dir`` first."""
    table = {"kind": "linear_regression", **table}
    kind = table["kind"]
    rebase = getattr(TASKS.get(kind), "with_base_dir", None) if isinstance(kind, str) else None
    if base_dir is not None and rebase is not None:
        table = rebase(table, str(base_dir))
    task = task_from_dict(table)
    check = getattr(task, "check_available", None)  # e.g. MNIST: its files must exist now, not after a sweep starts
    if check is not None:
        check()
    return task


#: A minimal valid run config, shown when a config file is empty.
MINIMAL_EXAMPLE = """seed = 1
[task]
kind = "linear_regression"
n_train = 100
n_features = 20
[device]
kind = "soft_bounds"
w_max = 1.0
dw_min = 0.001
[train]
lr = 0.005
epochs = 300"""


def _check_magnitudes(name: str, obj: Any) -> None:
    """Every real-valued setting of a section within +-MAX_MAGNITUDE (``ConfigError`` naming ``name.field``)."""
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, float) and abs(v) > MAX_MAGNITUDE:
                raise ConfigError(f"Invalid config key '{name}.{f.name}': must be a float with |value| <= "
                                  f"{MAX_MAGNITUDE:g} (larger values overflow float64 in the formulas memsim "
                                  f"evaluates, e.g. their squares). Got {value!r} instead.")


def _check_cross_fields(train: TrainConfig, task: Any) -> None:
    """Settings that are valid alone but not together (before anything runs)."""
    n_train = getattr(task, "n_train", None)
    if isinstance(n_train, int) and not isinstance(n_train, bool) and train.batch_size > n_train:
        raise ConfigError(f"Invalid config key 'train.batch_size': must be an integer in [1, {n_train}] (at most "
                          f"task.n_train = {n_train} samples). Got {train.batch_size!r} instead.")


def _check_backend(backend: str) -> None:
    """``backend = 'cupy'`` needs CuPy and a usable GPU here: say so now, with the fix."""
    if backend != "cupy":
        return
    from ..backends.cupy import gpu_status

    usable, detail = gpu_status()
    if not usable:
        raise ConfigError(f"Invalid config key 'backend': 'cupy' needs CuPy and a usable NVIDIA GPU, which this "
                          f"machine does not offer ({detail}). Fix: pip install 'memsim[gpu]' on a machine with a "
                          "CUDA GPU, or use backend = 'numba' (CPU) or 'auto'.")


def resolve_config(raw: dict[str, Any], base_dir: str | Path | None = None) -> RunConfig:
    """Validate a parsed TOML document and fill in every default.

    ``base_dir``: the folder relative file names of the task are resolved against (the config
    file's folder; ``None``: the working directory).

    Parameters
    ----------
    raw : dict
        The parsed TOML document.
    base_dir : str or pathlib.Path or None
        The folder relative file names of the task are resolved against (the config file's folder; ``None``:
        the working directory).

    Returns
    -------
    RunConfig
        The resolved configuration.
    """
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"Invalid config key '{key}': unknown key; allowed top-level keys: "
                              + ", ".join(TOP_LEVEL) + f". Got {raw[key]!r} instead.")
    try:
        seed = check_int("config", "seed", raw.get("seed", 0), 0, 2 ** 63 - 1)
        backend = check_choice("config", "backend", raw.get("backend", "numba"), ("numba", "numpy", "cupy", "auto"))
        dtype = check_choice("config", "dtype", raw.get("dtype", "float64"), ("float64", "float32"))
        progress = check_bool("config", "progress", raw.get("progress", True))
    except ConfigError as exc:
        raise ConfigError(f"Invalid config key '{_key_in(str(exc))}': {exc}") from None
    task = _section("task", raw.get("task", {"kind": "linear_regression"}),
                    lambda t: _task(t, base_dir))
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
    scheme = _section("scheme", raw["scheme"], _scheme) if raw.get("scheme") is not None else None
    for name, obj in (("task", task), ("device", device), ("update", update), ("train", train),
                      ("periphery", periphery), ("scheme", scheme)):
        _check_magnitudes(name, obj)
    _check_cross_fields(train, task)
    _check_backend(backend)
    return RunConfig(seed=seed, backend=backend, dtype=dtype, progress=progress, task=task, device=device,
                     update=update, train=train, model=model, periphery=periphery, scheme=scheme)


def _scheme(table: dict[str, Any]) -> Any:
    """The compound scheme of a ``[scheme]`` table (errors name ``scheme.key``; nested tables
    ``fast_device``, ``transfer_forward``, ``transfer_update`` name ``scheme.fast_device.key``)."""
    from ..physics.schemes import scheme_from_dict

    for name, build in (("fast_device", lambda t: device_from_dict({"kind": "soft_bounds", **t})),
                        ("transfer_forward", Periphery.from_dict),
                        ("transfer_update", lambda t: update_from_dict({"kind": "stochastic_rounding", **t}))):
        nested = {k.partition(".")[2]: v for k, v in table.items() if isinstance(k, str) and k.startswith(name + ".")}
        if isinstance(table.get(name), dict) or nested:
            base = table.get(name) or {}
            if not isinstance(base, dict):
                raise ConfigError(f"The '{name}' parameter of scheme must be a table. Got {base!r} instead.")
            try:
                obj = build({**base, **nested})
            except ConfigError as exc:
                raise ConfigError(f"The '{name}.{_key_in(str(exc))}' parameter of scheme is invalid: {exc}") from None
            table = {k: v for k, v in table.items() if not (isinstance(k, str) and k.startswith(name + "."))}
            table[name] = obj
    return scheme_from_dict({**table})


def _resolve_loss(model: ModelConfig, task: Any) -> ModelConfig:
    """Fill in ``model.loss`` from the task and check that the two fit (``ConfigError`` naming ``loss``)."""
    loss = check_loss_for_task(model.loss if model.loss is not None else default_loss(task), task)
    return dataclasses.replace(model, loss=loss)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file (errors name the file).

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    dict
        The parsed document.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"Config file {str(path)!r} is a directory, not a TOML file; give the path of the "
                          ".toml file.")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"Config file {str(path)!r} does not exist.") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ConfigError(f"Config file {str(path)!r} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not UTF-8 text (TOML files must be UTF-8): byte "
                          f"{exc.start}: {exc.reason}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid TOML: {exc}") from None


def config_dir(path: str | Path) -> str:
    """The absolute folder of a config file (what its relative data paths are resolved against).

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    str
        The absolute folder of the file.
    """
    return os.path.dirname(os.path.abspath(os.path.expanduser(str(path))))


def load_config(path: str | Path) -> RunConfig:
    """Parse and resolve a run config file (relative data paths: against the file's folder).

    An empty file (or one with only comments) is refused: it would silently run the whole default
    experiment. ``resolve_config({})`` still gives the defaults to code that asks for them.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    RunConfig
        The resolved configuration.
    """
    raw = load_toml(path)
    if not raw:
        raise ConfigError(f"Config file {str(path)!r} is empty (no settings); memsim does not run the full default "
                          f"experiment from an empty file. A minimal valid example:\n\n{MINIMAL_EXAMPLE}\n")
    return resolve_config(raw, base_dir=config_dir(path))
