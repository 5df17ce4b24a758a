"""Run the generated CUDA kernels on the CPU: host C++ compilation of the exact NVRTC source, called through ctypes.

This is how CI checks the GPU kernels' arithmetic and random streams without a GPU (docs/design.md,
section 'Testing GPU code without a GPU'). It never imports cupy.

How it works
------------
1. ``generate_source(device, dtype)`` -- the string the CuPy backend hands to NVRTC -- is
   wrapped, unchanged, between a shim header (:data:`SHIM`) and generated launchers:

   * ``__global__`` is empty, ``__device__`` is ``static``, ``__forceinline__`` is ``inline``,
     ``__shared__`` is ``static`` (blocks run one after the other, so a static is one block's
     shared memory);
   * ``threadIdx``/``blockIdx`` are ``thread_local`` variables, ``blockDim``/``gridDim`` globals;
   * ``__umulhi``, ``__umul64hi``, ``__popc``, ``__popcll``, ``rsqrt`` are host functions;
     ``sqrt``/``log``/``cos``/... are glibc's (the ones Numba calls);
   * ``__syncthreads()`` is a ``std::barrier`` when the launch is *threaded* (each block's
     threads are real ``std::thread`` objects, so barrier semantics are exercised, races included); in a
     serial launch it is a no-op for one-thread blocks and an error otherwise.

2. For every ``extern "C" __global__`` kernel a launcher ``ms_launch_<name>(grid, block, threaded,
   <kernel parameters>)`` loops over the blocks and threads (1-D grids and blocks).

3. The file is compiled with ``g++ -O2 -ffp-contract=off -std=c++20 -shared -fPIC -pthread``
   (no FMA contraction, like ``--fmad=false``; x86-64 doubles are IEEE SSE2) into a cache folder,
   keyed by the SHA-256 of the whole host file plus compiler and flags, and loaded with ctypes.

:class:`EmulatedCudaBackend` (name ``"cuda-emulated"``; not offered by ``get_backend``) is a
:class:`~memsim.backends.base.Backend` on NumPy arrays whose pulsed updates call these compiled
kernels, so the same Tile-level tests run on it as on Numba.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from ...errors import BackendUnavailableError
from ...physics.devices.formula import check_formula
from .codegen import SCALAR_TYPES, kernel_signatures, source_sha256
from .translate import HELPERS_SOURCE, translate_formula
from .launch import CudaKernelBackend, pack_arguments

__all__ = ["SHIM", "HostModule", "compile_host", "host_source", "EmulatedCudaBackend", "cache_dir",
           "compiler", "CXXFLAGS", "formula_probe_source", "formula_probe"]

#: Flags of the host compilation (no FMA contraction: the same operations as ``--fmad=false``).
CXXFLAGS = ("-O2", "-ffp-contract=off", "-fno-fast-math", "-std=c++20", "-shared", "-fPIC", "-pthread")

SHIM = r"""// memsim CUDA-on-CPU shim (memsim.backends.cupy.emulate): the kernel source below is unchanged.
#include <math.h>
#include <barrier>
#include <thread>
#include <vector>

struct ms_dim3 { unsigned int x, y, z; };
static thread_local ms_dim3 threadIdx = {0u, 0u, 0u};
static thread_local ms_dim3 blockIdx = {0u, 0u, 0u};
static ms_dim3 blockDim = {1u, 1u, 1u};
static ms_dim3 gridDim = {1u, 1u, 1u};
static const int warpSize = 32;
static thread_local std::barrier<>* ms_block_barrier = nullptr;
static int ms_launch_error = 0;

#define __global__
#define __device__ static
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static

static inline unsigned int __umulhi(unsigned int a, unsigned int b)
{
    return (unsigned int)(((unsigned long long)a * (unsigned long long)b) >> 32);
}
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b)
{
    return (unsigned long long)(((unsigned __int128)a * (unsigned __int128)b) >> 64);
}
static inline int __popc(unsigned int x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline void __syncthreads()
{
    if (ms_block_barrier != nullptr) {
        ms_block_barrier->arrive_and_wait();
    } else if (blockDim.x * blockDim.y * blockDim.z > 1u) {
        ms_launch_error = 1;  // a barrier in a serial launch of a multi-thread block
    }
}

template <class F>
static int ms_run(unsigned int gx, unsigned int bx, int threaded, F body)
{
    gridDim = {gx, 1u, 1u};
    blockDim = {bx, 1u, 1u};
    ms_launch_error = 0;
    for (unsigned int b = 0; b < gx; ++b) {
        if (!threaded || bx == 1u) {
            for (unsigned int t = 0; t < bx; ++t) {
                blockIdx = {b, 0u, 0u};
                threadIdx = {t, 0u, 0u};
                body();
            }
        } else {
            std::barrier<> bar((std::ptrdiff_t)bx);
            std::vector<std::thread> pool;
            pool.reserve(bx);
            for (unsigned int t = 0; t < bx; ++t) {
                pool.emplace_back([&bar, &body, b, t]() {
                    blockIdx = {b, 0u, 0u};
                    threadIdx = {t, 0u, 0u};
                    ms_block_barrier = &bar;
                    body();
                    ms_block_barrier = nullptr;
                    bar.arrive_and_drop();  // an exited thread no longer holds up the block's barriers
                });
            }
            for (auto& th : pool) {
                th.join();
            }
        }
    }
    return ms_launch_error;
}

#line 1 "memsim_kernels.cu"
"""

_CTYPES = {
    "double": ctypes.c_double, "float": ctypes.c_float, "int": ctypes.c_int, "unsigned int": ctypes.c_uint,
    "long long": ctypes.c_longlong, "unsigned long long": ctypes.c_ulonglong,
}
assert set(_CTYPES) == set(SCALAR_TYPES)

_LOCK = threading.Lock()
_MODULES: dict[str, "HostModule"] = {}
_BY_SOURCE: dict[str, "HostModule"] = {}


def cache_dir() -> Path:
    """Folder of compiled emulation libraries: ``$MEMSIM_CACHE_DIR/cuda-emulated`` (default ``~/.cache/memsim``).

    Returns
    -------
    pathlib.Path
        The folder.
    """
    root = os.environ.get("MEMSIM_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "memsim")
    return Path(root) / "cuda-emulated"


def compiler() -> str:
    """The host C++ compiler: ``$CXX`` or ``g++``.

    Returns
    -------
    str
        The compiler command.

    Raises
    ------
    BackendUnavailableError
        No compiler found.
    """
    cxx = os.environ.get("CXX") or "g++"
    path = shutil.which(cxx)
    if path is None:
        raise BackendUnavailableError(
            f"The CUDA emulation needs a host C++20 compiler, and {cxx!r} was not found. "
            "Fix: install g++ (e.g. apt-get install g++) or set CXX.")
    return path


def _launcher(name: str, params) -> str:
    decl = ", ".join(f"{p.ctype} {p.name}" for p in params)
    call = ", ".join(p.name for p in params)
    return (f'extern "C" int ms_launch_{name}(unsigned int ms_gx, unsigned int ms_bx, int ms_threaded, {decl})\n'
            f"{{\n    return ms_run(ms_gx, ms_bx, ms_threaded, [&]() {{ {name}({call}); }});\n}}\n")


def host_source(kernel_source: str) -> str:
    """Shim + ``kernel_source`` (byte for byte) + launchers: the file the host compiler sees.

    Parameters
    ----------
    kernel_source : str
        A generated CUDA kernel source.

    Returns
    -------
    str
        The host C++ source.
    """
    sigs = kernel_signatures(kernel_source)
    launchers = "\n".join(_launcher(name, params) for name, params in sigs.items())
    return SHIM + kernel_source + '\n#line 1 "memsim_launchers.cpp"\n' + launchers


class HostModule:
    """A host-compiled kernel source: launch its kernels with NumPy arrays.

    Parameters
    ----------
    kernel_source : str
        The kernel source (exactly what NVRTC compiles).
    path : pathlib.Path
        The shared library.

    Attributes
    ----------
    source_sha256 : str
        SHA-256 of the kernel source (exactly what NVRTC compiles).
    path : pathlib.Path
        The shared library.
    """

    def __init__(self, kernel_source: str, path: Path):
        self.kernel_source = kernel_source
        self.source_sha256 = source_sha256(kernel_source)
        self.path = path
        self.signatures = kernel_signatures(kernel_source)
        self._lib = ctypes.CDLL(str(path))
        self._funcs = {}
        for name, params in self.signatures.items():
            f = getattr(self._lib, f"ms_launch_{name}")
            f.restype = ctypes.c_int
            f.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int] + [
                ctypes.c_void_p if p.is_pointer else _CTYPES[p.ctype] for p in params]
            self._funcs[name] = f

    def launch(self, kernel: str, grid: int, block: int, args: dict, weight_dtype=np.float64,
               threaded: bool = False) -> None:
        """Run ``kernel`` on a 1-D grid of ``grid`` blocks of ``block`` threads.

        ``args`` maps parameter names to NumPy arrays or scalars. ``threaded``: run each block's threads
        as real threads (needed by kernels that call ``__syncthreads`` with more than one thread per block).

        Parameters
        ----------
        kernel : str
            The kernel name.
        grid : int
            Blocks.
        block : int
            Threads per block.
        args : dict
            Parameter name -> NumPy array or scalar.
        weight_dtype : numpy.dtype
            The dtype of the weight arrays.
        threaded : bool
            Run each block's threads as real threads (needed by kernels that call ``__syncthreads`` with more
            than one thread per block).
        """
        params = self.signatures[kernel]
        packed = pack_arguments(kernel, params, args, weight_dtype, lambda a: a.ctypes.data)
        values = [v if p.is_pointer else v.item() for p, v in zip(params, packed)]
        with _LOCK:  # the launch state (blockDim, gridDim, error flag) is per library, not per call
            err = self._funcs[kernel](int(grid), int(block), int(bool(threaded)), *values)
        if err:
            raise RuntimeError(f"kernel {kernel} called __syncthreads in a serial launch with {block} threads "
                               "per block; launch it with threaded=True")


@functools.lru_cache(maxsize=8)
def _compiler_id(cxx: str) -> tuple[str, ...]:
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    return (cxx, *version)


def compile_host(kernel_source: str) -> HostModule:
    """Compile (or load from the cache folder) the host version of a kernel source; cached per process.

    Parameters
    ----------
    kernel_source : str
        A generated CUDA kernel source.

    Returns
    -------
    HostModule
        The compiled module.
    """
    module = _BY_SOURCE.get(kernel_source)
    if module is not None:
        return module
    text = host_source(kernel_source)
    cxx = compiler()
    key = hashlib.sha256("\n".join([text, *_compiler_id(cxx), *CXXFLAGS]).encode()).hexdigest()[:24]
    with _LOCK:
        if key in _MODULES:
            return _BY_SOURCE.setdefault(kernel_source, _MODULES[key])
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lib = folder / f"memsim_cuda_{key}.so"
    if not lib.exists():
        src = folder / f"memsim_cuda_{key}.cpp"
        fd, tmp_src = tempfile.mkstemp(dir=folder, suffix=".cpp.tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp_src, src)
        fd, tmp_lib = tempfile.mkstemp(dir=folder, suffix=".so.tmp")
        os.close(fd)
        out = subprocess.run([cxx, *CXXFLAGS, "-x", "c++", str(src), "-o", tmp_lib, "-lm"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            os.unlink(tmp_lib)
            raise RuntimeError(f"host compilation of the CUDA source failed ({src}):\n{out.stderr}")
        os.replace(tmp_lib, lib)  # atomic: concurrent processes never load half a library
    module = HostModule(kernel_source, lib)
    with _LOCK:
        module = _MODULES.setdefault(key, module)
        return _BY_SOURCE.setdefault(kernel_source, module)


class EmulatedCudaBackend(CudaKernelBackend):
    """The CUDA kernels executed on the CPU (NumPy arrays, host-compiled source): for tests.

    Parameters
    ----------
    dtype : {"float32", "float64"}
    block_size : int
        Threads per block of the per-cell kernels (several blocks exercise the bounds guards).
    train_block_size : int
        Threads per block of the fused training kernel; more than one runs real threads with barriers.
    network_block_size : int
        Threads per block (one block per replica) of the fused network kernel; more than one runs real
        threads with barriers.
    """

    name = "cuda-emulated"
    xp = np

    def __init__(self, dtype="float64", block_size: int = 32, train_block_size: int = 3, network_block_size: int = 3):
        super().__init__(dtype)
        self.block_size = int(block_size)
        self.train_block_size = int(train_block_size)
        self.network_block_size = int(network_block_size)

    def _train_block(self, cols: int) -> int:
        return self.train_block_size

    def module(self, device) -> HostModule:
        """The host-compiled kernels of ``device`` (``None``: the random-number kernels).

        Parameters
        ----------
        device : memsim.physics.devices.base.PulsedDevice or type or None
            A device instance or model class; ``None``: the random-number kernels.

        Returns
        -------
        HostModule
            The host-compiled kernels.
        """
        return compile_host(self.source_for(device))

    def _launch(self, device, kernel, grid, block, args, barrier=False):
        self.module(device).launch(kernel, grid, block, args, weight_dtype=self.dtype, threaded=barrier)


def formula_probe_source(func) -> str:
    """CUDA source evaluating the translated ``func`` elementwise: kernel ``ms_probe(args, n, out)``.

    ``args`` holds one row of ``n`` doubles per argument of ``func`` (``up``: nonzero is true).

    Parameters
    ----------
    func : callable
        A formula function (the formula subset).

    Returns
    -------
    str
        The CUDA source.
    """
    names = [a.arg for a in check_formula(func).args.args]
    call = ", ".join(f"(args[{k} * n + t] != 0.0)" if name == "up" else f"args[{k} * n + t]"
                     for k, name in enumerate(names))
    return (HELPERS_SOURCE + "\n" + translate_formula(func, "ms_probe_formula")
            + '\nextern "C" __global__ void ms_probe(const double* __restrict__ args, long long n, '
              'double* __restrict__ out)\n'
            + "{\n    const long long t = (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;\n"
            + f"    if (t < n) {{\n        out[t] = ms_probe_formula({call});\n    }}\n}}\n")


def formula_probe(func):
    """Host-compile the CUDA translation of a formula; return ``f(*arrays) -> float64 array``.

    For checking a device formula's translation against Python and Numba on chosen inputs
    (``memsim/backends/cupy/README.md``).

    Parameters
    ----------
    func : callable
        A formula function (the formula subset).

    Returns
    -------
    callable
        ``f(*arrays) -> float64 array``, elementwise.
    """
    module = compile_host(formula_probe_source(func))
    n_args = len(check_formula(func).args.args)

    def evaluate(*arrays):
        if len(arrays) != n_args:
            raise TypeError(f"{func.__qualname__} takes {n_args} arguments, got {len(arrays)}")
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
        shape = arrays[0].shape
        args = np.ascontiguousarray(np.stack([a.ravel() for a in arrays]))
        n = args.shape[1]
        out = np.empty(n, dtype=np.float64)
        module.launch("ms_probe", max(1, -(-n // 64)), 64, dict(args=args, n=n, out=out))
        return out.reshape(shape)

    return evaluate
