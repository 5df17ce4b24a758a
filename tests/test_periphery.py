"""Periphery: exact quantisation levels and clipping, noise moments, all-off = exact VMM."""

import numpy as np

from memsim.backends.base import sequential_forward
import pytest

from memsim import SoftBounds, Tile
from memsim.tasks import LinearRegressionTask
from memsim.models.mlp import AnalogMLP
from memsim.physics.periphery import Periphery, Quantizer, quantize
from memsim.models.train import TrainConfig, train

W = np.array([[0.5, -0.25, 0.75, 0.1], [-0.6, 0.3, 0.0, 0.9]])


def _tile(periphery, backend="numpy", seed=4):
    t = Tile(2, 4, SoftBounds(), periphery=periphery, backend=backend, seed=seed)
    t.program(W)
    return t


def test_quantizer_levels_and_clipping():
    q = Quantizer(bits=3, bound=1.5)  # 7 levels: k * 0.5, |k| <= 3
    v = np.array([-2.0, -1.5, -0.76, -0.75, -0.74, -0.2, 0.0, 0.24, 0.25, 0.26, 1.2, 1.26, 9.0])
    expected = np.array([-1.5, -1.5, -1.0, -1.0, -0.5, -0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.5, 1.5])
    np.testing.assert_array_equal(quantize(v, q), expected)
    assert len(np.unique(quantize(np.linspace(-3, 3, 1001), q))) == 2 ** 3 - 1
    np.testing.assert_array_equal(quantize(v, Quantizer(bound=1.0)), np.clip(v, -1, 1))
    np.testing.assert_array_equal(quantize(v, Quantizer()), v)


def test_all_off_is_the_exact_vmm(backend):
    t = _tile(Periphery(), backend)
    x = np.random.default_rng(0).normal(size=(5, 4))
    # the exact VMM: every dot product summed in index order (what the fused training kernels compute)
    np.testing.assert_array_equal(t.forward(x), sequential_forward(W, x))
    np.testing.assert_array_equal(t.backward(x[:, :2]), sequential_forward(W.T, x[:, :2]))
    np.testing.assert_allclose(t.forward(x), x @ W.T, rtol=1e-14, atol=1e-15)


def test_dac_and_adc_are_applied_exactly(backend):
    p = Periphery(dac=Quantizer(bits=4, bound=1.0), adc=Quantizer(bits=5, bound=0.8), backward=False)
    t = _tile(p, backend)
    x = np.random.default_rng(1).uniform(-1.3, 1.3, size=(6, 4))
    expected = quantize(quantize(x, p.dac) @ W.T, p.adc)
    np.testing.assert_array_equal(t.forward(x), expected)
    d = np.ones((1, 2))
    np.testing.assert_array_equal(t.backward(d), d @ W)  # backward=False: exact


def test_output_noise_moments(backend):
    sigma, n = 0.2, 4000
    t = _tile(Periphery(output_noise=sigma), backend)
    x = np.tile(np.array([1.0, -1.0, 0.5, 2.0]), (n, 1))
    y = t.forward(x) - x @ W.T
    assert np.all(np.abs(y.mean(0)) < 4 * sigma / np.sqrt(n))
    assert np.all(np.abs(y.var(0) - sigma ** 2) < 4 * sigma ** 2 * np.sqrt(2 / n))
    assert abs(np.corrcoef(y[:, 0], y[:, 1])[0, 1]) < 4 / np.sqrt(n)


def test_weight_read_noise_moments(backend):
    sigma, n = 0.1, 4000
    t = _tile(Periphery(weight_noise=sigma), backend)
    x = np.tile(np.array([1.0, -1.0, 0.5, 2.0]), (n, 1))
    y = t.forward(x) - x @ W.T
    var = sigma ** 2 * (W ** 2 @ x[0] ** 2)  # independent multiplicative noise on every cell
    assert np.all(np.abs(y.mean(0)) < 4 * np.sqrt(var / n))
    assert np.all(np.abs(y.var(0) - var) < 4 * var * np.sqrt(2 / n))


def test_noise_is_the_same_on_every_backend():
    p = Periphery(output_noise=0.3, weight_noise=0.2, dac=Quantizer(bits=8, bound=2.0))
    x = np.random.default_rng(2).normal(size=(7, 4))
    a, b = _tile(p, "numpy"), _tile(p, "numba")
    np.testing.assert_allclose(a.forward(x), b.forward(x), rtol=0, atol=1e-13)
    np.testing.assert_allclose(a.backward(x[:, :2]), b.backward(x[:, :2]), rtol=0, atol=1e-13)
    assert not np.array_equal(a.forward(x), a.forward(x))  # fresh noise every read


@pytest.mark.parametrize("kwargs,name", [
    (dict(output_noise=-0.1), "output_noise"), (dict(weight_noise=float("nan")), "weight_noise"),
    (dict(dac={"bits": 1, "bound": 1.0}), "dac.bits"), (dict(adc={"bits": 4}), "adc.bound"),
    (dict(adc={"bound": -1.0}), "adc.bound"), (dict(dac={"levels": 4}), "dac.levels"), (dict(backward="yes"), "backward"),
])
def test_bad_periphery_parameters(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        Periphery(**kwargs)


def test_training_through_a_noisy_periphery_runs():
    data = LinearRegressionTask(n_train=30, n_test=50, n_features=3).load(2)
    model = AnalogMLP([3, 1], bias=False, device=SoftBounds(dw_min=0.002), periphery=Periphery(output_noise=0.05), seed=2)
    r = train(model, data, TrainConfig(lr=0.02, epochs=10), loss="mse", seed=2, progress=False)
    assert r.statistics[0]["events"] > 0 and r.curves["test_loss"][-1] < r.curves["test_loss"][0]
    assert r.path == "fused" and model.tiles[0].read_step > 0  # the network kernel reads through the periphery
