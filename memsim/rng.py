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
* normal: a 256-layer ziggurat (Marsaglia & Tsang 2000, J. Stat. Softw. 5(8); tables built as
  in Doornik 2005 with ``r = 3.6541528853610088``) on the same words. Normal number ``p`` of a
  (step, stream, cell) sub-sequence starts from word ``o`` = lane ``p % 4`` of block ``p // 4``:

  - fast path (about 98.5 % of draws): layer ``i = o & 0xFF``, sign bit ``(o >> 8) & 1``,
    ``u = ((o >> 9) + 0.5) 2**-23``, ``x = u X[i]``; if ``x < X[i+1]`` the variate is ``+-x``
    (disjoint bits for layer, sign and mantissa: no index/uniform correlation);
  - otherwise attempt ``a = 0, 1, ...`` draws block ``F_a`` with counter
    ``(p, cell, (stream | 0x80) << 24 | a << 16 | (step >> 32) & 0xFFFF, step & 0xFFFFFFFF)``
    (a counter space the fast path never uses; it assumes ``stream < 128`` and ``step < 2**48``):
    in layer 0 (the tail beyond ``r``) ``t = -ln(u(F_a.1)) / r``, ``y = -ln(u(F_a.2))`` and
    ``+-(r + t)`` is returned when ``2 y > t**2``, else the tail is tried again with ``F_{a+1}``;
    in a wedge ``y = f(X[i]) + u(F_a.1) (f(X[i+1]) - f(X[i]))`` with ``f(x) = exp(-x**2/2)``,
    ``+-x`` is returned when ``y < f(x)``, else ``F_{a+1}.0`` is a new start word (fast path
    first). After 256 failed attempts (probability below 1e-300) the last ``+-x`` is returned.

  The uniform inside a layer has 23 bits, as fine as a float32 mantissa (and finer than the
  32-bit uniforms of a Box-Muller on the same words). Computed in float64; ``log`` and ``exp``
  (slow path only) may differ by one ulp between NumPy and the C library, which tests bound.
  The tables ``ZIGGURAT_X`` and ``ZIGGURAT_F`` are built here once and passed to every backend.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "philox4x32_10", "seed_to_key", "counters", "uniforms", "normals",
    "STREAM_ROUNDING", "STREAM_C2C", "STREAM_D2D", "STREAM_READ", "STREAM_INIT", "STREAM_DATA",
    "STREAM_COINCIDENCE", "STREAM_FAULTS", "STREAM_WEIGHT_READ", "ZIGGURAT_X", "ZIGGURAT_F", "ziggurat",
]

PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)
TWO_POW_M32 = 2.0 ** -32
TWO_POW_M23 = 2.0 ** -23
ZIGGURAT_LAYERS = 256
ZIGGURAT_R = 3.6541528853610088  #: start of the tail (Doornik 2005, 256 layers)
ZIGGURAT_MAX_ATTEMPTS = 256
FALLBACK_STREAM_BIT = 0x80

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
        The output block ``(o0, o1, o2, o3)``.
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
    """Split a run seed in ``[0, 2**64)`` into the Philox key ``(low 32 bits, high 32 bits)``.

    Parameters
    ----------
    seed : int
        The run seed, in ``[0, 2**64)``.

    Returns
    -------
    k0 : int
        Low 32 bits.
    k1 : int
        High 32 bits.
    """
    seed = int(seed)
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"The 'seed' parameter must be an integer in [0, 2**64). Got {seed!r} instead.")
    return seed & 0xFFFFFFFF, seed >> 32


def counters(step: int, stream: int, cells, block) -> np.ndarray:
    """Counters ``(block, cell, stream << 24 | step >> 32, step & 0xFFFFFFFF)`` broadcast over cells/blocks.

    Parameters
    ----------
    step : int
        Programming-event counter of the tile.
    stream : int
        One of the ``STREAM_*`` constants.
    cells : array_like of int
        Cell (or other per-stream) indices.
    block : array_like of int
        Block indices (``pulse // 4``), broadcast with ``cells``.

    Returns
    -------
    numpy.ndarray of uint64, shape (..., 4)
        The four counter words of every broadcast (cell, block) pair.
    """
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

    Returns
    -------
    numpy.ndarray
        Float64 uniform variates, of the broadcast shape of ``cells`` and ``index``.
    """
    bits, lane = _blocks(seed, step, stream, cells, index)
    o = np.take_along_axis(bits, lane[..., None].astype(np.intp), axis=-1)[..., 0]
    return (o.astype(np.float64) + 0.5) * TWO_POW_M32


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray]:
    """Layer edges ``X[0..256]`` (``X[0] = v / f(r)``, ``X[1] = r``, ``X[256] = 0``) and ``F = f(X)``.

    Every layer (the base strip with the tail included) has area ``v = r f(r) + int_r^inf f``;
    ``X[i+1] = f^-1(f(X[i]) + v / X[i])``.
    """
    def f(x: float) -> float:
        return math.exp(-0.5 * x * x)

    r = ZIGGURAT_R
    v = r * f(r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    x = [0.0] * (ZIGGURAT_LAYERS + 1)
    x[0] = v / f(r)
    x[1] = r
    for i in range(1, ZIGGURAT_LAYERS - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(f(x[i]) + v / x[i]))
    x[ZIGGURAT_LAYERS] = 0.0
    xs = np.array(x, dtype=np.float64)
    return xs, np.exp(-0.5 * xs * xs)


ZIGGURAT_X, ZIGGURAT_F = _ziggurat_tables()
ZIGGURAT_X.flags.writeable = False
ZIGGURAT_F.flags.writeable = False


def _fast(o: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fast path on start words: (layer, negative, x, accepted)."""
    o = o.astype(np.uint64)
    layer = (o & np.uint64(0xFF)).astype(np.intp)
    negative = ((o >> np.uint64(8)) & np.uint64(1)).astype(bool)
    u = ((o >> np.uint64(9)).astype(np.float64) + 0.5) * TWO_POW_M23
    x = u * ZIGGURAT_X[layer]
    return layer, negative, x, x < ZIGGURAT_X[layer + 1]


def _slow(seed: int, step: int, stream: int, cell: int, index: int, layer: int, negative: bool,
          x: float) -> float:
    """The rejection part of the ziggurat for one variate (module docstring)."""
    k0, k1 = seed_to_key(seed)
    key = np.array([k0, k1], dtype=np.uint64)
    lo = step & 0xFFFFFFFF
    for attempt in range(ZIGGURAT_MAX_ATTEMPTS):
        c2 = ((stream | FALLBACK_STREAM_BIT) << 24) | (attempt << 16) | ((step >> 32) & 0xFFFF)
        blk = philox4x32_10(np.array([index, cell, c2, lo], dtype=np.uint64), key)
        if attempt > 0 and layer != 0:  # a new start word after a rejected wedge
            l2, n2, x2, ok = _fast(blk[:1])
            layer, negative, x = int(l2[0]), bool(n2[0]), float(x2[0])
            if ok[0]:
                break
        u1 = (float(blk[1]) + 0.5) * TWO_POW_M32
        if layer == 0:
            t = -math.log(u1) / ZIGGURAT_R
            y = -math.log((float(blk[2]) + 0.5) * TWO_POW_M32)
            x = ZIGGURAT_R + t
            if 2.0 * y > t * t:
                break
        else:
            y = ZIGGURAT_F[layer] + u1 * (ZIGGURAT_F[layer + 1] - ZIGGURAT_F[layer])
            if y < math.exp(-0.5 * x * x):
                break
    return -x if negative else x


def ziggurat(bits: np.ndarray, seed: int, step: int, stream: int, cells, index) -> np.ndarray:
    """Standard normals from start words ``bits`` (uint32) of normal numbers ``index`` of ``cells``.

    ``bits``, ``cells`` and ``index`` broadcast together; the (rare) slow path draws its own blocks.

    Parameters
    ----------
    bits : numpy.ndarray of uint32
        Start words (module docstring).
    seed, step, stream : int
        Key and counter fields (module docstring).
    cells : array_like of int
        Cell (or other) indices.
    index : array_like of int
        Normal number within the (step, stream, cell) sub-sequence.

    Returns
    -------
    numpy.ndarray
        Float64 standard normal variates, of the broadcast shape.
    """
    bits, cells, index = np.broadcast_arrays(np.asarray(bits), np.asarray(cells, dtype=np.int64),
                                             np.asarray(index, dtype=np.int64))
    layer, negative, x, ok = _fast(bits)
    z = np.where(negative, -x, x)
    for pos in zip(*np.nonzero(~ok)):
        z[pos] = _slow(seed, step, stream, int(cells[pos]), int(index[pos]), int(layer[pos]),
                       bool(negative[pos]), float(x[pos]))
    return z


def normals(seed: int, step: int, stream: int, cells, index=0) -> np.ndarray:
    """Standard normal variates: the ziggurat on lane ``index % 4`` of block ``index // 4``, per cell.

    Parameters
    ----------
    seed, step, stream : int
        Key and counter fields (module docstring).
    cells : array_like of int
        Cell (or other) indices.
    index : int or array_like of int
        Normal number within the (step, stream, cell) sub-sequence, broadcast with ``cells``.

    Returns
    -------
    numpy.ndarray
        Float64 standard normal variates, of the broadcast shape of ``cells`` and ``index``.
    """
    bits, lane = _blocks(seed, step, stream, cells, index)
    o = np.take_along_axis(bits, lane[..., None].astype(np.intp), axis=-1)[..., 0]
    cells_b, index_b = np.broadcast_arrays(np.asarray(cells, dtype=np.int64), np.asarray(index, dtype=np.int64))
    return ziggurat(o, seed, step, stream, cells_b, index_b)
