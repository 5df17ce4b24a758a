"""Update rules and the single-pulse physics: statistical tests with 4-standard-error tolerances."""

import numpy as np
import pytest

from memsim import ConstantStep, Deterministic, SoftBounds, StochasticRounding, Tile

N = 200  # tiles of N x N cells give 40,000 independent events per test


def _one_event(device, rule, w0, delta, backend, seed=11):
    """Every cell of an N x N tile at state w0 receives the request Delta = -lr*d*x = delta."""
    t = Tile(N, N, device, update=rule, backend=backend, seed=seed)
    t.program(w0)
    t.update(np.ones(N), -np.sign(delta) * np.ones(N), lr=abs(delta))
    s = t.statistics()
    return (t.weights - w0).ravel(), (s["pulses_up"] + s["pulses_down"]).ravel()


def test_deterministic_rounding_table(backend):
    # dw_min = 0.25 and requests k * 0.25 are exact in binary, so |Delta|/dw_min is exactly k.
    dev = ConstantStep(dw_min=0.25, w_max=100.0)
    requests = np.array([0.0, 0.25, 0.49, 0.5, 0.51, 1.0, 1.5, 2.4999, 2.5, 3.5, -0.5, -1.5, -2.5, -0.49])
    expected_pulses = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 4, 1, 2, 3, 0])  # halves away from zero
    t = Tile(1, requests.size, dev, update=Deterministic(), backend=backend)
    t.update(requests, np.array([-0.25]), lr=1.0)  # Delta = 0.25 * requests: requests in units of dw_min
    s = t.statistics()
    np.testing.assert_array_equal((s["pulses_up"] + s["pulses_down"])[0], expected_pulses)
    np.testing.assert_array_equal(s["pulses_down"][0][requests > 0], 0)
    np.testing.assert_allclose(t.weights[0], np.sign(requests) * expected_pulses * 0.25)


@pytest.mark.parametrize("ratio", [0.3, 2.75, 7.1])  # not 0.5: its sample-variance SE vanishes at first order
def test_stochastic_rounding_counts(ratio, backend):
    dev = ConstantStep(dw_min=0.01, w_max=100.0)
    _, n = _one_event(dev, StochasticRounding(), 0.0, ratio * 0.01, backend)
    frac = ratio - np.floor(ratio)
    mean, var = ratio, frac * (1 - frac)
    assert abs(n.mean() - mean) < 4 * np.sqrt(var / n.size)
    assert set(np.unique(n)) <= {np.floor(ratio), np.floor(ratio) + 1}
    # variance of a Bernoulli(frac) count; SE of the sample variance from the fourth central moment
    mu4 = frac * (1 - frac) * (1 - 3 * frac + 3 * frac ** 2)
    assert abs(n.var() - var) < 4 * np.sqrt((mu4 - var ** 2) / n.size)


@pytest.mark.parametrize("mode", ["multiplicative", "additive"])
def test_constant_step_mean_update_equals_request(mode, backend):
    dev = ConstantStep(dw_min=0.01, w_max=100.0, dw_min_std=0.5, c2c_mode=mode)
    delta = 0.0437
    dw, _ = _one_event(dev, StochasticRounding(), 0.0, delta, backend)
    assert abs(dw.mean() - delta) < 4 * dw.std() / np.sqrt(dw.size)


@pytest.mark.parametrize("mode", ["multiplicative", "additive", "neurosim"])
@pytest.mark.parametrize("w0", [-0.6, 0.0, 0.45])
@pytest.mark.parametrize("up", [True, False])
def test_soft_bounds_single_pulse_moments(mode, w0, up, backend):
    dw_min = 0.01
    sigma = 0.002 if mode == "neurosim" else 0.3  # neurosim: a fraction of the range, clipping stays far
    dev = SoftBounds(dw_min=dw_min, dw_min_std=sigma, c2c_mode=mode)
    delta = dw_min if up else -dw_min  # exactly one pulse under deterministic rounding
    dw, n = _one_event(dev, Deterministic(), w0, delta, backend)
    assert np.all(n == 1)
    q = dw_min * (1 - w0 / 1.0) if up else dw_min * (1 + w0 / 1.0)
    expected = q if up else -q
    assert abs(dw.mean() - expected) < 4 * dw.std() / np.sqrt(dw.size)
    if mode == "multiplicative":  # Var = sigma^2 q^2; SE of a normal sample variance: var*sqrt(2/n)
        var = (sigma * q) ** 2
        assert abs(dw.var() - var) < 4 * var * np.sqrt(2 / dw.size)


def test_soft_bounds_expected_update_first_order(backend):
    """E[dw | w, Delta] = Delta - |Delta| w / w_max to first order (stochastic rounding, mult. noise)."""
    dw_min, w0, ratio = 0.002, 0.5, 3.4
    delta = ratio * dw_min
    dev = SoftBounds(dw_min=dw_min, dw_min_std=0.3)
    dw, _ = _one_event(dev, StochasticRounding(), w0, delta, backend)
    # exact mean of n compounded pulses: w_n = w_max - (w_max - w0)(1 - dw_min/w_max)^n, n in {3, 4}
    frac = ratio - 3
    exact = sum(p * (1.0 - (1 - w0) * (1 - dw_min) ** k - w0) for k, p in ((3, 1 - frac), (4, frac)))
    assert abs(dw.mean() - exact) < 4 * dw.std() / np.sqrt(dw.size)
    first_order = delta - abs(delta) * w0 / 1.0
    assert abs(exact - first_order) < (4 * dw_min) ** 2  # second order in the step
