"""What every benchmark measures beside its workload: the cores it may use and the Philox normal rate."""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

__all__ = ["PHILOX_SHAPE", "SMOKE_PHILOX_SHAPE", "SEED", "core_count", "repeat", "normal_rate"]

#: Array of normal variates timed by :func:`normal_rate` (``smoke``: the small one).
PHILOX_SHAPE = (65536, 64)
SMOKE_PHILOX_SHAPE = (4096, 64)
#: Philox seed of the timed normals.
SEED = 1


def core_count() -> int:
    """CPU cores this process may run on.

    Returns
    -------
    int
        The size of the affinity mask (or ``os.cpu_count()``), at least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def repeat(fn: Callable[[], None], min_time: float) -> tuple[int, float]:
    """Call ``fn`` until at least ``min_time`` seconds have passed.

    Parameters
    ----------
    fn : callable
        The timed work.
    min_time : float
        Seconds.

    Returns
    -------
    tuple of (int, float)
        Calls made and seconds taken.
    """
    calls = 0
    t0 = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time:
            return calls, elapsed


def normal_rate(numba, threads: int, seconds: float, smoke: bool) -> float:
    """Normal variates per second of ``philox.fill_normals`` at ``threads`` Numba threads.

    Parameters
    ----------
    numba : module
        :mod:`memsim.backends.numba.threads` (thread control).
    threads : int
        Numba threads while timing (restored afterwards).
    seconds : float
        Time at least this long.
    smoke : bool
        Time the small array.

    Returns
    -------
    float
        Normal variates per second.
    """
    from .. import rng
    from ..backends.numba import philox

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        out = np.empty(SMOKE_PHILOX_SHAPE if smoke else PHILOX_SHAPE, dtype=np.float64)
        k0, k1 = (np.uint64(k) for k in rng.seed_to_key(SEED))
        args = (out, k0, k1, np.uint64(0), np.uint64(rng.STREAM_C2C))
        philox.fill_normals(*args)  # compile or load from the on-disk cache
        calls, elapsed = repeat(lambda: philox.fill_normals(*args), seconds)
    finally:
        numba.set_num_threads(before)
    return out.size * calls / elapsed
