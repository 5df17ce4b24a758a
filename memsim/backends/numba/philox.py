"""Philox4x32-10 and its uniform/normal transforms in Numba, bit-identical to :mod:`memsim.rng`.

All 32-bit words are carried in ``uint64`` (Numba would otherwise promote mixed integer types to
float); every constant is a ``np.uint64`` for the same reason.
"""

import math

import numpy as np
from numba import njit, prange

M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)
W1 = np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)
SHIFT24 = np.uint64(24)
MASK24 = np.uint64(0xFFFFFF)
TWO_POW_M32 = 2.0 ** -32
TWO_PI = 6.283185307179586


@njit(cache=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block; arguments and results are 32-bit values held in uint64."""
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = (p1 >> SHIFT32) ^ c1 ^ k0, p1 & MASK32, (p0 >> SHIFT32) ^ c3 ^ k1, p0 & MASK32
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return c0, c1, c2, c3


@njit(cache=True)
def stream_word(stream, step):
    """Counter word ``c2 = stream << 24 | step >> 32`` (``memsim.rng.counters``)."""
    return (np.uint64(stream) << SHIFT24) | ((step >> SHIFT32) & MASK24)


@njit(cache=True)
def uniform(o):
    """Uniform in (0, 1) from one 32-bit word: ``(o + 0.5) 2**-32``."""
    return (np.float64(o) + 0.5) * TWO_POW_M32


@njit(cache=True)
def normal2(oa, ob):
    """Box-Muller on one pair of words: two standard normals."""
    r = math.sqrt(-2.0 * math.log(uniform(oa)))
    t = TWO_PI * uniform(ob)
    return r * math.cos(t), r * math.sin(t)


@njit(cache=True)
def normal4(o0, o1, o2, o3):
    """Box-Muller on ``(o0, o1)`` and ``(o2, o3)``: four standard normals."""
    z0, z1 = normal2(o0, o1)
    z2, z3 = normal2(o2, o3)
    return z0, z1, z2, z3


@njit(parallel=True, cache=True)
def fill_normals(out, k0, k1, step, stream):
    """``out[c, p]`` = normal number ``p`` of cell ``c`` (``memsim.rng.normals``); ``out.shape[1] % 4 == 0``."""
    n_cells, n_per = out.shape
    c2 = stream_word(stream, step)
    c3 = step & MASK32
    for c in prange(n_cells):
        for blk in range(n_per // 4):
            o0, o1, o2, o3 = philox4x32_10(np.uint64(blk), np.uint64(c), c2, c3, k0, k1)
            z0, z1, z2, z3 = normal4(o0, o1, o2, o3)
            out[c, 4 * blk] = z0
            out[c, 4 * blk + 1] = z1
            out[c, 4 * blk + 2] = z2
            out[c, 4 * blk + 3] = z3


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
    """``out[k]`` = lane ``k % 4`` of the Box-Muller block of counter (0, k // 4, stream|step)."""
    n = out.shape[0]
    c2 = stream_word(stream, step)
    c3 = step & MASK32
    for blk in prange((n + 3) // 4):
        o0, o1, o2, o3 = philox4x32_10(np.uint64(0), np.uint64(blk), c2, c3, k0, k1)
        z0, z1, z2, z3 = normal4(o0, o1, o2, o3)
        base = 4 * blk
        out[base] = z0
        if base + 1 < n:
            out[base + 1] = z1
        if base + 2 < n:
            out[base + 2] = z2
        if base + 3 < n:
            out[base + 3] = z3
