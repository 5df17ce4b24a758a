"""Tile API: VMMs, programming, recording, clear errors."""

import numpy as np
import pytest

from memsim import ConstantStep, SoftBounds, Tile
from memsim.backends.base import sequential_forward


def test_forward_backward_are_vmms(backend):
    t = Tile(3, 4, SoftBounds(), backend=backend)
    w = np.arange(12.0).reshape(3, 4) / 20 - 0.3
    t.program(w)
    x = np.array([[1.0, -2.0, 0.5, 0.0], [0.1, 0.2, 0.3, 0.4]])
    # summed in index order (sequential_forward), so equal to BLAS up to rounding (atol: a sum that cancels to 0)
    np.testing.assert_array_equal(t.forward(x), sequential_forward(w, x))
    np.testing.assert_allclose(t.forward(x), x @ w.T, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.forward(x[0]), w @ x[0], rtol=1e-12, atol=1e-15)
    d = np.array([1.0, 0.0, -1.0])
    np.testing.assert_array_equal(t.backward(d), sequential_forward(w.T, d[None])[0])
    np.testing.assert_allclose(t.backward(d), w.T @ d, rtol=1e-12, atol=1e-15)


def test_program_clips_to_bounds(backend):
    t = Tile(2, 2, SoftBounds(w_max=0.5), backend=backend)
    t.program([[1.0, -1.0], [0.2, -0.2]])
    np.testing.assert_array_equal(t.weights, [[0.5, -0.5], [0.2, -0.2]])


def test_update_sign_convention(backend):
    """Delta W[j, i] = -lr * d[j] * x[i]."""
    t = Tile(2, 2, ConstantStep(dw_min=0.01, w_max=10.0), backend=backend)
    t.update(np.array([1.0, -1.0]), np.array([2.0, 0.0]), lr=0.05)
    np.testing.assert_allclose(t.weights, [[-0.1, 0.1], [0.0, 0.0]], atol=1e-15)


def test_recording_window(backend):
    t = Tile(2, 3, SoftBounds(dw_min=0.01), backend=backend)
    t.update(np.ones(3), np.ones(2), lr=0.05)
    assert t.statistics()["events"] == 0 and "weights_mean" not in t.statistics()
    t.start_recording()
    w_before = t.weights
    x, d = np.array([1.0, -0.5, 0.0]), np.array([0.3, -2.0])
    t.update(x, d, lr=0.05)
    s = t.statistics()
    assert s["events"] == 1
    np.testing.assert_allclose(s["mean_abs_grad"], np.abs(np.outer(d, x)))
    np.testing.assert_allclose(s["mean_abs_grad_w"], np.abs(np.outer(d, x)) * w_before)
    np.testing.assert_allclose(s["weights_mean"], t.weights)
    t.stop_recording()
    t.update(x, d, lr=0.05)
    assert t.statistics()["events"] == 1


def test_accumulate_programs_the_batch_sum_once(backend):
    dev = ConstantStep(dw_min=0.001, w_max=10.0)
    t = Tile(2, 2, dev, backend=backend)
    x = np.array([[1.0, 0.0], [1.0, 1.0]])
    d = np.array([[-1.0, 0.0], [1.0, 2.0]])
    t.update(x, d, lr=0.1, accumulate=True)
    assert t.step == 1
    np.testing.assert_allclose(t.weights, -0.1 * d.T @ x, atol=1e-12)


@pytest.mark.parametrize("kwargs,name", [
    (dict(rows=0, cols=2), "rows"), (dict(rows=2, cols=2.5), "cols"), (dict(rows=2, cols=2, seed=-1), "seed"),
    (dict(rows=2, cols=2, backend="tpu"), "name"), (dict(rows=2, cols=2, dtype="float16"), "dtype"),
    (dict(rows=2, cols=2, periphery=object()), "periphery"),
])
def test_bad_tile_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        Tile(device=SoftBounds(), **kwargs)


def test_bad_update_arguments(backend):
    t = Tile(2, 3, SoftBounds(), backend=backend)
    with pytest.raises(ValueError, match="'lr'.*Got -0.1"):
        t.update(np.ones(3), np.ones(2), lr=-0.1)
    with pytest.raises(ValueError, match="'x'"):
        t.update(np.ones(2), np.ones(2), lr=0.1)
    with pytest.raises(ValueError, match="'d'"):
        t.update(np.ones(3), np.array([1.0, np.nan]), lr=0.1)
    assert np.all(t.weights == 0)


@pytest.mark.parametrize("stuck_at", ["w_min", "w_max", "initial"])
def test_stuck_at_faults(stuck_at, backend):
    p = 0.2
    dev = SoftBounds(dw_min=0.01, w_max_dtod=0.2, stuck_prob=p, stuck_at=stuck_at)
    t = Tile(40, 50, dev, backend=backend, seed=9)
    cp = t.cell_parameters
    stuck = cp["stuck"] != 0
    assert abs(stuck.mean() - p) < 4 * np.sqrt(p * (1 - p) / stuck.size)
    expected = {"w_min": cp["w_min"], "w_max": cp["w_max"], "initial": np.zeros((40, 50))}[stuck_at]
    np.testing.assert_array_equal(t.weights[stuck], expected[stuck])
    t.program(0.3)
    g = np.random.default_rng(0)
    t.update(g.uniform(-1, 1, (3, 50)), g.uniform(-1, 1, (3, 40)), lr=0.1)
    np.testing.assert_array_equal(t.weights[stuck], expected[stuck])
    assert np.mean(t.weights[~stuck] != 0.3) > 0.9  # free cells moved (a few got no pulse)
    s = t.statistics()
    assert (s["pulses_up"] + s["pulses_down"])[stuck].sum() > 0  # the pulses were still fired
