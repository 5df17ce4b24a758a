"""memsim: memristor crossbar arrays trained in place, and the implicit Tikhonov penalty they produce.

The public names (``Tile``, the device models, the update rules, ``get_backend``) are loaded on first
use, so importing a light module (a config, a device, the analysis) does not load the crossbar.
"""

import importlib

from .version import __version__

#: Public name -> module that defines it (loaded on first access).
_EXPORTS = {
    "Tile": ".models.tile",
    "get_backend": ".backends",
    "ConstantStep": ".physics.devices",
    "LinearStep": ".physics.devices",
    "SoftBounds": ".physics.devices",
    "device_from_dict": ".physics.devices",
    "StochasticRounding": ".physics.updates",
    "Deterministic": ".physics.updates",
    "PulseCoincidence": ".physics.updates",
    "update_from_dict": ".physics.updates",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'memsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
