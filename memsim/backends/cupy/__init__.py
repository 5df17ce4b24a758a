"""The CuPy GPU backend: CuPy arrays, cuBLAS VMMs and NVRTC-compiled pulsed-update kernels.

This package is the only place in memsim that imports cupy, and it does so lazily: importing
``memsim.backends.cupy`` (or its ``translate``, ``codegen``, ``emulate`` modules) never imports
cupy; constructing :class:`CupyBackend` does. See ``README.md`` beside this file for how a kernel
is added and tested without a GPU.
"""

from __future__ import annotations

import threading

import numpy as np

from ...errors import BackendUnavailableError
from .codegen import kernel_signatures
from .launch import CudaKernelBackend, pack_arguments
from .nvrtc import NVRTC_OPTIONS

__all__ = ["CupyBackend", "gpu_status", "import_cupy"]

_FIX = "Fix: pip install 'memsim[gpu]' (cupy-cuda12x) on a machine with an NVIDIA GPU and driver"


def import_cupy():
    """Import cupy and check that a CUDA device is usable.

    Returns
    -------
    module
        The ``cupy`` module.

    Raises
    ------
    BackendUnavailableError
        CuPy is not installed, or no CUDA device/driver is usable (the message gives cause and fix).
    """
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        raise BackendUnavailableError(
            f"The 'cupy' backend needs the cupy package, which could not be imported ({type(exc).__name__}: "
            f"{exc}). {_FIX}.") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, insufficient driver, no device
        raise BackendUnavailableError(
            f"The 'cupy' backend found no usable CUDA device ({type(exc).__name__}: {exc}). {_FIX}.") from exc
    if count < 1:
        raise BackendUnavailableError(f"The 'cupy' backend found no CUDA device. {_FIX}.")
    return cupy


def gpu_status() -> tuple[bool, str]:
    """``(True, device description)`` when the CuPy backend can run here, else ``(False, reason)``.

    Returns
    -------
    usable : bool
        Whether the CuPy backend can run here.
    message : str
        The device description, or the reason it cannot run.
    """
    try:
        cupy = import_cupy()
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        return True, name
    except BackendUnavailableError as exc:
        return False, str(exc)
    except Exception as exc:  # pragma: no cover - unusual driver states
        return False, f"{type(exc).__name__}: {exc}"


class CupyBackend(CudaKernelBackend):
    """Tile state in CuPy arrays on the current CUDA device.

    VMMs use ``cupy.matmul`` (cuBLAS); the pulsed updates (every update rule and c2c mode), the fused
    ``train_linear_epochs``, the fused network epochs (``train_networks_epoch``: one block per replica) and
    ``normals`` run the kernels generated from the device formulas
    (:func:`memsim.backends.cupy.codegen.generate_source`), compiled by NVRTC with ``--fmad=false`` and
    cached by source text (one module per device model, or per instance when a model generates its
    formulas). Results match the Numba backend bit for bit except where CUDA's ``log``/``exp`` (the
    ziggurat's rare slow path) or a transcendental in a formula differ from glibc by an ulp.

    Parameters
    ----------
    dtype : str or numpy.dtype
        Storage dtype of the weights (``float64`` or ``float32``).

    Raises
    ------
    BackendUnavailableError
        When cupy or a CUDA device is missing.
    """

    name = "cupy"

    def __init__(self, dtype="float64"):
        super().__init__(dtype)
        self.xp = import_cupy()
        self._modules: dict = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- arrays
    def asarray(self, a, dtype=None):
        return self.xp.ascontiguousarray(self.xp.asarray(a, dtype=self.dtype if dtype is None else dtype))

    def to_numpy(self, a) -> np.ndarray:
        if isinstance(a, np.ndarray):
            return np.array(a, copy=True)
        return self.xp.asnumpy(a)

    def synchronize(self) -> None:
        """Wait for the GPU."""
        self.xp.cuda.Device().synchronize()

    def peak_bandwidth(self) -> float:
        """Theoretical memory bandwidth of the current device in bytes/s (2 x memory clock x bus width).

        Returns
        -------
        float
            Bytes per second.
        """
        props = self.xp.cuda.runtime.getDeviceProperties(self.xp.cuda.Device().id)
        return 2.0 * props["memoryClockRate"] * 1e3 * props["memoryBusWidth"] / 8.0

    # ---------------------------------------------------------------- VMMs (cuBLAS)
    def mvm(self, *, weights, x):
        return self.xp.matmul(x, weights.T)

    def mvm_t(self, *, weights, d):
        return self.xp.matmul(d, weights)

    # ---------------------------------------------------------------- kernels
    def module(self, device):
        """The ``cupy.RawModule`` of a device (instance or class) for this backend's dtype (``None``: the
        random-number kernels), compiled by NVRTC on first use and cached by source text.

        Parameters
        ----------
        device : memsim.physics.devices.base.PulsedDevice or type or None
            A device instance or model class; ``None``: the random-number kernels.

        Returns
        -------
        cupy.RawModule
            The compiled module.
        """
        source = self.source_for(device)
        with self._lock:
            mod = self._modules.get(source)
            if mod is None:
                mod = self.xp.RawModule(code=source, options=NVRTC_OPTIONS)
                self._modules[source] = mod
        return mod

    def _launch(self, device, kernel, grid, block, args, barrier=False):
        params = kernel_signatures(self.source_for(device))[kernel]
        packed = pack_arguments(kernel, params, args, self.dtype, lambda a: a,
                                null=np.uint64(0))  # a left-out optional pointer: 8 zero bytes, a null pointer
        self.module(device).get_function(kernel)((int(grid),), (int(block),), tuple(packed))
