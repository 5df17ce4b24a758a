"""Device models: frozen parameter dataclasses with their pulse physics written once.

See ``memsim/physics/devices/README.md`` for how to add a model.
"""

from .base import C2C_MODES, PulsedDevice
from .registry import DEVICE_MODELS, device_from_dict, register
from .constant_step import ConstantStep
from .linear_step import LinearStep
from .soft_bounds import SoftBounds
from .table import TableDevice, load_table_csv
from .exp_step import ExpStep
from .pow_step import PowStep

__all__ = ["PulsedDevice", "C2C_MODES", "DEVICE_MODELS", "device_from_dict", "register",
           "ConstantStep", "LinearStep", "SoftBounds", "TableDevice", "load_table_csv", "ExpStep", "PowStep"]
