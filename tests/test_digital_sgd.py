"""ONE digital SGD for every model: it runs the analog run's exact algorithm (DESIGN.md "Comparison side").

The reference below is plain SGD written out in the test (no memsim code): per-epoch permutations and
learning rates, gradients at the batch start, per-sample or accumulated programming, the averaging
window that opens at the first batch whose first event index reaches ``ceil(average_from * total)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from memsim.compare.digital import train_digital
from memsim.models.train import epoch_orders, learning_rates
from memsim.workflows.config import resolve_config
from memsim.workflows.run import run_summary


def reference_sgd(X, y, w0, lrs, perms, batch_size, accumulate, weight_decay=0.0, w_s=0.0, average_from=0.5):
    """Linear least squares, loss 1/2 (x.w - y)^2 per sample; returns (final, window mean)."""
    n = X.shape[0]
    w = np.array(w0, dtype=np.float64)
    per_epoch = math.ceil(n / batch_size) if accumulate else n
    start = math.ceil(average_from * per_epoch * len(perms))
    events, total, count = 0, np.zeros_like(w), 0
    for lr, perm in zip(lrs, perms):
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            recording = events >= start
            grads = [(X[b] @ w - y[b]) * X[b] for b in idx]  # all at the batch start
            if accumulate:
                w = w - lr * (sum(grads) + len(idx) * weight_decay * (w - w_s))
                steps = [w]
            else:
                steps = []
                for g in grads:
                    w = w - lr * (g + weight_decay * (w - w_s))
                    steps.append(w)
            for v in steps:
                events += 1
                if recording:
                    total, count = total + v, count + 1
    return w, total / count


def _problem(n=13, d=4, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d))
    return X, X @ g.standard_normal(d) + 0.3 * g.standard_normal(n)


@pytest.mark.parametrize("batch_size,accumulate", [(1, False), (4, False), (4, True)])
def test_plain_digital_sgd_is_plain_sgd(batch_size, accumulate):
    X, y = _problem()
    perms = epoch_orders(5, X.shape[0], 6)
    lrs = np.array([0.05, 0.05, 0.02, 0.02, 0.01, 0.005])
    w0 = np.random.default_rng(1).standard_normal(X.shape[1])
    out = train_digital([w0[None, :]], X, y, loss="mse", bias=False, lrs=lrs, permutations=perms,
                        batch_size=batch_size, accumulate=accumulate, average_from=0.55)
    final, mean = reference_sgd(X, y, w0, lrs, perms, batch_size, accumulate, average_from=0.55)
    np.testing.assert_allclose(out["weights_final"][0][0], final, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(out["weights_mean"][0][0], mean, rtol=1e-13, atol=1e-14)


def test_batch_start_gradients_differ_from_current_weight_gradients():
    """Negative control: the batch-start scheme is not the per-sample-current scheme (so the tests can fail)."""
    X, y = _problem()
    perms = epoch_orders(5, X.shape[0], 3)
    lrs = np.full(3, 0.05)
    out = train_digital([np.zeros((1, X.shape[1]))], X, y, loss="mse", bias=False, lrs=lrs, permutations=perms,
                        batch_size=4, average_from=0.5)
    current, _ = reference_sgd(X, y, np.zeros(X.shape[1]), lrs, perms, 1, False)
    assert np.max(np.abs(out["weights_final"][0][0] - current)) > 1e-6


LINEAR = {"seed": 4, "task": {"kind": "linear_regression", "n_train": 30, "n_test": 50, "n_features": 5},
          "device": {"kind": "soft_bounds", "dw_min": 0.002, "dw_min_std": 0.2},
          "train": {"lr": 0.02, "epochs": 6, "average_from": 0.55}}


@pytest.mark.parametrize("train", [
    {"lr_schedule": "step", "lr_step_epochs": [2, 4], "lr_gamma": 0.3},
    {"batch_size": 4},
    {"batch_size": 4, "accumulate": True},
], ids=["step-schedule", "batch4", "batch4-accumulated"])
def test_linear_run_digital_baseline_runs_the_analog_algorithm(train):
    """The run's digital SGD (with the predicted weight decay) uses the analog run's per-epoch rates,
    batch-start gradients and window (the linear baseline used a constant rate, current-weight gradients
    and a window opening at floor instead of ceil before the one-digital-SGD merge)."""
    raw = {**LINEAR, "train": {**LINEAR["train"], **train}}
    config = resolve_config(raw)
    summary, _ = run_summary(config, progress=False)
    data = config.task.load(config.seed)
    tr = config.train
    perms = epoch_orders(config.seed, data.X_train.shape[0], tr.epochs)
    lrs = learning_rates(tr)
    if tr.lr_schedule == "step":
        assert lrs[0] != lrs[-1]
    _, mean = reference_sgd(data.X_train, data.y_train[:, 0], np.zeros(data.X_train.shape[1]), lrs, perms,
                            tr.batch_size, tr.accumulate, weight_decay=summary["digital_sgd_weight_decay"],
                            average_from=tr.average_from)
    np.testing.assert_allclose(summary["digital_sgd_weights_mean"], mean, rtol=1e-12, atol=1e-14)
