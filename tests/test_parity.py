"""NumPy reference vs Numba: the same pulses and weights for the same seed, any thread count."""

import numpy as np
import pytest

from memsim import Deterministic, PulseCoincidence, StochasticRounding, Tile
from memsim.physics.devices import DEVICE_MODELS

pytest.importorskip("numba")

RULES = {"stochastic_rounding": StochasticRounding(), "deterministic": Deterministic(),
         "pulse_coincidence": PulseCoincidence(desired_bl=40)}


def _device(kind, mode):
    extra = {"gamma_up_dtod": 0.2} if kind == "linear_step" else {}
    return DEVICE_MODELS[kind](dw_min=0.004, dw_min_std=0.4, c2c_mode=mode, up_down=0.1, w_max_dtod=0.2,
                               dw_min_dtod=0.1, up_down_dtod=0.05, stuck_prob=0.1, **extra)


def _run(device, rule, backend, dtype="float64", seed=21):
    t = Tile(7, 5, device, update=rule, backend=backend, dtype=dtype, seed=seed)
    g = np.random.default_rng(1)
    t.program(g.uniform(-0.5, 0.5, (7, 5)))
    t.update(g.uniform(-1, 1, 5), g.uniform(-1, 1, 7), lr=0.05)
    t.start_recording()
    for _ in range(3):
        t.update(g.uniform(-1, 1, (4, 5)), g.uniform(-1, 1, (4, 7)), lr=0.05)
    if rule.kind != "pulse_coincidence":  # rank-1 only
        t.update(g.uniform(-1, 1, (3, 5)), g.uniform(-1, 1, (3, 7)), lr=0.05, accumulate=True)
    return t.weights, t.statistics(), t.step


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", ["multiplicative", "additive", "neurosim"])
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_numpy_numba_parity(kind, rule, mode, dtype):
    dev = _device(kind, mode)
    w_ref, s_ref, step_ref = _run(dev, RULES[rule], "numpy", dtype)
    w_nb, s_nb, step_nb = _run(dev, RULES[rule], "numba", dtype)
    assert step_ref == step_nb == 1 + 3 * 4 + (rule != "pulse_coincidence")
    np.testing.assert_array_equal(s_nb["pulses_up"], s_ref["pulses_up"])
    np.testing.assert_array_equal(s_nb["pulses_down"], s_ref["pulses_down"])
    assert s_ref["pulses_up"].sum() > 0 and s_ref["pulses_down"].sum() > 0
    # Identical float64 update arithmetic; only log/exp of the ziggurat's slow path may differ by an
    # ulp between NumPy and libm, which moves a weight by ~1e-16 * sigma * step.
    np.testing.assert_allclose(w_nb, w_ref, rtol=0, atol=1e-13)
    assert w_nb.dtype == np.dtype(dtype)
    for key in ("sum_abs_grad", "sum_abs_grad_w", "sum_w"):
        np.testing.assert_allclose(s_nb[key], s_ref[key], rtol=0, atol=1e-12)


@pytest.mark.parametrize("lr", [0.003, 0.1], ids=["short-trains", "sorted-trains"])
@pytest.mark.parametrize("spread", [False, True], ids=["uniform-cells", "d2d-and-faults"])
def test_grouped_coincidence_kernel_on_a_wide_tile(lr, spread, monkeypatch):
    """The lock-step kernel with several groups of 64 per row, a partial last group, both orderings
    (index order while every train is <= 4 pulses, sorted by count otherwise), with and without
    per-cell parameters, parallel over rows: the NumPy reference's pulses and weights."""
    import memsim.backends.numba as nb
    from memsim.physics.devices import SoftBounds

    monkeypatch.setattr(nb, "SERIAL_BELOW", 0)
    extra = dict(w_max_dtod=0.2, dw_min_dtod=0.1, stuck_prob=0.05) if spread else {}
    dev = SoftBounds(dw_min=0.001, dw_min_std=0.3, up_down=0.1, **extra)
    out = []
    for backend in ("numpy", "numba"):
        t = Tile(3, 200, dev, update=PulseCoincidence(desired_bl=31), backend=backend, seed=8)
        assert t._uniform_params is not spread
        g = np.random.default_rng(2)
        t.start_recording()
        for _ in range(2):
            t.update(g.uniform(-1, 1, (2, 200)), g.uniform(-1, 1, (2, 3)), lr=lr)
        out.append((t.weights, t.statistics(), t.backend.last_bl))
    (w_ref, s_ref, bl_ref), (w_nb, s_nb, bl_nb) = out
    assert (bl_ref.max() <= 4) == (lr == 0.003) and s_ref["pulses_up"].max() > (0 if lr == 0.003 else 4)
    np.testing.assert_array_equal(s_nb["pulses_up"], s_ref["pulses_up"])
    np.testing.assert_array_equal(s_nb["pulses_down"], s_ref["pulses_down"])
    np.testing.assert_allclose(w_nb, w_ref, rtol=0, atol=1e-13)
    for key in ("sum_abs_grad", "sum_abs_grad_w", "sum_w"):
        np.testing.assert_allclose(s_nb[key], s_ref[key], rtol=0, atol=1e-12)


def test_thread_count_does_not_matter(monkeypatch):
    import memsim.backends.numba as nb
    from memsim.backends import get_backend

    monkeypatch.setattr(nb, "SERIAL_BELOW", 0)  # force the parallel kernels on this small tile
    be = get_backend("numba")
    before = be.get_num_threads()
    dev = _device("soft_bounds", "multiplicative")
    try:
        be.set_num_threads(1)
        one = _run(dev, RULES["stochastic_rounding"], "numba")
        be.set_num_threads(min(2, before) if before > 1 else 1)
        two = _run(dev, RULES["stochastic_rounding"], "numba")
    finally:
        be.set_num_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1]["pulses_up"], two[1]["pulses_up"])


def test_same_seed_same_result_other_seed_differs():
    dev = _device("soft_bounds", "multiplicative")
    a = _run(dev, RULES["stochastic_rounding"], "numba", seed=5)
    b = _run(dev, RULES["stochastic_rounding"], "numba", seed=5)
    c = _run(dev, RULES["stochastic_rounding"], "numba", seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("rule", sorted(RULES))
def test_parallel_and_serial_kernels_agree(rule, monkeypatch):
    """Small tiles run serial twins of the parallel kernels: the results must not depend on it."""
    import memsim.backends.numba as nb

    dev = _device("soft_bounds", "multiplicative")
    monkeypatch.setattr(nb, "SERIAL_BELOW", 0)
    parallel = _run(dev, RULES[rule], "numba")
    monkeypatch.setattr(nb, "SERIAL_BELOW", 10 ** 9)
    serial = _run(dev, RULES[rule], "numba")
    np.testing.assert_array_equal(parallel[0], serial[0])
    for key in ("pulses_up", "pulses_down", "sum_w", "sum_abs_grad_w"):
        np.testing.assert_array_equal(parallel[1][key], serial[1][key])
