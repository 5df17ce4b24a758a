"""Models on crossbar tiles: the tile, a layer on a grid of tiles, the network, and the one trainer.

A linear model is a one-layer network: ``AnalogMLP([d, k], ...)``.
"""

from .config import ModelConfig, TrainConfig
from .layers import TiledLinear, tile_seed
from .mlp import AnalogMLP
from .tile import Tile
from .train import TrainResult, epoch_orders, initial_weights, learning_rates, train

__all__ = ["Tile", "TiledLinear", "tile_seed", "AnalogMLP", "ModelConfig", "TrainConfig", "TrainResult", "train",
           "epoch_orders", "learning_rates", "initial_weights"]
