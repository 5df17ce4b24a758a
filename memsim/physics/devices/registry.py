"""The registry of device models: ``kind`` name -> class."""

from __future__ import annotations

from typing import Any

from ...params import invalid
from .formula import check_formula

DEVICE_MODELS: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: add a device model to :data:`DEVICE_MODELS` under its ``kind``.

    Returns
    -------
    type
        ``cls`` itself.
    """
    if not cls.kind or cls.kind in DEVICE_MODELS:
        raise ValueError(f"device kind {cls.kind!r} of {cls.__name__} is empty or already registered")
    for name in cls.FORMULAS:
        check_formula(getattr(cls, name))
    DEVICE_MODELS[cls.kind] = cls
    return cls


def device_from_dict(data: dict[str, Any]):
    """Build a device from a config table with a ``kind`` key (``{"kind": "soft_bounds", ...}``).

    Parameters
    ----------
    data : dict
        The ``[device]`` table, with a ``kind`` key and the model's parameters.

    Returns
    -------
    memsim.physics.devices.base.PulsedDevice
        The device.
    """
    kind = data.get("kind")
    if kind not in DEVICE_MODELS:
        raise invalid("device", "kind", "one of " + ", ".join(repr(k) for k in sorted(DEVICE_MODELS)), kind)
    return DEVICE_MODELS[kind].from_dict(data)
