"""Axis and legend words for config keys: ONE table of short names and units per dotted key.

Figures never show a raw dotted key (``device.w_max``): :func:`key_label` gives the axis label
(``"w_max (device range)"``), :func:`value_label` a legend entry (``"w_max = 0.5"``).
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["CONFIG_LABELS", "key_label", "short_name", "value_label", "point_label", "format_value"]

#: Dotted config key -> (short name, what it is, with its unit where it has one).
CONFIG_LABELS: dict[str, tuple[str, str]] = {
    "seed": ("seed", "random seed"),
    "backend": ("backend", "compute backend"),
    "dtype": ("dtype", "weight precision"),
    "device.kind": ("device", "device model"),
    "device.w_max": ("w_max", "device range"),
    "device.w_min": ("w_min", "device range"),
    "device.dw_min": ("dw_min", "nominal step, weight units"),
    "device.dw_min_std": ("dw_min_std", "c2c noise, in steps"),
    "device.c2c_mode": ("c2c mode", "cycle-to-cycle noise model"),
    "device.up_down": ("up_down", "up/down asymmetry β"),
    "device.dw_min_dtod": ("dw_min_dtod", "d2d spread of the step"),
    "device.w_max_dtod": ("w_max_dtod", "d2d spread of w_max"),
    "device.w_min_dtod": ("w_min_dtod", "d2d spread of w_min"),
    "device.up_down_dtod": ("up_down_dtod", "d2d spread of β"),
    "device.stuck_prob": ("stuck_prob", "fraction of stuck cells"),
    "device.gamma_up": ("gamma_up", "linear-step slope, up"),
    "device.gamma_down": ("gamma_down", "linear-step slope, down"),
    "device.pow_gamma": ("pow_gamma", "power-step exponent"),
    "device.pow_up_down": ("pow_up_down", "power-step asymmetry"),
    "device.states_ltp": ("states_ltp", "LTP states"),
    "device.states_ltd": ("states_ltd", "LTD states"),
    "device.nl_ltp": ("NL_ltp", "LTP non-linearity"),
    "device.nl_ltd": ("NL_ltd", "LTD non-linearity"),
    "update.kind": ("update rule", "pulse scheme"),
    "update.max_pulses": ("max_pulses", "pulses per event"),
    "train.lr": ("lr", "learning rate η"),
    "train.epochs": ("epochs", "training epochs"),
    "train.batch_size": ("batch size", "samples per update"),
    "train.accumulate": ("accumulate", "one event per batch"),
    "train.average_from": ("average_from", "window start, fraction of training"),
    "train.init_std": ("init_std", "initial weight spread"),
    "task.n_train": ("n_train", "training samples"),
    "task.n_test": ("n_test", "test samples"),
    "task.n_features": ("d", "features"),
    "task.noise_std": ("noise_std", "label noise σ"),
    "task.feature_scales": ("feature scale", "feature standard deviation"),
    "task.teacher_std": ("teacher_std", "teacher weight spread"),
    "model.hidden": ("hidden", "hidden units"),
    "model.activation": ("activation", "hidden activation"),
    "model.max_tile_size": ("max tile", "cells per tile side"),
    "periphery.output_noise": ("output noise", "read noise σ, output units"),
    "periphery.weight_noise": ("weight noise", "read noise σ, relative"),
    "periphery.dac.bits": ("DAC bits", "input quantiser"),
    "periphery.adc.bits": ("ADC bits", "output quantiser"),
}


def short_name(key: str) -> str:
    """The short name of a dotted config key (its last part when the table has no entry).

    Parameters
    ----------
    key : str
        A dotted config key such as ``"device.w_max"``.

    Returns
    -------
    str
        E.g. ``"w_max"``.
    """
    return CONFIG_LABELS[key][0] if key in CONFIG_LABELS else key.rsplit(".", 1)[-1]


def key_label(key: str) -> str:
    """Axis label of a config key: short name and, in parentheses, what it is (with its unit).

    Parameters
    ----------
    key : str
        A dotted config key.

    Returns
    -------
    str
        E.g. ``"w_max (device range)"``; an unknown key ``"name (section)"``.
    """
    if key in CONFIG_LABELS:
        name, what = CONFIG_LABELS[key]
        return f"{name} ({what})" if what else name
    section, _, name = key.rpartition(".")
    return f"{name} ({section})" if section else name


def format_value(value: Any) -> str:
    """A config value as a legend shows it (``0.5``, ``1e-03``, ``soft_bounds``).

    Parameters
    ----------
    value : object
        A number, a string or a NumPy scalar.

    Returns
    -------
    str
        The value's text.
    """
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:g}"


def value_label(key: str, value: Any) -> str:
    """Legend text of one key's value: ``"w_max = 0.5"``.

    Parameters
    ----------
    key : str
        A dotted config key.
    value : object
        Its value.

    Returns
    -------
    str
        The text.
    """
    return f"{short_name(key)} = {format_value(value)}"


def point_label(pairs: Iterable[tuple[str, Any]]) -> str:
    """Legend text of a grid point: its keys' values joined by commas (``"all"`` when none).

    Parameters
    ----------
    pairs : iterable of (str, object)
        ``(dotted key, value)`` of every coordinate of the point.

    Returns
    -------
    str
        E.g. ``"w_max = 0.5, dw_min_std = 0.3"``.
    """
    return ", ".join(value_label(k, v) for k, v in pairs) or "all"
