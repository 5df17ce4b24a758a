"""Nothing lost, nothing silent: pulse-count truncation is counted, enormous requests saturate.

* An event requesting more than ``max_pulses`` pulses applies ``max_pulses`` and is counted, per cell and
  on every backend (NumPy reference, Numba per-call and fused kernels, the CUDA source run on the CPU):
  ``Tile.statistics()["events_truncated"]`` and ``["pulses_lost"]`` (requested minus applied pulses).
* A request of ``2**63 dw_min`` or more (``lr = 4e16``, or ``x = d = 1e100``) no longer overflows the
  integer pulse count: ``pulse_magnitude`` bounds it at ``2**53`` pulses, so every backend applies
  ``max_pulses`` pulses, the weight saturates at its bound, and the counts agree.
* ``memsim.analysis.penalty.truncation_warning`` says so, and is silent when nothing was cut.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from memsim import rng
from memsim.analysis.penalty import truncation_warning
from memsim.errors import BackendUnavailableError
from memsim.models.tile import Tile
from memsim.physics import pulse_law as law
from memsim.physics.devices import DEVICE_MODELS
from memsim.physics.updates import Deterministic, StochasticRounding

INT64_MAX = int(np.iinfo(np.int64).max)
RULES = {"stochastic_rounding": StochasticRounding, "deterministic": Deterministic}


def _emulated():
    from memsim.backends.cupy.emulate import EmulatedCudaBackend

    try:
        be = EmulatedCudaBackend()
        be.module(DEVICE_MODELS["constant_step"]())  # compiles the CUDA source with the host compiler
    except BackendUnavailableError as exc:  # no host C++ compiler
        pytest.skip(str(exc))
    return be


@pytest.fixture(params=["numpy", "numba", "cuda-emulated"])
def backend(request):
    if request.param == "numba":
        pytest.importorskip("numba")
    return _emulated() if request.param == "cuda-emulated" else request.param


def _backends():
    pytest.importorskip("numba")
    return {"numpy": "numpy", "numba": "numba", "cuda-emulated": _emulated()}


def _requested(rule_kind, g, lr, dw_min, seed, step):
    """The requested pulse counts of the events ``-lr * g`` (definition: memsim.physics.updates), as
    Python integers (no cap, no overflow)."""
    a = np.abs(-lr * g) / dw_min
    if rule_kind == "deterministic":
        return np.floor(a + 0.5).astype(np.int64)
    cells = np.arange(g.size).reshape(g.shape)
    u = rng.uniforms(seed, step, rng.STREAM_ROUNDING, cells, 0)
    frac = a - np.floor(a)
    return (np.floor(a) + ((frac > 0.0) & (u < frac))).astype(np.int64)


def _tile(rule, backend, dw_min=1e-6, seed=7, rows=2, cols=3, **device):
    dev = DEVICE_MODELS["constant_step"](dw_min=dw_min, **device)
    return Tile(rows, cols, dev, update=rule, backend=backend, seed=seed)


# ---------------------------------------------------------------------------- (a) truncation is counted
@pytest.mark.parametrize("rule_kind", sorted(RULES))
def test_truncated_events_and_lost_pulses_are_counted(backend, rule_kind):
    """Per-call kernels (rank-1 batch and accumulated): counts equal the definition's requested minus applied."""
    cap, dw, seed, lr = 40, 1e-6, 7, 6e-5
    t = _tile(RULES[rule_kind](max_pulses=cap), backend, dw_min=dw, seed=seed)
    g = np.random.default_rng(3)
    X, D = g.uniform(-2, 2, (3, 3)), g.uniform(-2, 2, (3, 2))
    t.update(X, D, lr=lr)  # events 0, 1, 2: requests of up to 240 pulses (|d x| < 4)
    t.update(X, D, lr=lr, accumulate=True)  # event 3: the summed gradient
    grads = [np.outer(D[b], X[b]) for b in range(3)] + [sum(np.outer(D[b], X[b]) for b in range(3))]
    per_event = [_requested(rule_kind, grad, lr, dw, seed, step) for step, grad in enumerate(grads)]
    requested = sum(per_event)
    s = t.statistics()
    applied = s["pulses_up"] + s["pulses_down"]
    assert s["events_truncated"].dtype == s["pulses_lost"].dtype == np.int64
    assert s["events_truncated"].shape == s["pulses_lost"].shape == (2, 3)
    assert s["events_truncated"].sum() > 0
    np.testing.assert_array_equal(s["events_truncated"], sum((n > cap).astype(np.int64) for n in per_event))
    np.testing.assert_array_equal(applied, sum(np.minimum(n, cap) for n in per_event))
    np.testing.assert_array_equal(s["pulses_lost"], requested - applied)
    assert s["events_total"] == 4 and s["max_pulses"] == cap
    assert s["events"] == 0  # counted without a recording window


def _truncating_run(backend, rule_kind, accumulate):
    cap = 25
    t = _tile(RULES[rule_kind](max_pulses=cap), backend, dw_min=1e-4, seed=11, rows=2, cols=4)
    g = np.random.default_rng(8)
    X, Y = g.uniform(-1, 1, (9, 4)), g.uniform(-1, 1, (9, 2))
    order = np.stack([g.permutation(9) for _ in range(2)])
    t.train_linear_epochs(X, Y, order, [0.05, 0.01], batch_size=2, accumulate=accumulate, record_from=4)
    return t.weights, t.statistics()


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("rule_kind", sorted(RULES))
def test_fused_training_counts_truncation_like_the_reference(rule_kind, accumulate):
    """The fused train_linear_epochs kernels (Numba, CUDA source) count what the step-by-step reference counts."""
    runs = {name: _truncating_run(be, rule_kind, accumulate) for name, be in _backends().items()}
    w_ref, s_ref = runs["numpy"]
    assert s_ref["events_truncated"].sum() > 0 and s_ref["pulses_lost"].sum() > 0
    for name, (w, s) in runs.items():
        for key in ("pulses_up", "pulses_down", "events_truncated", "pulses_lost"):
            np.testing.assert_array_equal(s[key], s_ref[key], err_msg=f"{name}: {key}")
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-13)
        assert s["events_total"] == s_ref["events_total"] == 2 * (9 if not accumulate else 5)


# ---------------------------------------------------------------------------- (b) nothing truncated
def test_no_truncation_counts_zero(backend):
    t = _tile(StochasticRounding(), backend, dw_min=0.01)
    g = np.random.default_rng(2)
    t.update(g.uniform(-1, 1, (4, 3)), g.uniform(-1, 1, (4, 2)), lr=0.05)
    t.update(g.uniform(-1, 1, (4, 3)), g.uniform(-1, 1, (4, 2)), lr=0.05, accumulate=True)
    s = t.statistics()
    assert (s["pulses_up"] + s["pulses_down"]).sum() > 0
    np.testing.assert_array_equal(s["events_truncated"], np.zeros((2, 3), dtype=np.int64))
    np.testing.assert_array_equal(s["pulses_lost"], np.zeros((2, 3), dtype=np.int64))
    assert truncation_warning([s]) == []


def test_reset_statistics_zeroes_the_truncation_counters():
    t = _tile(Deterministic(max_pulses=3), "numpy", dw_min=0.01)
    t.update(np.ones(3), -np.ones(2), lr=1.0)
    assert t.statistics()["events_truncated"].sum() == 6
    t.reset_statistics()
    s = t.statistics()
    assert s["events_truncated"].sum() == 0 and s["pulses_lost"].sum() == 0 and s["events_total"] == 0


# ---------------------------------------------------------------------------- (c) enormous requests
ENORMOUS = [(1e100, 1e100, 1.0), (1.0, -1.0, 4e16), (-1e100, 1e100, 1.0), (1.0, 1.0, 4e16)]


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("rule_kind", sorted(RULES))
@pytest.mark.parametrize("x, d, lr", ENORMOUS)
def test_enormous_requests_apply_max_pulses_and_saturate(x, d, lr, rule_kind, accumulate):
    cap, dw = 1200, 1e-3  # 1000 steps of dw_min take a weight from 0 to a bound of +-1
    assert abs(lr * x * d) / dw >= 2.0 ** 63  # beyond the int64 range: HEAD's pulse count overflowed here
    up = -lr * d * x > 0
    results = {}
    for name, be in _backends().items():
        t = _tile(RULES[rule_kind](max_pulses=cap), be, dw_min=dw, rows=1, cols=2)
        t.update(np.array([x, x]), np.array([d]), lr=lr, accumulate=accumulate)
        s = t.statistics()
        bound = t.cell_parameters["w_max" if up else "w_min"]
        np.testing.assert_array_equal(t.weights, bound, err_msg=name)  # saturated, not left in place
        np.testing.assert_array_equal(s["pulses_up" if up else "pulses_down"], [[cap, cap]], err_msg=name)
        np.testing.assert_array_equal(s["pulses_down" if up else "pulses_up"], [[0, 0]], err_msg=name)
        np.testing.assert_array_equal(s["events_truncated"], [[1, 1]], err_msg=name)
        # the request counts as 2**53 pulses (pulse_magnitude's bound): requested minus applied
        np.testing.assert_array_equal(s["pulses_lost"], [[2 ** 53 - cap] * 2], err_msg=name)
        results[name] = (t.weights, {k: s[k] for k in ("pulses_up", "pulses_down", "events_truncated",
                                                        "pulses_lost")})
    w_ref, s_ref = results["numpy"]
    for name, (w, s) in results.items():
        np.testing.assert_array_equal(w, w_ref, err_msg=name)
        for key in s:
            np.testing.assert_array_equal(s[key], s_ref[key], err_msg=f"{name}: {key}")


def test_enormous_requests_in_fused_training_saturate():
    dev_kw = dict(dw_min=1e-3, rows=1, cols=1)
    X, Y = np.array([[1e100]]), np.array([[-1e100]])  # d = w x - y = 1e100: a request of -lr * 1e200
    order = np.zeros((1, 1), dtype=np.int64)
    out = {}
    for name, be in _backends().items():
        t = _tile(Deterministic(max_pulses=1500), be, **dev_kw)
        t.train_linear_epochs(X, Y, order, [1.0])
        s = t.statistics()
        out[name] = (t.weights, s["pulses_down"], s["events_truncated"], s["pulses_lost"])
        np.testing.assert_array_equal(t.weights, t.cell_parameters["w_min"], err_msg=name)
        np.testing.assert_array_equal(s["pulses_down"], [[1500]], err_msg=name)
        np.testing.assert_array_equal(s["pulses_lost"], [[2 ** 53 - 1500]], err_msg=name)
    for name, got in out.items():
        for a, b in zip(got, out["numpy"]):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_lost_pulses_saturate_at_the_int64_maximum():
    """1100 enormous events lose about 1100 * 2**53 > 2**63 pulses: the total saturates, it does not wrap."""
    for name, be in _backends().items():
        t = _tile(Deterministic(max_pulses=1), be, dw_min=1e-3, rows=1, cols=1)
        t.update(np.full((1100, 1), 1e100), np.full((1100, 1), 1e100), lr=1.0)
        s = t.statistics()
        assert s["pulses_down"][0, 0] == 1100 and s["events_truncated"][0, 0] == 1100, name
        assert s["pulses_lost"][0, 0] == INT64_MAX, name
        assert "pulses lost" in truncation_warning(s)[0]


def test_pulse_magnitude_is_bounded_before_any_integer():
    assert law.MAX_REQUEST == 2.0 ** 53 == 9007199254740992.0
    assert law.pulse_magnitude(1e100, 1e100, 1e-3) == law.MAX_REQUEST
    assert law.pulse_magnitude(1.0, 4e16, 1e-3) == law.MAX_REQUEST
    assert law.pulse_magnitude(math.inf, 1.0, 1e-3) == law.MAX_REQUEST
    assert law.pulse_magnitude(3.0, 0.5, 0.25) == 6.0  # unchanged below the bound
    big = 2.0 ** 53 - 1.0
    assert law.pulse_magnitude(big, 1.0, 1.0) == big
    a = law.pulse_magnitude(1e200, 1.0, 1e-9)
    assert law.pulse_count_deterministic(a) == 2 ** 53 and law.pulse_count_stochastic(a, 0.0) == 2 ** 53


# ---------------------------------------------------------------------------- (d) the warning
def test_truncation_warning_text_and_silence():
    t = _tile(Deterministic(max_pulses=5), "numpy", dw_min=0.01)  # 2 x 3 cells
    t.update(np.array([1.0, 0.01, 0.0]), np.array([-1.0, 1.0]), lr=1.0)  # requests 100, 1, 0 / 100, 1, 0 pulses
    s = t.statistics()
    np.testing.assert_array_equal(s["events_truncated"], [[1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(s["pulses_lost"], [[95, 0, 0], [95, 0, 0]])
    assert truncation_warning([s]) == ["max_pulses: 2 programming events of 6 were cut at max_pulses = 5, "
                                       "190 pulses lost: raise update.max_pulses or dw_min"]
    assert truncation_warning(s) == truncation_warning([s])  # one dict is accepted too
    # a layer's assembled statistics: events_total and max_pulses per weight
    layer = dict(s, events_total=np.full((2, 3), 1), max_pulses=np.full((2, 3), 5))
    assert truncation_warning([layer, layer])[0].startswith("max_pulses: 4 programming events of 12 were cut")
    quiet = _tile(Deterministic(max_pulses=5), "numpy", dw_min=0.01)
    quiet.update(np.array([0.01, 0.02, 0.0]), np.array([-1.0, 1.0]), lr=1.0)
    assert truncation_warning([quiet.statistics()]) == []
    assert truncation_warning([]) == []
    assert truncation_warning([{"events": 3}]) == []  # statistics without the counters: nothing to say
