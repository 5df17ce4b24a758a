"""The fused network kernel (Numba) is bit-identical to the step-by-step path (the reference).

Each case trains the same small network twice: on the Numba backend, where the trainer takes the
fused path (``train_network_epoch``: one compiled call per epoch), and on the NumPy reference
backend, batch by batch through ``AnalogMLP.train_batch``. Final weights, every recorded statistic,
the per-epoch curves and the tiles' counters must agree exactly. The default run covers every value
of every factor (rule, loss, activation, dtype, periphery, tiling, zero-shift, batch, accumulation),
most pairs of them; the full product runs under ``slow``.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

from memsim.models import train as train_module
from memsim.models.config import TrainConfig
from memsim.models.mlp import AnalogMLP
from memsim.models.train import train
from memsim.physics.devices import SoftBounds
from memsim.physics.periphery import Periphery, Quantizer
from memsim.physics.updates import Deterministic, PulseCoincidence, StochasticRounding
from memsim.tasks.classification import ClassificationData
from memsim.tasks.registry import Dataset

RULES = {"sr": StochasticRounding(max_pulses=6), "det": Deterministic(), "pc": PulseCoincidence(desired_bl=31)}
PERIPHERY = {
    "off": Periphery(),
    "full": Periphery(dac=Quantizer(bits=6, bound=1.0), adc=Quantizer(bits=7, bound=3.0), output_noise=0.02,
                      weight_noise=0.03),
    "forward_only": Periphery(adc=Quantizer(bits=8, bound=2.0), output_noise=0.01, backward=False),
}

# (rule, loss, activation, dtype, periphery, max_tile_size, zero_shift, batch, accumulate): every value of
# every factor at least once, and most pairs
COVERING = [
    ("sr", "softmax", "tanh", "float64", "off", None, False, 1, False),
    ("pc", "mse", "sigmoid", "float32", "off", None, False, 1, False),
    ("det", "softmax", "relu", "float64", "full", 4, True, 3, False),
    ("sr", "mse", "tanh", "float32", "forward_only", 5, False, 4, True),
    ("pc", "logistic", "relu", "float64", "forward_only", 3, True, 2, False),
    ("det", "logistic", "tanh", "float32", "off", 3, False, 1, False),
    ("sr", "logistic", "sigmoid", "float64", "full", None, True, 2, True),
    ("pc", "softmax", "tanh", "float32", "full", 4, False, 1, False),
    ("det", "mse", "sigmoid", "float64", "off", None, True, 5, True),
]


def _data(loss: str) -> Dataset:
    g = np.random.default_rng(0)
    X, Xt = g.uniform(-1, 1, (40, 7)), g.uniform(-1, 1, (12, 7))
    if loss == "mse":  # regression with two outputs
        W = g.normal(size=(2, 7))
        return Dataset(X_train=X, y_train=np.tanh(X @ W.T), X_test=Xt, y_test=np.tanh(Xt @ W.T))
    k = 2 if loss == "logistic" else 3
    return ClassificationData(X_train=X, y_train=g.integers(0, k, 40), X_test=Xt, y_test=g.integers(0, k, 12),
                              n_classes=k)


def _train(backend, case, step_path=False, monkeypatch=None):
    rule, loss, act, dtype, per, tiles, zero_shift, batch, accumulate = case
    dev = SoftBounds(dw_min=0.01, dw_min_std=0.3, up_down=0.1, w_max_dtod=0.1, stuck_prob=0.05)
    k = {"mse": 2, "logistic": 1, "softmax": 3}[loss]
    model = AnalogMLP([7, 5, k], act, device=dev, update=RULES[rule], periphery=PERIPHERY[per], backend=backend,
                      dtype=dtype, seed=5, max_tile_size=tiles, zero_shift=zero_shift)
    cfg = TrainConfig(lr=0.1, epochs=2, batch_size=batch, accumulate=accumulate, average_from=0.4)
    if step_path:
        monkeypatch.setattr(train_module, "_fused_network", lambda model: False)
    return model, train(model, _data(loss), cfg, seed=5, loss=loss, progress=False)


def _assert_same(a, b) -> None:
    (ma, ra), (mb, rb) = a, b
    for wa, wb in zip(ra.weights_final, rb.weights_final):
        np.testing.assert_array_equal(wa, wb)
    for sa, sb in zip(ra.statistics, rb.statistics):
        assert sa.keys() == sb.keys()
        for key in sa:
            np.testing.assert_array_equal(np.asarray(sa[key]), np.asarray(sb[key]), err_msg=key)
    assert ra.curves == rb.curves
    for ta, tb in zip(ma.tiles, mb.tiles):
        assert (ta.step, ta.read_step, ta.events_total, ta.recorded_events) == \
            (tb.step, tb.read_step, tb.events_total, tb.recorded_events)


@pytest.mark.parametrize("case", COVERING, ids=["-".join(map(str, c)) for c in COVERING])
def test_fused_network_is_bit_identical_to_the_reference(case):
    fused = _train("numba", case)
    assert fused[1].path == "fused"
    reference = _train("numpy", case)
    assert reference[1].path == "step"
    _assert_same(fused, reference)


def test_covering_set_covers_every_value_and_most_pairs():
    values = [set(RULES), {"mse", "softmax", "logistic"}, {"tanh", "sigmoid", "relu"}, {"float32", "float64"},
              set(PERIPHERY), {None, 3, 4, 5}, {False, True}]
    for k, allowed in enumerate(values):
        assert {c[k] for c in COVERING} >= allowed - {4, 5} and {c[k] for c in COVERING} <= allowed
    pairs = {(a, b) for a, b in itertools.combinations(range(5), 2)}
    for a, b in pairs:  # rule x loss x activation x dtype x periphery: every pair of values of two factors
        seen = {(c[a], c[b]) for c in COVERING}
        need = {(x, y) for x in values[a] for y in values[b]}
        assert len(seen) >= 0.6 * len(need), (a, b, need - seen)


def test_numba_step_path_equals_the_fused_path(monkeypatch):
    case = COVERING[2]  # periphery, tiling, zero-shift, mini-batches
    fused = _train("numba", case)
    with monkeypatch.context() as m:
        step = _train("numba", case, step_path=True, monkeypatch=m)
    assert step[1].path == "step"
    _assert_same(fused, step)


def test_pulse_coincidence_refuses_accumulation_on_every_path():
    from memsim.errors import ConfigError

    with pytest.raises(ConfigError, match="accumulate"):
        _train("numba", ("pc", "mse", "tanh", "float64", "off", None, False, 2, True))


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in itertools.product(
    RULES, ("mse", "softmax", "logistic"), ("tanh", "sigmoid", "relu"), ("float32", "float64"), PERIPHERY, (None, 4),
    (False, True), (1, 3), (False, True)) if not (c[0] == "pc" and c[8])])
def test_fused_network_full_product(case):
    _assert_same(_train("numba", case), _train("numpy", case))


def test_each_replica_is_bit_identical_to_its_single_run():
    """R = 4 replicas of one shape in one call per epoch: different seeds, device parameters (c2c spread,
    step size), update rules' settings and training settings (learning rate, batch size)."""
    from memsim.models.train import train_replicas

    settings = [dict(seed=1, dw_min_std=0.3, dw_min=0.01, lr=0.1, batch=1, max_pulses=6),
                dict(seed=2, dw_min_std=0.0, dw_min=0.02, lr=0.05, batch=3, max_pulses=3),
                dict(seed=3, dw_min_std=0.5, dw_min=0.01, lr=0.2, batch=1, max_pulses=100),
                dict(seed=4, dw_min_std=0.3, dw_min=0.005, lr=0.1, batch=2, max_pulses=6)]
    data = _data("softmax")

    def build(s, backend="numba"):
        dev = SoftBounds(dw_min=s["dw_min"], dw_min_std=s["dw_min_std"], up_down=0.1)
        model = AnalogMLP([7, 5, 3], "tanh", device=dev, update=StochasticRounding(max_pulses=s["max_pulses"]),
                          backend=backend, seed=s["seed"], max_tile_size=4)
        return model, TrainConfig(lr=s["lr"], epochs=2, batch_size=s["batch"], average_from=0.5)

    pairs = [build(s) for s in settings]
    together = train_replicas([m for m, _ in pairs], [data] * 4, [c for _, c in pairs], [s["seed"] for s in settings],
                              loss="softmax", progress=False)
    for s, (model, _), result in zip(settings, pairs, together):
        alone_model, cfg = build(s)
        alone = train(alone_model, data, cfg, seed=s["seed"], loss="softmax", progress=False)
        assert result.path == alone.path == "fused"
        _assert_same((model, result), (alone_model, alone))
    reference_model, cfg = build(settings[1], backend="numpy")
    _assert_same((pairs[1][0], together[1]),
                 (reference_model, train(reference_model, data, cfg, seed=2, loss="softmax", progress=False)))


def _sparse(data: Dataset) -> Dataset:
    """The same data with about half of the inputs exactly zero (the kernels skip zero inputs)."""
    g = np.random.default_rng(1)
    mask = g.random(data.X_train.shape) < 0.5
    return type(data)(**{**data.__dict__, "X_train": np.where(mask, 0.0, data.X_train)})


@pytest.mark.parametrize("case", [("pc", "softmax", "tanh", "float64", "off", None, False, 1, False),
                                  ("pc", "mse", "relu", "float32", "full", 4, True, 2, False),
                                  ("sr", "logistic", "sigmoid", "float64", "forward_only", None, False, 3, False)],
                         ids=["pc-rows", "pc-tiled-periphery", "sr"])
def test_threads_over_rows_sparse_inputs_and_row_counters_are_bit_identical(case, monkeypatch):
    """Every tile takes the kernels' threaded path (threads over blocks of rows, as for large tiles),
    half the inputs are zero, and the pulse counters are per-row totals (as above 2**20 cells)."""
    from memsim.backends import numba as numba_backend
    from memsim.models import tile as tile_module

    monkeypatch.setattr(numba_backend, "SERIAL_BELOW", 1)
    monkeypatch.setattr(tile_module, "PER_CELL_COUNTERS_MAX", 4)
    sparse = _sparse(_data(case[1]))
    monkeypatch.setattr(sys.modules[__name__], "_data", lambda loss: sparse)
    fused = _train("numba", case)
    assert fused[1].path == "fused"
    assert np.size(fused[1].statistics[0]["pulses_up"]) < 5 * 8  # not per cell
    _assert_same(fused, _train("numpy", case))
