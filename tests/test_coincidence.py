"""Stochastic pulse coincidence: binomial pulse counts, the mean update, clipping, management."""

import math

import numpy as np
import pytest

from memsim import ConstantStep, PulseCoincidence, SoftBounds, Tile

X = np.array([0.9, -0.4, 0.05, -1.0, 0.0])
D = np.array([0.7, -0.2, 1.0, -0.05])
DW = 0.01


def _counts(rule, lr, events=3000, backend="numba"):
    """Per-event pulse counts (events, rows, cols) and weight changes, constant step, far bounds."""
    t = Tile(4, 5, ConstantStep(dw_min=DW, w_max=1e6), update=rule, backend=backend, seed=2)
    counts = np.empty((events, 4, 5), dtype=np.int64)
    before = 0
    for e in range(events):
        t.update(X, D, lr=lr)
        s = t.statistics()
        total = s["pulses_up"] + s["pulses_down"]
        counts[e] = total - before
        before = total
    return counts, t


def _expected(rule, lr):
    x_max, d_max = np.abs(X).max(), np.abs(D).max()
    bl = rule.desired_bl
    if rule.update_bl_management:
        bl = min(max(math.ceil(lr * x_max * d_max / DW), 1), rule.desired_bl)
    base = math.sqrt(lr / (bl * DW))
    a, b = (base * math.sqrt(d_max / x_max), base * math.sqrt(x_max / d_max)) if rule.update_management \
        else (base, base)
    p = np.outer(np.minimum(b * np.abs(D), 1), np.minimum(a * np.abs(X), 1))
    return bl, p


@pytest.mark.parametrize("rule,lr", [
    (PulseCoincidence(), 0.02),                                   # BL management: ceil(0.02*0.9/0.01) = 2... slots
    (PulseCoincidence(update_bl_management=False), 0.02),         # all 31 slots, small probabilities
    (PulseCoincidence(update_management=False, desired_bl=100), 0.05),  # more than one 64-bit word
])
def test_pulse_counts_are_binomial(rule, lr):
    counts, _ = _counts(rule, lr)
    bl, p = _expected(rule, lr)
    mean, var = bl * p, bl * p * (1 - p)
    n = counts.shape[0]
    assert np.all(np.abs(counts.mean(0) - mean) <= 4 * np.sqrt(var / n) + 1e-12)
    # sample variance: its SE from the binomial fourth central moment
    mu4 = bl * p * (1 - p) * (1 + 3 * (bl - 2) * p * (1 - p))
    se_var = np.sqrt(np.maximum(mu4 - var ** 2, 0) / n)
    assert np.all(np.abs(counts.var(0) - var) <= 4 * se_var + 1e-12)
    assert counts[:, :, 4].max() == 0  # x = 0: never a coincidence


def test_mean_update_is_the_request_while_nothing_clips():
    lr, rule = 0.01, PulseCoincidence(update_bl_management=False)
    bl, p = _expected(rule, lr)
    assert p.max() < 1
    counts, t = _counts(rule, lr, events=4000)
    dw = t.weights / counts.shape[0]
    requested = -lr * np.outer(D, X)
    sign = -np.sign(np.outer(D, X))
    se = DW * np.sqrt(bl * p * (1 - p) / counts.shape[0])
    assert np.all(np.abs(dw - requested) <= 4 * se + 1e-15)
    np.testing.assert_array_equal(np.sign(t.weights)[sign != 0], sign[sign != 0])


def test_clipped_probabilities_follow_the_documented_formula():
    lr, rule = 0.5, PulseCoincidence()  # BL capped at 31 and max probability sqrt(0.5*0.9/(31*0.01)) > 1
    bl, p = _expected(rule, lr)
    assert bl == 31 and p.max() == 1.0
    counts, t = _counts(rule, lr, events=2000)
    mean = bl * p
    assert np.all(np.abs(counts.mean(0) - mean) <= 4 * np.sqrt(bl * p * (1 - p) / 2000) + 1e-12)
    assert np.all(counts.mean(0)[p == 1.0] == bl)
    assert np.any(np.abs(t.weights / 2000) < lr * np.abs(np.outer(D, X)) * 0.9)  # falls short of the request


def test_numpy_reference_agrees(backend):
    counts, t = _counts(PulseCoincidence(), 0.05, events=20, backend=backend)
    ref, t_ref = _counts(PulseCoincidence(), 0.05, events=20, backend="numba")
    np.testing.assert_array_equal(counts, ref)
    np.testing.assert_array_equal(t.weights, t_ref.weights)


def test_soft_bounds_with_coincidences_moves_towards_the_request():
    t = Tile(8, 8, SoftBounds(dw_min=0.001, dw_min_std=0.3), update=PulseCoincidence(), seed=1)
    x = np.ones(8)
    t.update(np.tile(x, (50, 1)), -np.ones((50, 8)), lr=0.01)  # Delta = +0.01 per sample
    assert np.all(t.weights > 0.3)


def test_bad_coincidence_parameters_and_accumulate():
    with pytest.raises(ValueError, match="'desired_bl'"):
        PulseCoincidence(desired_bl=0)
    with pytest.raises(ValueError, match="'update_management'"):
        PulseCoincidence(update_management=1)
    t = Tile(2, 2, SoftBounds(), update=PulseCoincidence())
    with pytest.raises(ValueError, match="'accumulate'"):
        t.update(np.ones(2), np.ones(2), lr=0.1, accumulate=True)


def test_training_with_coincidences_uses_the_rule(backend):
    """The fused path must not silently fall back to rounding: same result as a loop of updates."""
    from memsim.backends.base import sequential_forward

    g = np.random.default_rng(3)
    X_, Y_ = g.normal(size=(12, 3)), g.normal(size=(12, 1))
    order = np.stack([g.permutation(12) for _ in range(2)])
    dev = SoftBounds(dw_min=0.002, dw_min_std=0.2)
    fused = Tile(1, 3, dev, update=PulseCoincidence(), backend=backend, seed=4)
    fused.train_linear_epochs(X_, Y_, order, np.array([0.05, 0.05]))
    loop = Tile(1, 3, dev, update=PulseCoincidence(), backend=backend, seed=4)
    for e in range(2):
        for s in order[e]:
            loop.update(X_[s], sequential_forward(loop.weights, X_[s:s + 1])[0] - Y_[s], lr=0.05)
    np.testing.assert_array_equal(fused.weights, loop.weights)
    with pytest.raises(ValueError, match="'accumulate'"):
        fused.train_linear_epochs(X_, Y_, order, np.array([0.05, 0.05]), batch_size=4, accumulate=True)


def test_int32_pending_pulse_counters_spill_into_the_int64_totals():
    """The Numba kernel counts into int32 pending counters; they settle into the totals before
    they could overflow and on every read, so the totals equal the NumPy reference's."""
    rule = PulseCoincidence(desired_bl=31)
    tiles = {b: Tile(4, 5, ConstantStep(dw_min=DW, w_max=1e6), update=rule, backend=b, seed=3)
             for b in ("numpy", "numba")}
    stats = tiles["numba"]._stats
    for event in range(6):
        if event == 3:  # pretend the pending counters are nearly full: the next call must settle first
            stats.pending_max = np.iinfo(np.int32).max - rule.desired_bl + 1
        for tile in tiles.values():
            tile.update(X, D, lr=0.05)
        if event == 3:
            assert stats.pending_max == rule.desired_bl  # settled, then reserved for this call only
            assert stats.n_up.sum() + stats.n_down.sum() > 0  # the first three events reached the totals
    assert stats.pending_up.dtype == np.int32 and stats.pending_up.sum() + stats.pending_down.sum() > 0
    s_numba, s_numpy = tiles["numba"].statistics(), tiles["numpy"].statistics()
    for key in ("pulses_up", "pulses_down"):
        assert s_numba[key].dtype == np.int64
        np.testing.assert_array_equal(s_numba[key], s_numpy[key])
    assert stats.pending_max == 0 and not stats.pending_up.any()  # reading settled them
    assert stats.pending_counters(np, np.iinfo(np.int32).max + 1) is None  # too many for int32: use the totals
