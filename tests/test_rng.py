"""Philox4x32-10: published known answers, NumPy/Numba parity, variate moments."""

import numpy as np
import pytest

from memsim import rng

# Random123 kat_vectors, philox4x32 with 10 rounds: (counter, key, expected output).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_numpy_known_answers(ctr, key, expected):
    out = rng.philox4x32_10(np.array(ctr, dtype=np.uint32), np.array(key, dtype=np.uint32))
    assert tuple(int(v) for v in out) == expected


def test_numba_known_answers():
    from memsim.backends.numba.philox import fill_blocks

    for ctr, key, expected in KAT:
        out = np.zeros((1, 4), dtype=np.uint64)
        fill_blocks(out, np.array([ctr], dtype=np.uint64), np.uint64(key[0]), np.uint64(key[1]))
        assert tuple(int(v) for v in out[0]) == expected


def test_numba_blocks_match_numpy_on_random_counters():
    from memsim.backends.numba.philox import fill_blocks

    g = np.random.default_rng(5)
    ctr = g.integers(0, 2 ** 32, size=(1000, 4), dtype=np.uint64)
    out = np.zeros((1000, 4), dtype=np.uint64)
    fill_blocks(out, ctr, np.uint64(123), np.uint64(2 ** 32 - 7))
    np.testing.assert_array_equal(out, rng.philox4x32_10(ctr, np.array([123, 2 ** 32 - 7])))


def test_numba_normals_match_numpy():
    """Same bits, same ziggurat; log/exp of its slow path may differ by an ulp between NumPy and libm."""
    from memsim.backends.numba.philox import fill_normals

    seed, step = 2 ** 40 + 17, 2 ** 33 + 5
    k0, k1 = rng.seed_to_key(seed)
    out = np.zeros((300, 8))
    fill_normals(out, np.uint64(k0), np.uint64(k1), np.uint64(step), 2)
    ref = rng.normals(seed, step, 2, np.arange(300)[:, None], np.arange(8)[None, :])
    np.testing.assert_array_max_ulp(out, ref, maxulp=8)


def test_uniform_and_normal_moments():
    n = 400_000
    u = rng.uniforms(9, 0, rng.STREAM_ROUNDING, np.arange(n // 4)[:, None], np.arange(4)[None, :]).ravel()
    z = rng.normals(9, 0, rng.STREAM_C2C, np.arange(n // 4)[:, None], np.arange(4)[None, :]).ravel()
    assert 0.0 < u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 4 * np.sqrt(2 / n)
    assert abs(np.mean(z ** 4) - 3.0) < 4 * np.sqrt(96 / n)  # Var(z^4) = 105 - 9


def test_streams_steps_and_seeds_are_distinct():
    cells = np.arange(1000)
    base = rng.normals(1, 0, rng.STREAM_C2C, cells)
    for other in (rng.normals(2, 0, rng.STREAM_C2C, cells), rng.normals(1, 1, rng.STREAM_C2C, cells),
                  rng.normals(1, 0, rng.STREAM_READ, cells), rng.normals(1, 0, rng.STREAM_C2C, cells, 4)):
        assert abs(np.corrcoef(base, other)[0, 1]) < 4 / np.sqrt(1000)


def test_seed_range_is_checked():
    with pytest.raises(ValueError, match="'seed'"):
        rng.seed_to_key(-1)
    with pytest.raises(ValueError, match="'seed'"):
        rng.seed_to_key(2 ** 64)
