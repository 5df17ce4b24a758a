"""memsim: memristor crossbar arrays trained in place, and the implicit Tikhonov penalty they produce."""

from .version import __version__  # noqa: E402

from .models.tile import Tile  # noqa: E402
from .backends import get_backend  # noqa: E402
from .physics.devices import ConstantStep, LinearStep, SoftBounds, device_from_dict  # noqa: E402
from .physics.updates import Deterministic, PulseCoincidence, StochasticRounding, update_from_dict  # noqa: E402

__all__ = ["Tile", "get_backend", "ConstantStep", "LinearStep", "SoftBounds", "device_from_dict",
           "StochasticRounding", "Deterministic", "PulseCoincidence", "update_from_dict", "__version__"]
