"""Zero-shifting: a reference at the symmetry point turns the pull towards w_s into Tikhonov towards 0."""

import numpy as np
import pytest

from memsim import SoftBounds, Tile
from memsim.analysis.penalty import predict_lambda, predict_weights
from memsim.backends.base import sequential_forward
from memsim.compare.ridge import ols
from memsim.tasks import LinearRegressionTask
from memsim.physics.devices.shifted import ZeroShifted
from memsim.models.mlp import AnalogMLP
from memsim.models.train import TrainConfig, train


def test_reference_is_the_cell_symmetry_point_and_reads_subtract_it(backend):
    dev = SoftBounds(up_down=0.3, up_down_dtod=0.1, w_max_dtod=0.2)
    t = Tile(3, 4, dev, backend=backend, seed=2, zero_shift=True)
    cp = t.cell_parameters
    expected = 2 * cp["up_down"] / ((1 + cp["up_down"]) / cp["w_max"] - (1 - cp["up_down"]) / cp["w_min"])
    np.testing.assert_allclose(t.reference, expected, rtol=1e-12)
    np.testing.assert_allclose(t.weights, 0.0, atol=1e-15)  # starts at the reference: effective 0
    w = np.random.default_rng(0).uniform(-0.3, 0.3, (3, 4))
    t.program(w)
    np.testing.assert_allclose(t.weights, w, atol=1e-15)
    np.testing.assert_allclose(t.device_weights, w + t.reference, atol=1e-15)
    x = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(t.forward(x), x @ w.T, atol=1e-12)
    np.testing.assert_allclose(t.exact_forward(x), x @ w.T, atol=1e-12)


def test_fused_training_with_zero_shift_equals_the_loop(backend):
    g = np.random.default_rng(0)
    X, Y = g.normal(size=(20, 4)), g.normal(size=(20, 1))
    order = np.stack([g.permutation(20) for _ in range(2)])
    dev = SoftBounds(dw_min=0.002, dw_min_std=0.3, up_down=0.3)
    fused = Tile(1, 4, dev, backend=backend, seed=3, zero_shift=True)
    fused.train_linear_epochs(X, Y, order, np.array([0.05, 0.05]), record_from=10)
    loop = Tile(1, 4, dev, backend=backend, seed=3, zero_shift=True)
    k = 0
    for e in range(2):
        for s in order[e]:
            if k >= 10:
                loop.start_recording()
            d = sequential_forward(loop.device_weights, X[s:s + 1]) - (Y[s] + sequential_forward(loop.reference, X[s:s + 1]))
            loop.update(X[s], d[0], lr=0.05)
            k += 1
    np.testing.assert_array_equal(fused.device_weights, loop.device_weights)
    np.testing.assert_array_equal(fused.statistics()["weights_mean"], loop.statistics()["weights_mean"])


def test_zero_shift_returns_the_stationary_point_to_tikhonov_towards_zero():
    """up_down = 0.3: without zero-shifting the weights are pulled towards w_s = 0.3 w_max; with it
    the stationary mean solves the exact stationarity law towards 0, within the Monte-Carlo error.

    Random reshuffling and the weight jitter leave O(lr) systematic terms (THEORY.md 2a), so, as in
    the OLS tests, the lr -> 0 limit 2 m(lr/2) - m(lr) per seed is compared (8 seeds, 4 standard errors).
    """
    data = LinearRegressionTask(n_train=100, n_test=10, n_features=5, noise_std=1.0).load(7)
    X, y = data.X_train, data.y_train[:, 0]
    dev = SoftBounds(dw_min=0.0005, dw_min_std=0.3, up_down=0.3)
    shifted = ZeroShifted(dev)
    w_pred = predict_weights(X, y, shifted)
    lam = predict_lambda(X, y, shifted)

    def mean_weights(zero_shift, lr, seed):
        model = AnalogMLP([5, 1], bias=False, device=dev, zero_shift=zero_shift, seed=seed)
        return train(model, data, TrainConfig(lr=lr, epochs=150), loss="mse", seed=seed, progress=False).weights_mean[0][0]

    extrapolated = np.array([2 * mean_weights(True, 0.002, 100 + s) - mean_weights(True, 0.004, 100 + s)
                             for s in range(8)])
    se = extrapolated.std(axis=0, ddof=1) / np.sqrt(len(extrapolated))
    np.testing.assert_array_less(np.abs(extrapolated.mean(0) - w_pred), 4 * se)
    # the linearised (generalized Tikhonov) solution is close but not the exact law
    assert np.linalg.norm(extrapolated.mean(0) - lam["w_tikhonov"]) < 0.1 * np.linalg.norm(ols(X, y) - w_pred)
    # without zero-shifting the weights are pulled towards w_s instead: far from the law towards 0
    plain = mean_weights(False, 0.004, 100)
    assert np.linalg.norm(plain - w_pred) > 10 * np.linalg.norm(extrapolated.mean(0) - w_pred)


def test_zero_shift_on_a_varied_exp_step_tile():
    from memsim.physics.devices import ExpStep

    dev = ExpStep(nl_ltp=1.0, nl_ltd=-4.22, up_down_dtod=0.05, w_max_dtod=0.1)
    t = Tile(3, 3, dev, backend="numpy", seed=1, zero_shift=True)
    assert np.all(np.isfinite(t.reference)) and np.all(t.reference < 0)  # asymmetric labels: w_s < 0
    np.testing.assert_allclose(t.weights, 0.0, atol=1e-12)
