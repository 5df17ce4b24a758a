"""Generate the CUDA source of a device model's kernels, and describe the kernels' parameters.

``generate_source(device_cls, dtype)`` is the single source of truth: the exact string the CuPy
backend gives to NVRTC, the NVRTC tests compile for several architectures, and the CPU emulation
(:mod:`memsim.backends.cupy.emulate`) compiles with the host C++ compiler. Nothing here imports
cupy.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

import numpy as np

from ..kernel_source import cuda_constants, law_sources
from .network_template import network_source
from .template import KERNEL_SOURCE, PHILOX_SOURCE, PREAMBLE, RNG_KERNEL_SOURCE
from .translate import HELPERS_SOURCE, device_formulas, device_function_name, translate_source

__all__ = ["generate_source", "generate_rng_source", "pulse_law_source", "cell_parameter_rows", "source_sha256", "kernel_signatures", "KernelParam", "KERNEL_NAMES",
           "SCALAR_TYPES", "POINTER_TYPES"]

#: Kernels every device source defines (``extern "C"``, so their names are not mangled).
KERNEL_NAMES = ("ms_update_rank1", "ms_update_dense", "ms_train_linear_epochs", "ms_coincidence_scales",
                "ms_coincidence_streams", "ms_update_coincidence", "ms_train_networks_epoch")
#: Kernels of the random-number source.
RNG_KERNEL_NAMES = ("ms_philox_blocks", "ms_philox_normals", "ms_flat_normals")

#: C scalar parameter type -> NumPy type.
SCALAR_TYPES = {
    "double": np.float64, "float": np.float32, "int": np.int32, "unsigned int": np.uint32,
    "long long": np.int64, "unsigned long long": np.uint64,
}
#: C pointer parameter type -> NumPy dtype (``None``: the weight dtype of the source).
POINTER_TYPES = {
    "weight_t*": None, "double*": np.dtype(np.float64), "float*": np.dtype(np.float32),
    "long long*": np.dtype(np.int64), "unsigned long long*": np.dtype(np.uint64),
    "unsigned int*": np.dtype(np.uint32), "int*": np.dtype(np.int32),
}

_KERNEL_RE = re.compile(r'^extern "C" __global__ void (\w+)\(([^)]*)\)\s*$', re.M)


@dataclass(frozen=True)
class KernelParam:
    """One kernel parameter: C type (normalised, e.g. ``"double*"``, ``"unsigned int"``) and name.

    Parameters
    ----------
    ctype : str
        The normalised C type, e.g. ``"double*"`` or ``"unsigned int"``.
    name : str
        The parameter name.
    """

    ctype: str
    name: str

    @property
    def is_pointer(self) -> bool:
        """Whether the parameter is an array."""
        return self.ctype.endswith("*")


def _weight_ctype(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return "double"
    if dtype == np.float32:
        return "float"
    raise ValueError(f"The 'dtype' parameter of generate_source must be one of 'float32', 'float64'. "
                     f"Got {dtype!r} instead.")


def cell_parameter_rows(device) -> tuple[str, ...]:
    """Rows of the per-cell parameter array the kernels read, in order (as the Numba codegen):
    ``cell_parameters + ("up_down", "stuck")`` (= ``PulsedDevice.all_cell_parameters``).

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice or type
        A device instance or model class.

    Returns
    -------
    tuple of str
        The row names.
    """
    return tuple(device.cell_parameters) + ("up_down", "stuck")


_PLACEHOLDER = re.compile(r"__[A-Z][A-Z_]*__")


@functools.lru_cache(maxsize=256)
def _generate(device_cls, formulas: tuple[tuple[str, str], ...], dtype_name: str) -> str:
    names = cell_parameter_rows(device_cls)
    for needed in ("dw_min", "w_min", "w_max"):
        if needed not in names:  # pragma: no cover - guaranteed by PulsedDevice
            raise ValueError(f"device model {device_cls.kind!r}: the kernels need the per-cell parameter {needed!r}")
    # packed parameters (CudaKernelBackend.cell_parameter_array): a header of offsets and strides, then the values
    p = len(names)
    load = "\n".join(f"    const double {name} = pc[(long long)pc[{k}] + (long long)pc[{p + k}] * cell];"
                     for k, name in enumerate(names))
    preamble = (PREAMBLE.replace("__KIND__", device_cls.kind).replace("__WEIGHT_T__", _weight_ctype(dtype_name))
                .replace("__N_PARAMS__", str(len(names))).replace("__CONSTANTS__", cuda_constants()))
    kernels = (KERNEL_SOURCE + network_source()).replace("__LOAD_PARAMS__", load).replace(
        "__STEP_ARGS__", ", ".join(device_cls.cell_parameters))
    physics = []
    for name, source in formulas:
        cname = device_function_name(device_cls, name)
        physics.append(translate_source(source, cname, label=f"{device_cls.kind}: {device_cls.__name__}.{name}"))
        kernels = kernels.replace(f"__{name.upper()}__(", f"{cname}(")
    left = _PLACEHOLDER.findall(kernels)
    if left:
        raise ValueError(f"device model {device_cls.kind!r}: the kernel template needs formulas it does not "
                         f"provide: {sorted(set(left))}")
    return "".join([preamble, PHILOX_SOURCE, "\n/* ---------------------------------------------------------------- "
                    "device physics */\n", HELPERS_SOURCE, "\n", "\n".join(physics),
                    "\n/* ---------------------------------------------------------------- "
                    "the generic pulse law (memsim.physics.pulse_law) */\n", pulse_law_source(), kernels])


@functools.lru_cache(maxsize=None)
def pulse_law_source() -> str:
    """The pulse law of :mod:`memsim.physics.pulse_law` translated to ``ms_<name>`` ``__device__`` functions."""
    return "\n".join(translate_source(source, f"ms_{name}", label=f"memsim.physics.pulse_law.{name}")
                      for name, source in law_sources())


def generate_source(device, dtype="float64") -> str:
    """The full CUDA source of the kernels of a device model with weights stored as ``dtype``.

    Parameters
    ----------
    device : PulsedDevice or type
        A device instance (its formulas, ``device.formula_sources()``, are translated: a model may
        generate them per instance) or a registered model class (its default instance).
    dtype : {"float32", "float64"}
        Weight storage; every event is computed in float64 (``weight_t`` in the source).

    Returns
    -------
    str
        The CUDA source.
    """
    device_cls = device if isinstance(device, type) else type(device)
    formulas = tuple(device_formulas(device).items())
    return _generate(device_cls, formulas, np.dtype(dtype).name)


@functools.lru_cache(maxsize=None)
def generate_rng_source() -> str:
    """CUDA source of the device-independent random-number kernels (``RNG_KERNEL_NAMES``)."""
    return ("/* memsim CUDA random-number kernels. Generated by memsim.backends.cupy.codegen; do not edit. */\n"
            + PHILOX_SOURCE + RNG_KERNEL_SOURCE)


def source_sha256(source: str) -> str:
    """Hex SHA-256 of a source string (how tests check that NVRTC and the host compiler saw the same text).

    Parameters
    ----------
    source : str
        A source text.

    Returns
    -------
    str
        The hex SHA-256 of its UTF-8 bytes.
    """
    return hashlib.sha256(source.encode()).hexdigest()


def _param(text: str) -> KernelParam:
    words = text.replace("*", " * ").split()
    words = [w for w in words if w not in ("const", "__restrict__")]
    name = words[-1]
    ctype = " ".join(words[:-1]).replace(" *", "*")
    if ctype not in SCALAR_TYPES and ctype not in POINTER_TYPES:
        raise ValueError(f"kernel parameter {text.strip()!r}: unsupported type {ctype!r}")
    return KernelParam(ctype, name)


@functools.lru_cache(maxsize=64)
def kernel_signatures(source: str) -> dict[str, tuple[KernelParam, ...]]:
    """Parameters of every ``extern "C" __global__`` kernel of a generated source, in order.

    Parameters
    ----------
    source : str
        A generated CUDA source.
    """
    return {m.group(1): tuple(_param(p) for p in m.group(2).split(",")) for m in _KERNEL_RE.finditer(source)}
