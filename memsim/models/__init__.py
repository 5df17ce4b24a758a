"""Models on crossbar tiles: the tile, a layer on a grid of tiles, the network, and the one trainer.

A linear model is a one-layer network: ``AnalogMLP([d, k], ...)``, trained by
:func:`memsim.models.train.train` (import it from its module: ``memsim.models.train`` is also the
module's name). Names are loaded on first use, so
``memsim.models.config`` (the settings a run config reads) does not load the crossbar.
"""

import importlib

#: Public name -> module that defines it (loaded on first access).
_EXPORTS = {
    "ModelConfig": ".config", "TrainConfig": ".config",
    "TiledLinear": ".layers", "tile_seed": ".layers",
    "AnalogMLP": ".mlp",
    "Tile": ".tile",
    "TrainResult": ".train", "epoch_orders": ".train", "learning_rates": ".train",
    "initial_weights": ".train",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'memsim.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
