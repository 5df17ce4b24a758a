"""Backends: array namespace plus compiled kernels. ``get_backend`` is the only entry point.

``numpy`` is the reference, ``numba`` the CPU default. Backends are objects, not a global switch:
one process can hold several.
"""

from __future__ import annotations

import importlib.util
import logging

from ..errors import BackendUnavailableError
from ..params import invalid
from .base import Backend, TileStatistics

__all__ = ["get_backend", "Backend", "TileStatistics", "BACKENDS"]

BACKENDS = ("numba", "numpy", "cupy", "auto")
_log = logging.getLogger(__name__)


def get_backend(name: str | Backend = "numba", dtype="float64") -> Backend:
    """Return a backend object.

    Parameters
    ----------
    name : {"numba", "numpy", "cupy", "auto"} or Backend
        ``"numba"`` (CPU default), ``"numpy"`` (the slow reference), ``"cupy"`` (NVIDIA GPU; needs
        ``pip install 'memsim[gpu]'``) or ``"auto"`` (CuPy when a GPU is usable, else Numba, else
        NumPy; logs its choice). A backend object is returned unchanged.
    dtype : {"float32", "float64"}
        Storage dtype of the weights (update arithmetic is float64 in every backend).

    Returns
    -------
    Backend
        The backend object.

    Raises
    ------
    BackendUnavailableError
        An explicitly requested backend cannot run here; the message gives the cause and the fix.
    """
    if isinstance(name, Backend):
        return name
    if name == "auto":
        choice = "numba" if importlib.util.find_spec("numba") else "numpy"
        if importlib.util.find_spec("cupy") is not None:
            from .cupy import gpu_status

            usable, detail = gpu_status()
            if usable:
                choice = "cupy"
                _log.info("memsim backend 'auto': CuPy found a usable GPU (%s)", detail)
            else:
                _log.info("memsim backend 'auto': CuPy is installed but not usable (%s)", detail)
        _log.info("memsim backend 'auto' chose %r", choice)
        name = choice
    if name == "numpy":
        from .numpy_backend import NumpyBackend

        return NumpyBackend(dtype)
    if name == "numba":
        try:
            from .numba import NumbaBackend
        except ImportError as exc:
            raise BackendUnavailableError(
                f"The 'numba' backend needs the numba package, which could not be imported ({exc}). "
                "Fix: pip install numba (it is a dependency of memsim: reinstall memsim).") from exc
        return NumbaBackend(dtype)
    if name == "cupy":
        from .cupy import CupyBackend  # imports cupy only inside CupyBackend(); raises with cause and fix

        return CupyBackend(dtype)
    raise invalid("get_backend", "name", "one of " + ", ".join(repr(b) for b in BACKENDS), name)
