"""Device presets from the literature, stored as data (``memsim/data/devices/*.toml``).

Each preset is one TOML file named after the preset: a ``[device]`` table (``kind`` plus the
parameters of that device model, exactly as :func:`memsim.physics.devices.device_from_dict` takes them), a
``[source]`` table (``name``, ``citation``, ``notes``) and optionally ``[physical]`` (reported
quantities the model does not use, e.g. on-resistance and pulse amplitudes).

>>> from memsim.physics.presets import list_presets, load_preset
>>> "ag_a_si" in list_presets()
True
>>> load_preset("ag_a_si").states_ltd
100.0

The command ``memsim devices`` (list, and ``plot`` the pulse response) lives in
:mod:`memsim.workflows.devices`.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib import resources
from typing import Any

from .devices import PulsedDevice, device_from_dict
from ..params import invalid

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["list_presets", "load_preset", "preset_info", "preset_listing", "resolve_name", "read_preset_table",
           "PRESET_FOLDER"]

PRESET_FOLDER = "data/devices"


def _folder():
    return resources.files("memsim").joinpath(PRESET_FOLDER)


@lru_cache(maxsize=None)
def read_preset_table(name: str) -> dict[str, Any]:
    """The parsed TOML of the preset file ``name`` (cached; callers must not modify it).

    Parameters
    ----------
    name : str
        The preset's exact (lower-case) name, as :func:`resolve_name` returns it.

    Returns
    -------
    dict
        The tables ``device``, ``source`` and optionally ``physical``.
    """
    return tomllib.loads(_folder().joinpath(f"{name}.toml").read_text())


def list_presets() -> list[str]:
    """Names of the shipped presets, sorted.

    Returns
    -------
    list of str
        The preset names.
    """
    return sorted(p.name[:-5] for p in _folder().iterdir() if p.name.endswith(".toml"))


def resolve_name(name: str) -> str:
    """The preset name ``name`` normalised (stripped, lower case), checked against the shipped presets.

    Parameters
    ----------
    name : str
        A preset name, in any case.

    Returns
    -------
    str
        The preset's name as :func:`list_presets` gives it.

    Raises
    ------
    memsim.errors.ConfigError
        If there is no such preset.
    """
    names = list_presets()
    key = str(name).strip().lower()
    if key not in names:
        raise invalid("load_preset", "name", "one of " + ", ".join(repr(n) for n in names), name)
    return key


def preset_info(name: str) -> dict[str, Any]:
    """The parsed TOML of a preset: ``{"device": {...}, "source": {...}, "physical": {...}?}`` (a copy).

    Parameters
    ----------
    name : str
        The preset's name (case-insensitive).

    Returns
    -------
    dict
        A deep copy of the preset's tables.
    """
    import copy

    return copy.deepcopy(read_preset_table(resolve_name(name)))


def load_preset(name: str, **overrides: Any) -> PulsedDevice:
    """The device of preset ``name`` (case-insensitive), with optional parameter overrides.

    Parameters
    ----------
    name : str
        The preset's name (case-insensitive).
    **overrides
        Device parameters that replace the preset's values.

    Returns
    -------
    memsim.physics.devices.base.PulsedDevice
        The device.

    Examples
    --------
    >>> load_preset("reram_sb", dw_min_std=0.0).dw_min_std
    0.0
    """
    table = dict(read_preset_table(resolve_name(name))["device"])
    table.update(overrides)
    return device_from_dict(table)


# ---------------------------------------------------------------------------------------------- listing
def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def preset_listing() -> str:
    """The text ``memsim devices list`` prints: two lines per preset (parameters, then the source).

    Returns
    -------
    str
        The listing.
    """
    lines = []
    for name in list_presets():
        info = read_preset_table(name)
        dev = dict(info["device"])
        kind = dev.pop("kind")
        params = " ".join(f"{k}={_fmt(v)}" for k, v in dev.items())
        src = info.get("source", {})
        lines.append(f"{name:<16}{kind:<15}{params}")
        lines.append(f"{'':<16}{src.get('name', name)}: {src.get('citation', '')}")
    return "\n".join(lines)
