"""In-place training of linear models: fused kernels, the OLS limit, the README example's penalty."""

import math

import numpy as np
import pytest

from memsim import ConstantStep, SoftBounds, Tile
from memsim.backends.base import sequential_forward
from memsim.compare.ridge import ols
from memsim.workflows.config import resolve_config
from memsim.tasks.registry import Dataset
from memsim.models.mlp import AnalogMLP
from memsim.workflows.run import run_summary
from memsim.workflows.studies import BASE_CONFIG
from memsim.models.train import TrainConfig, train


@pytest.mark.parametrize("accumulate,batch", [(False, 1), (False, 4), (True, 4)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_epochs_equal_a_loop_of_tile_updates(accumulate, batch, dtype, backend):
    """train_linear_epochs is bit-identical to the same sequence of Tile.update calls."""
    g = np.random.default_rng(0)
    X, Y = g.normal(size=(30, 5)), g.normal(size=(30, 2))
    order = np.stack([g.permutation(30) for _ in range(3)])
    lrs, record_from = np.array([0.05, 0.05, 0.01]), 17
    dev = SoftBounds(dw_min=0.002, dw_min_std=0.3, up_down=0.1, w_max_dtod=0.1)
    loop = Tile(2, 5, dev, backend=backend, seed=3, dtype=dtype)
    events = 0
    for e in range(3):
        for start in range(0, 30, batch):
            idx = order[e, start:start + batch]
            if events >= record_from:
                loop.start_recording()
            D = sequential_forward(loop.weights, X[idx]) - Y[idx]
            loop.update(X[idx], D, lr=lrs[e], accumulate=accumulate)
            events += 1 if accumulate else idx.size
    fused = Tile(2, 5, dev, backend=backend, seed=3, dtype=dtype)
    fused.train_linear_epochs(X, Y, order, lrs, batch_size=batch, accumulate=accumulate, record_from=record_from)
    assert fused.step == loop.step
    np.testing.assert_array_equal(fused.weights, loop.weights)
    a, b = fused.statistics(), loop.statistics()
    assert a["events"] == b["events"] > 0
    for key in ("pulses_up", "pulses_down", "sum_abs_grad", "sum_abs_grad_w", "sum_w"):
        np.testing.assert_array_equal(a[key], b[key])


def _problem(seed=4, n=50):
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, 3))
    y = X @ np.array([0.4, -0.3, 0.2]) + 0.5 * g.normal(size=n)
    return Dataset(X, y[:, None], X[:5], y[:5, None])


def test_constant_step_device_mean_is_ols():
    """No state dependence, no penalty: weights_mean -> OLS within the Monte-Carlo error.

    As for digital SGD (tests/test_baselines.py), random reshuffling leaves an O(lr) bias of the
    mean, so the lr -> 0 limit is tested by Richardson extrapolation 2 m(lr/2) - m(lr) per seed,
    with the standard error from 16 seeds; runs start at OLS and average the second half.
    """
    data = _problem()
    w_ols = ols(data.X_train, data.y_train[:, 0])
    dev = ConstantStep(dw_min=0.0005, w_max=10.0, dw_min_std=0.5)
    extrapolated = []
    for seed in range(16):
        means = []
        for lr in (0.01, 0.005):
            model = AnalogMLP([3, 1], bias=False, device=dev, seed=100 + seed)
            result = train(model, data, TrainConfig(lr=lr, epochs=80), loss="mse", seed=100 + seed, progress=False,
                           initial=[w_ols[None, :]])
            means.append(result.weights_mean[0][0])
        extrapolated.append(2 * means[1] - means[0])
    extrapolated = np.array(extrapolated)
    standard_error = extrapolated.std(axis=0, ddof=1) / math.sqrt(len(extrapolated))
    np.testing.assert_array_less(np.abs(extrapolated.mean(axis=0) - w_ols), 4 * standard_error)


def test_soft_bounds_shrinks_where_constant_step_does_not():
    data = _problem(n=200)
    w_ols = ols(data.X_train, data.y_train[:, 0])
    norms = {}
    for dev in (ConstantStep(dw_min=0.001), SoftBounds(dw_min=0.001, w_max=0.5)):
        model = AnalogMLP([3, 1], bias=False, device=dev, seed=1)
        r = train(model, data, TrainConfig(lr=0.005, epochs=40), loss="mse", seed=1, progress=False)
        norms[dev.kind] = np.linalg.norm(r.weights_mean[0][0]) / np.linalg.norm(w_ols)
    assert norms["soft_bounds"] < 0.8 < 0.95 < norms["constant_step"] < 1.05


@pytest.fixture(scope="module")
def example():
    return run_summary(resolve_config(BASE_CONFIG), progress=False)[0]


def test_readme_example_lambda_fit_matches_prediction(example):
    assert example["lambda_fit"] == pytest.approx(example["lambda_pred"], rel=0.10)
    assert example["tikhonov_pred_distance"] < 0.05
    assert example["lambda_plugin"] == pytest.approx(example["lambda_fit"], rel=0.10)
    assert example["regime_warnings"] == []
    assert example["updates"] == 30000 and example["pulses_up"] > 0 and example["pulses_down"] > 0


def test_cycle_to_cycle_noise_adds_variance_not_penalty(example):
    noisy = dict(BASE_CONFIG, device={**BASE_CONFIG["device"], "dw_min_std": 2.0})
    quiet = dict(BASE_CONFIG, device={**BASE_CONFIG["device"], "dw_min_std": 0.0})
    hi = run_summary(resolve_config(noisy), progress=False)[0]
    lo = run_summary(resolve_config(quiet), progress=False)[0]
    assert abs(hi["lambda_fit"] / lo["lambda_fit"] - 1) < 0.05
    assert np.mean(hi["weights_var"]) > 3 * np.mean(lo["weights_var"])
