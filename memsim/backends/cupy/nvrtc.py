"""Compile generated CUDA sources with NVRTC, with or without a GPU (CuPy's low-level ``cupy.cuda.nvrtc`` binding).

``RawModule.compile()`` needs a CUDA driver; the low-level binding only needs the NVRTC library
(``pip install 'memsim[nvrtc]'``, i.e. ``cupy-cuda12x`` and ``nvidia-cuda-nvrtc-cu12``), so CI can
check that every generated kernel compiles for every architecture we support.
"""

from __future__ import annotations

from ...errors import BackendUnavailableError

__all__ = ["NVRTC_OPTIONS", "ARCHITECTURES", "NvrtcError", "nvrtc_version", "compile_ptx", "load_nvrtc"]

#: Options of every compilation: no FMA contraction (bit-parity with the CPU backends). NVRTC 12.9
#: logs a deprecation notice for compute_70 (still supported by CUDA 12); it has no option to silence it.
NVRTC_OPTIONS = ("--fmad=false",)
#: Virtual architectures the kernels must compile for (Volta, Ampere, Hopper).
ARCHITECTURES = ("compute_70", "compute_80", "compute_90")


class NvrtcError(RuntimeError):
    """NVRTC rejected a source; the message carries the compiler log."""


def load_nvrtc():
    """Import ``cupy.cuda.nvrtc`` and check that the NVRTC library loads.

    Returns
    -------
    module
        ``cupy.cuda.nvrtc``.

    Raises
    ------
    BackendUnavailableError
        CuPy or the NVRTC library is missing (message: cause and fix).
    """
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # ImportError, or a CUDA error when libnvrtc cannot be loaded
        raise BackendUnavailableError(
            f"NVRTC is not usable here ({type(exc).__name__}: {exc}). "
            "Fix: pip install 'memsim[nvrtc]' (cupy-cuda12x and nvidia-cuda-nvrtc-cu12).") from exc
    return nvrtc


def nvrtc_version() -> tuple[int, int]:
    """(major, minor) of the NVRTC library.

    Returns
    -------
    major : int
        Major version.
    minor : int
        Minor version.
    """
    return tuple(load_nvrtc().getVersion())


def compile_ptx(source: str, arch: str = "compute_80", name: str = "memsim_kernels.cu",
                options: tuple[str, ...] = NVRTC_OPTIONS) -> tuple[str, str]:
    """Compile ``source`` to PTX for the virtual architecture ``arch``; no GPU needed.

    Parameters
    ----------
    source : str
        The CUDA source.
    arch : str
        The virtual architecture.
    name : str
        The file name NVRTC reports.
    options : tuple of str
        NVRTC options.

    Returns
    -------
    ptx : str
        The PTX.
    log : str
        The compiler log.

    Raises
    ------
    NvrtcError
        Compilation failed (the log is in the message).
    """
    nvrtc = load_nvrtc()
    prog = nvrtc.createProgram(source, name, [], [])
    try:
        opts = [f"--gpu-architecture={arch}", *options]
        try:
            nvrtc.compileProgram(prog, opts)
        except nvrtc.NVRTCError as exc:
            raise NvrtcError(f"NVRTC failed to compile {name} for {arch} ({exc}):\n"
                             f"{nvrtc.getProgramLog(prog)}") from exc
        log = nvrtc.getProgramLog(prog)
        ptx = nvrtc.getPTX(prog)
    finally:
        nvrtc.destroyProgram(prog)
    if isinstance(ptx, bytes):
        ptx = ptx.decode()
    return ptx, log
