"""Philox4x32-10 and its uniform/normal (ziggurat) transforms in Numba, bit-identical to :mod:`memsim.rng`.

All 32-bit words are carried in ``uint64`` (Numba would otherwise promote mixed integer types to
float); every constant is a ``np.uint64`` for the same reason.
"""

import math

import numpy as np
from numba import njit, prange

from memsim.rng import (FALLBACK_STREAM_BIT, ZIGGURAT_F, ZIGGURAT_MAX_ATTEMPTS, ZIGGURAT_R,
                        ZIGGURAT_X)

M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)
W1 = np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)
SHIFT24 = np.uint64(24)
MASK24 = np.uint64(0xFFFFFF)
TWO_POW_M32 = 2.0 ** -32
TWO_POW_31 = 2.0 ** 31
TWO_POW_31_INT = np.int64(2 ** 31)
MASK16 = np.uint64(0xFFFF)
MASK8 = np.uint64(0xFF)
SHIFT16 = np.uint64(16)
SHIFT9 = np.uint64(9)
SHIFT8 = np.uint64(8)
TWO_POW_M23 = 2.0 ** -23
ZX = ZIGGURAT_X.copy()  # global arrays are frozen into the machine code as constants
ZF = ZIGGURAT_F.copy()
ZR = ZIGGURAT_R
FALLBACK_BIT = np.uint64(FALLBACK_STREAM_BIT)
MAX_ATTEMPTS = ZIGGURAT_MAX_ATTEMPTS
LANES = 32  #: cells processed together (the width the compiler vectorises Philox at)


@njit(cache=True, inline="always")
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block; arguments and results are 32-bit values held in uint64."""
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = (p1 >> SHIFT32) ^ c1 ^ k0, p1 & MASK32, (p0 >> SHIFT32) ^ c3 ^ k1, p0 & MASK32
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return c0, c1, c2, c3


@njit(cache=True, inline="always")
def stream_word(stream, step):
    """Counter word ``c2 = stream << 24 | step >> 32`` (``memsim.rng.counters``)."""
    return (np.uint64(stream) << SHIFT24) | ((step >> SHIFT32) & MASK24)


@njit(cache=True, inline="always")
def uniform(o):
    """Uniform in (0, 1) from one 32-bit word: ``(o + 0.5) 2**-32``.

    ``o`` is converted as the signed 32-bit integer ``o - 2**31`` plus ``2**31`` (exact: whole numbers
    below ``2**53``): the same double as ``float64(o)``, but a conversion that AVX2 vectorises (it
    has none from 64-bit integers), which doubles the rate of the bit streams.
    """
    return (np.float64(np.int32(np.int64(o) - TWO_POW_31_INT)) + TWO_POW_31 + 0.5) * TWO_POW_M32


@njit(cache=True, inline="always")
def ziggurat_fast(o):
    """Fast path of the ziggurat (``memsim.rng``) on a start word: (signed x, accepted)."""
    layer = o & MASK8
    u = (np.float64(np.int32(o >> SHIFT9)) + 0.5) * TWO_POW_M23  # 23 bits: exact through int32 (see uniform)
    x = u * ZX[layer]
    ok = x < ZX[layer + np.uint64(1)]
    return (-x if (o >> SHIFT8) & np.uint64(1) else x), ok


@njit(cache=True)
def ziggurat_slow(o, k0, k1, step, stream, cell, index):
    """Rejection part of the ziggurat for normal number ``index`` of ``cell`` (``memsim.rng._slow``)."""
    layer = o & MASK8
    negative = (o >> SHIFT8) & np.uint64(1)
    x = (np.float64(o >> SHIFT9) + 0.5) * TWO_POW_M23 * ZX[layer]
    c2_low = (np.uint64(stream) | FALLBACK_BIT) << SHIFT24 | ((step >> SHIFT32) & MASK16)
    c3 = step & MASK32
    for attempt in range(MAX_ATTEMPTS):
        f0, f1, f2, f3 = philox4x32_10(np.uint64(index), np.uint64(cell), c2_low | (np.uint64(attempt) << SHIFT16),
                                       c3, k0, k1)
        if attempt > 0 and layer != 0:  # a new start word after a rejected wedge
            layer = f0 & MASK8
            negative = (f0 >> SHIFT8) & np.uint64(1)
            x = (np.float64(f0 >> SHIFT9) + 0.5) * TWO_POW_M23 * ZX[layer]
            if x < ZX[layer + np.uint64(1)]:
                break
        u1 = uniform(f1)
        if layer == 0:
            t = -math.log(u1) / ZR
            y = -math.log(uniform(f2))
            x = ZR + t
            if 2.0 * y > t * t:
                break
        else:
            y = ZF[layer] + u1 * (ZF[layer + np.uint64(1)] - ZF[layer])
            if y < math.exp(-0.5 * x * x):
                break
    return -x if negative else x


@njit(cache=True, inline="always")
def normal(o, k0, k1, step, stream, cell, index):
    """Normal number ``index`` of ``cell`` from its start word ``o`` (fast path, else the slow one)."""
    z, ok = ziggurat_fast(o)
    if ok:
        return z
    return ziggurat_slow(o, k0, k1, step, stream, cell, index)


@njit(cache=True, inline="always")
def normals_of_block(out, base, n_valid, o0, o1, o2, o3, k0, k1, step, stream, cell, first):
    """Normal numbers ``first .. first+3`` of ``cell`` from one block into ``out[base ..]`` (``n_valid`` of them)."""
    for lane in range(min(n_valid, 4)):
        o = o0 if lane == 0 else (o1 if lane == 1 else (o2 if lane == 2 else o3))
        out[base + lane] = normal(o, k0, k1, step, stream, cell, first + lane)


@njit(parallel=True, cache=True)
def fill_normals(out, k0, k1, step, stream):
    """``out[c, p]`` = normal number ``p`` of cell ``c`` (``memsim.rng.normals``); ``out.shape[1] % 4 == 0``.

    Cells run LANES at a time, as in the pulse kernels: Philox blocks and the ziggurat's fast path
    for every lane (loops the compiler vectorises), then the slow path for the few rejected words.
    This is the normal-variate rate ``memsim bench`` reports.
    """
    n_cells, n_per = out.shape
    c2 = stream_word(stream, step)
    c3 = step & MASK32
    for g in prange((n_cells + LANES - 1) // LANES):
        O = np.empty((4, LANES), np.uint64)
        Z = np.empty((4, LANES))
        first = g * LANES
        lanes = min(LANES, n_cells - first)
        for blk in range(n_per // 4):
            for l in range(LANES):
                o0, o1, o2, o3 = philox4x32_10(np.uint64(blk), np.uint64(first + l), c2, c3, k0, k1)
                O[0, l] = o0
                O[1, l] = o1
                O[2, l] = o2
                O[3, l] = o3
            for q in range(4):
                for l in range(LANES):
                    z, ok = ziggurat_fast(O[q, l])
                    Z[q, l] = z if ok else np.nan
            for l in range(lanes):
                for q in range(4):
                    z = Z[q, l]
                    if math.isnan(z):
                        z = ziggurat_slow(O[q, l], k0, k1, step, stream, first + l, 4 * blk + q)
                    out[first + l, 4 * blk + q] = z


@njit(parallel=True, cache=True)
def fill_blocks(out, ctr, k0, k1):
    """Raw Philox blocks for counters ``ctr`` (n, 4) into ``out`` (n, 4), for known-answer tests."""
    for n in prange(ctr.shape[0]):
        o0, o1, o2, o3 = philox4x32_10(ctr[n, 0], ctr[n, 1], ctr[n, 2], ctr[n, 3], k0, k1)
        out[n, 0] = o0
        out[n, 1] = o1
        out[n, 2] = o2
        out[n, 3] = o3


@njit(parallel=True, cache=True)
def fill_flat_normals(out, k0, k1, step, stream):
    """``out[k]`` = normal number ``k % 4`` of index ``k // 4`` (``Backend.normals``: cells ``k // 4``)."""
    n = out.shape[0]
    c2 = stream_word(stream, step)
    c3 = step & MASK32
    for blk in prange((n + 3) // 4):
        o0, o1, o2, o3 = philox4x32_10(np.uint64(0), np.uint64(blk), c2, c3, k0, k1)
        normals_of_block(out, 4 * blk, n - 4 * blk, o0, o1, o2, o3, k0, k1, step, stream, blk, 0)
