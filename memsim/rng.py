"""Philox4x32-10 counter-based random numbers: the NumPy reference every backend reproduces bit for bit.

Generator
---------
Philox4x32 with 10 rounds (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as
1, 2, 3", SC'11; Random123). A block is a pure function of a 128-bit counter and a 64-bit key:

    (o0, o1, o2, o3) = philox4x32_10((c0, c1, c2, c3), (k0, k1))

Keys and counters in memsim
---------------------------
* key ``(k0, k1)`` = the low and high 32 bits of the run seed (an integer in ``[0, 2**64)``);
* counter ``c0`` = block index (``pulse // 4``; four variates per block),
  ``c1`` = cell index (``row * cols + col``, or any per-stream index),
  ``c2`` = ``(stream << 24) | (step >> 32)``, ``c3`` = ``step & 0xFFFFFFFF``,
  where ``step`` is the tile's programming-event counter (48 bits usable) and ``stream`` one of the
  named ``STREAM_*`` constants below.

A cell's random numbers therefore depend only on (seed, step, stream, cell, pulse): never on
thread count, scheduling or backend.

Variates
--------
* uniform: ``u = (o + 0.5) * 2**-32`` in the open interval (0, 1), one per 32-bit output;
  lane ``pulse % 4`` of block ``pulse // 4``.
* normal: Box-Muller on the pairs ``(o0, o1)`` and ``(o2, o3)`` of a block, with
  ``u1 = (o0 + 0.5) 2**-32``, ``u2 = (o1 + 0.5) 2**-32``, ``r = sqrt(-2 ln u1)``,
  ``z0 = r cos(2 pi u2)``, ``z1 = r sin(2 pi u2)`` (likewise ``z2, z3`` from ``o2, o3``);
  all four outputs are used: normal number ``pulse`` is lane ``pulse % 4`` of block ``pulse // 4``.
  Computed in float64. ``log``, ``cos`` and ``sin`` may differ by one ulp between NumPy's and
  the C library's implementations; tests bound that effect.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "philox4x32_10", "seed_to_key", "counters", "uniforms", "normals",
    "STREAM_ROUNDING", "STREAM_C2C", "STREAM_D2D", "STREAM_READ", "STREAM_INIT", "STREAM_DATA",
    "STREAM_COINCIDENCE", "STREAM_FAULTS", "STREAM_WEIGHT_READ",
]

PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)
TWO_POW_M32 = 2.0 ** -32
TWO_PI = 6.283185307179586

# Named stream ids: each kind of randomness draws from its own sub-sequence.
STREAM_ROUNDING = 1   #: stochastic rounding of the pulse count
STREAM_C2C = 2        #: cycle-to-cycle noise of each pulse (or programming event)
STREAM_D2D = 3        #: device-to-device parameter draws (step = parameter index)
STREAM_READ = 4       #: read / output noise (periphery)
STREAM_INIT = 5       #: initial weights
STREAM_DATA = 6       #: data order (permutations)
STREAM_COINCIDENCE = 7  #: pulse-coincidence bit streams
STREAM_FAULTS = 8       #: stuck-at faults (which cells are stuck)
STREAM_WEIGHT_READ = 9  #: multiplicative weight read noise (periphery)


def _mulhilo(m: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prod = np.uint64(m) * x
    return prod >> np.uint64(32), prod & _MASK32


def philox4x32_10(ctr: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Philox4x32-10 block function, vectorised over leading axes.

    Parameters
    ----------
    ctr : array_like of uint32, shape (..., 4)
        Counters.
    key : array_like of uint32, shape (..., 2)
        Keys (broadcast against ``ctr``).

    Returns
    -------
    numpy.ndarray of uint32, shape (..., 4)
    """
    ctr = np.asarray(ctr, dtype=np.uint64)
    key = np.asarray(key, dtype=np.uint64)
    c0, c1, c2, c3 = (ctr[..., i] for i in range(4))
    k0, k1 = key[..., 0], key[..., 1]
    for _ in range(10):
        hi0, lo0 = _mulhilo(PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + np.uint64(PHILOX_W0)) & _MASK32
        k1 = (k1 + np.uint64(PHILOX_W1)) & _MASK32
    return np.stack(np.broadcast_arrays(c0, c1, c2, c3), axis=-1).astype(np.uint32)


def seed_to_key(seed: int) -> tuple[int, int]:
    """Split a run seed in ``[0, 2**64)`` into the Philox key ``(low 32 bits, high 32 bits)``."""
    seed = int(seed)
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"The 'seed' parameter must be an integer in [0, 2**64). Got {seed!r} instead.")
    return seed & 0xFFFFFFFF, seed >> 32


def counters(step: int, stream: int, cells, block) -> np.ndarray:
    """Counters ``(block, cell, stream << 24 | step >> 32, step & 0xFFFFFFFF)`` broadcast over cells/blocks."""
    step = int(step)
    cells = np.asarray(cells, dtype=np.uint64)
    block = np.asarray(block, dtype=np.uint64)
    cells, block = np.broadcast_arrays(cells, block)
    c2 = np.uint64(((stream & 0xFF) << 24) | ((step >> 32) & 0xFFFFFF))
    c3 = np.uint64(step & 0xFFFFFFFF)
    out = np.empty(cells.shape + (4,), dtype=np.uint64)
    out[..., 0] = block
    out[..., 1] = cells
    out[..., 2] = c2
    out[..., 3] = c3
    return out


def _blocks(seed: int, step: int, stream: int, cells, index) -> tuple[np.ndarray, np.ndarray]:
    index = np.asarray(index, dtype=np.int64)
    ctr = counters(step, stream, cells, index // 4)
    k0, k1 = seed_to_key(seed)
    bits = philox4x32_10(ctr, np.array([k0, k1], dtype=np.uint64))
    lane = np.broadcast_to(index % 4, bits.shape[:-1])
    return bits, lane


def uniforms(seed: int, step: int, stream: int, cells, index=0) -> np.ndarray:
    """Uniform variates in (0, 1): lane ``index % 4`` of block ``index // 4`` for each cell.

    Parameters
    ----------
    seed, step, stream : int
        Key and counter fields (module docstring).
    cells : array_like of int
        Cell (or other) indices.
    index : int or array_like of int
        Variate number within the (step, stream, cell) sub-sequence, broadcast with ``cells``.
    """
    bits, lane = _blocks(seed, step, stream, cells, index)
    o = np.take_along_axis(bits, lane[..., None].astype(np.intp), axis=-1)[..., 0]
    return (o.astype(np.float64) + 0.5) * TWO_POW_M32


def normal4(bits: np.ndarray) -> np.ndarray:
    """Box-Muller on the two pairs of a Philox block: (..., 4) uint32 -> (..., 4) float64 normals."""
    u = (bits.astype(np.float64) + 0.5) * TWO_POW_M32
    r01 = np.sqrt(-2.0 * np.log(u[..., 0]))
    r23 = np.sqrt(-2.0 * np.log(u[..., 2]))
    t01 = TWO_PI * u[..., 1]
    t23 = TWO_PI * u[..., 3]
    return np.stack([r01 * np.cos(t01), r01 * np.sin(t01), r23 * np.cos(t23), r23 * np.sin(t23)], axis=-1)


def normals(seed: int, step: int, stream: int, cells, index=0) -> np.ndarray:
    """Standard normal variates: lane ``index % 4`` of the Box-Muller block ``index // 4``, per cell."""
    bits, lane = _blocks(seed, step, stream, cells, index)
    z = normal4(bits)
    return np.take_along_axis(z, lane[..., None].astype(np.intp), axis=-1)[..., 0]
