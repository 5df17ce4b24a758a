"""Device models: the common battery on every registered model, closed forms, formula subset."""

import math

import numpy as np
import pytest

from memsim.physics.devices import DEVICE_MODELS, ConstantStep, LinearStep, SoftBounds, device_from_dict
from memsim.physics.devices.formula import FormulaError, check_formula
from memsim.testing import check_device_model


@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_device_battery(kind, backend):
    check_device_model(DEVICE_MODELS[kind], backend=backend)


@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_round_trip_and_unknown_key(kind):
    dev = DEVICE_MODELS[kind](dw_min=0.01, up_down=0.1)
    assert device_from_dict(dev.to_dict()) == dev
    with pytest.raises(ValueError, match="'wmax'"):
        device_from_dict({**dev.to_dict(), "wmax": 1.0})
    with pytest.raises(ValueError, match="'kind'"):
        device_from_dict({"kind": "nonsense"})


def test_w_min_defaults_to_minus_w_max():
    assert SoftBounds(w_max=0.7).w_min == -0.7
    with pytest.raises(ValueError, match="'w_min' parameter of SoftBounds"):
        SoftBounds(w_min=0.1)


@pytest.mark.parametrize("beta", [0.0, 0.3, -0.5])
def test_soft_bounds_asymmetry_closed_forms(beta):
    dev = SoftBounds(up_down=beta, w_max=1.5)
    w = np.linspace(-1.4, 1.4, 9)
    # THEORY 2d, symmetric bounds: F(w) = (w - beta w_max) / (w_max - beta w)
    np.testing.assert_allclose(dev.asymmetry_function(w), (w - beta * 1.5) / (1.5 - beta * w), rtol=1e-12, atol=1e-15)
    assert dev.symmetry_point() == pytest.approx(beta * 1.5, abs=1e-14)
    assert dev.asymmetry_slope() == pytest.approx(1 / (1.5 * (1 - beta ** 2)), rel=1e-7)


def test_asymmetric_bounds_symmetry_point_matches_numeric():
    dev = SoftBounds(up_down=0.2, w_max=1.0, w_min=-0.6)
    from memsim.physics.devices.base import PulsedDevice

    assert dev.symmetry_point() == pytest.approx(PulsedDevice.symmetry_point(dev), abs=1e-10)
    lin = LinearStep(up_down=0.2, gamma_up=0.7, gamma_down=1.3)
    assert lin.symmetry_point() == pytest.approx(PulsedDevice.symmetry_point(lin), abs=1e-10)


def test_linear_step_limits():
    w = np.linspace(-0.9, 0.9, 7)
    np.testing.assert_allclose(LinearStep(gamma_up=1, gamma_down=1, up_down=0.2).asymmetry_function(w),
                               SoftBounds(up_down=0.2).asymmetry_function(w), rtol=1e-14)
    np.testing.assert_allclose(LinearStep(gamma_up=0, gamma_down=0).step_up(w), 0.001, rtol=1e-14)


def test_constant_step_has_no_symmetry_point():
    dev = ConstantStep(up_down=0.2)
    np.testing.assert_allclose(dev.asymmetry_function(np.array([-0.5, 0.5])), -0.2)
    assert math.isnan(dev.symmetry_point()) and dev.asymmetry_slope() == 0.0


def test_dtod_rules():
    dev = SoftBounds(w_max_dtod=0.5, w_min_dtod=0.5, dw_min_dtod=0.4, up_down=0.5, up_down_dtod=0.8)
    p = dict(zip(dev.all_cell_parameters, dev.sample_cell_parameters(60, 60, seed=4)))
    assert np.all(p["w_max"] >= 0) and np.all(p["w_min"] <= 0) and np.all(p["dw_min"] >= 0)
    assert np.all(np.abs(p["up_down"]) <= 1) and np.any(p["up_down"] == 1.0)  # clipped, absolute
    rel = p["w_max"] / dev.w_max - 1  # relative spread, unclipped part ~ N(0, 0.5^2)
    assert abs(rel.std() - 0.5) < 4 * 0.5 / np.sqrt(2 * rel.size) + 0.02  # a few cells are clipped at 0
    again = dev.sample_cell_parameters(60, 60, seed=4)
    np.testing.assert_array_equal(again[0], p["dw_min"])


def test_formula_subset_rejects_statements():
    def bad_loop(w, up, dw_min, w_min, w_max):
        for _ in range(2):
            w = w + 1
        return w

    def bad_call(w, up, dw_min, w_min, w_max):
        return dw_min * float(w)

    def bad_two_returns(w, up, dw_min, w_min, w_max):
        if up:
            return dw_min
        return dw_min

    def good(w, up, dw_min, w_min, w_max):
        q = math.exp(-abs(w)) if up else max(w, 0.0)
        return dw_min * q

    for f, what in ((bad_loop, "For"), (bad_call, "float"), (bad_two_returns, "If")):
        with pytest.raises(FormulaError, match=what):
            check_formula(f)
    check_formula(good)
