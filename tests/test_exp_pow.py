"""exp_step (NeuroSim exponential LTP/LTD) and pow_step (aihwkit PowStep): closed forms, labels, statistics."""

import math

import numpy as np
import pytest

from memsim import Deterministic, Tile
from memsim.physics.devices import ExpStep, PowStep, SoftBounds, device_from_dict
from memsim.physics.devices.base import PulsedDevice
from memsim.physics.devices.neurosim import (MAX_LABEL, label_from_norm_a, neurosim_table, neurosim_table_norm_a,
                                     norm_a_from_label)
from memsim.errors import ConfigError

LABEL_PAIRS = [(2.4, -4.88), (-1.5, 1.46), (0.105, 2.4), (1.75, 1.46), (-3.0, -2.0), (1.0, -1.0)]


def _branch(nl, states):
    """NeuroSim's curve of one branch, written from G(x) = B (1 - exp(-x/A)) alone."""
    a_big = norm_a_from_label(nl) * states
    b = 1.0 / (1.0 - math.exp(-states / a_big))
    return a_big, b, (lambda x: b * (1.0 - math.exp(-x / a_big))), (lambda g: -a_big * math.log(1.0 - g / b))


# ---------------------------------------------------------------------------------------------- exp_step physics
@pytest.mark.parametrize("nl_ltp, nl_ltd", LABEL_PAIRS)
def test_one_pulse_equals_theory_closed_form_and_the_curve(nl_ltp, nl_ltd):
    dev = ExpStep(nl_ltp=nl_ltp, nl_ltd=nl_ltd, states_ltp=97, states_ltd=100)
    span = dev.w_max - dev.w_min
    a_p, b_p, g_p, x_p = _branch(nl_ltp, 97)
    a_d, b_d, g_d, x_d = _branch(nl_ltd, 100)
    for g in np.linspace(0.02, 0.98, 13):
        w = dev.w_min + g * span
        up = dev.mean_step(w, True, *dev._cell_args()) / span
        down = -dev.mean_step(w, False, *dev._cell_args()) / span
        # THEORY 2b: dG_up = (1 - e^{-1/A_p})(B_p - G), any sign of A_p
        assert up == pytest.approx((1 - math.exp(-1 / a_p)) * (b_p - g), rel=1e-11)
        if a_d < 0:  # THEORY 2b's LTD form (negative label): -(1 - e^{-1/|A_d|})(G - B_d)
            assert down == pytest.approx(-(1 - math.exp(-1 / abs(a_d))) * (g - b_d), rel=1e-11)
        else:        # positive LTD label: -(e^{1/A_d} - 1)(B_d - G); the steps grow towards Gmin
            assert down == pytest.approx(-(math.exp(1 / a_d) - 1) * (b_d - g), rel=1e-11)
        # the same from the curve: invert the branch, move the pulse coordinate by +-1
        assert up == pytest.approx(g_p(x_p(g) + 1.0) - g, rel=1e-9)
        assert down == pytest.approx(g_d(x_d(g) - 1.0) - g, rel=1e-9)
    if nl_ltd > 0:
        assert dev.step_down(dev.w_min + 0.1) > dev.step_down(dev.w_max - 0.1)


@pytest.mark.parametrize("nl_ltp, nl_ltd", LABEL_PAIRS[:3])
def test_full_sweeps_take_exactly_the_state_counts(nl_ltp, nl_ltd):
    dev = ExpStep(nl_ltp=nl_ltp, nl_ltd=nl_ltd, states_ltp=97, states_ltd=100)
    t = Tile(1, 2, dev, update=Deterministic(), backend="numpy")
    t.program([[-1.0, -1.0]])
    t.update(np.array([1.0, 1.0]), np.array([-1.0]), lr=96 * dev.dw_min)  # 96 up pulses
    g96 = (t.weights[0, 0] + 1) / 2
    assert g96 == pytest.approx(_branch(nl_ltp, 97)[2](96.0), rel=1e-12) and g96 < 1
    t.update(np.array([1.0, 1.0]), np.array([-1.0]), lr=dev.dw_min)  # the 97th
    assert t.weights[0, 0] == pytest.approx(1.0, abs=1e-12)
    t.update(np.array([1.0, 1.0]), np.array([1.0]), lr=100 * dev.dw_min)  # 100 LTD pulses: back to Gmin
    assert t.weights[0, 0] == pytest.approx(-1.0, abs=1e-12)


@pytest.mark.parametrize("nl, w_inf, max_min, mid", [(1.0, 2.635, 2.22, 1.05), (2.0, 1.480, 5.17, 1.22),
                                                     (4.22, 1.037, 54.8, 2.08)])
def test_symmetric_labels_match_theory_table(nl, w_inf, max_min, mid):
    dev = ExpStep(nl_ltp=nl, nl_ltd=-nl, states_ltp=100)
    assert dev.w_inf == pytest.approx(w_inf, abs=6e-4)
    w = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(dev.asymmetry_function(w), w / dev.w_inf, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(PulsedDevice.asymmetry_function(dev, w), w / dev.w_inf, rtol=1e-12, atol=1e-15)
    assert dev.symmetry_point() == pytest.approx(0.0, abs=1e-14)
    assert dev.asymmetry_slope() == pytest.approx(1 / dev.w_inf, rel=1e-12)
    big = ExpStep(nl_ltp=nl, nl_ltd=-nl, states_ltp=1e4)  # THEORY's last two columns (large P)
    assert float(big.step_up(-1.0) / big.step_up(1.0)) == pytest.approx(max_min, abs=0.006 * max_min)
    assert float(big.step_up(0.0) / big.dw_min) == pytest.approx(mid, abs=0.006)
    assert math.isnan(ExpStep(nl_ltp=nl, nl_ltd=-nl, up_down=0.1).w_inf)
    assert math.isnan(ExpStep(nl_ltp=nl, nl_ltd=-nl, states_ltp=97, states_ltd=100).w_inf)


@pytest.mark.parametrize("states, w_s", [(100, -0.418), (32, -0.401), (1e6, -0.426)])
def test_asymmetric_symmetry_point_matches_theory(states, w_s):
    dev = ExpStep(nl_ltp=1.0, nl_ltd=-4.22, states_ltp=states)
    assert dev.symmetry_point() == pytest.approx(w_s, abs=6e-4)
    # THEORY 2b: w_s = (alpha_p w+ + alpha_d w-)/(alpha_p + alpha_d), F = (a_p + a_d)(w - w_s)/(...)
    a_p, a_d = (1 - math.exp(-1 / (norm_a_from_label(1.0) * states)),
                1 - math.exp(-1 / (norm_a_from_label(4.22) * states)))
    wp, wm = dev.virtual_bounds
    assert wp == pytest.approx(1 + 2 / (math.exp(1 / norm_a_from_label(1.0)) - 1), rel=1e-12)
    assert wm == pytest.approx(-1 - 2 / (math.exp(1 / norm_a_from_label(4.22)) - 1), rel=1e-12)
    assert dev.symmetry_point() == pytest.approx((a_p * wp + a_d * wm) / (a_p + a_d), rel=1e-9)
    w = np.linspace(-0.9, 0.9, 7)
    f = (a_p + a_d) * (w - dev.symmetry_point()) / (a_p * wp - a_d * wm + (a_d - a_p) * w)
    np.testing.assert_allclose(dev.asymmetry_function(w), f, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(nl_ltp=2.4, nl_ltd=-4.88, states_ltp=97, states_ltd=100, up_down=0.2),
                                dict(nl_ltp=1.75, nl_ltd=1.46, states_ltp=32), dict(nl_ltp=0.0, nl_ltd=-2.0),
                                dict(norm_a_ltp=-0.4, norm_a_ltd=0.9, w_min=-0.3, w_max=1.7)])
def test_closed_forms_equal_the_generic_numerics(kw):
    dev = ExpStep(**kw)
    w = np.linspace(dev.w_min, dev.w_max, 21)
    np.testing.assert_allclose(dev.asymmetry_function(w), PulsedDevice.asymmetry_function(dev, w), atol=1e-13)
    w_s = dev.symmetry_point()
    assert w_s == pytest.approx(PulsedDevice.symmetry_point(dev), abs=1e-10)
    assert dev.asymmetry_slope() == pytest.approx(PulsedDevice.asymmetry_slope(dev), rel=1e-6)


def test_linear_label_and_dw_min_rules():
    lin = ExpStep(nl_ltp=0.0, nl_ltd=0.0, states_ltp=50, states_ltd=80)
    assert lin.norm_a == (math.inf, math.inf) and math.isnan(lin.w_inf)  # unequal state counts
    np.testing.assert_allclose(lin.step_up(np.linspace(-1, 1, 5)), 2 / 50, rtol=1e-15)
    np.testing.assert_allclose(lin.step_down(np.linspace(-1, 1, 5)), 2 / 80, rtol=1e-15)
    assert lin.dw_min == 2 / 50 and lin.dw_min_ltd == 2 / 80
    assert math.isinf(ExpStep(nl_ltp=0.0, nl_ltd=0.0).w_inf)
    assert ExpStep(states_ltp=97).dw_min == 2 / 97 and ExpStep(states_ltp=97).states_ltd == 97
    d = ExpStep(dw_min=0.01, w_max=0.5)
    assert d.states_ltp == pytest.approx(100) and d.nl == (1.0, -1.0)
    assert ExpStep(dw_min=0.01, states_ltp=200).states_ltp == 200  # consistent: accepted
    with pytest.raises(ConfigError, match="'dw_min' parameter of ExpStep.*derived from states_ltp"):
        ExpStep(dw_min=0.01, states_ltp=100)
    with pytest.raises(ConfigError, match="'norm_a_ltd'.*one pair"):
        ExpStep(nl_ltp=1.0, norm_a_ltd=-1.0)
    with pytest.raises(ConfigError, match="'nl_ltp'.*1/\\(\\|norm_a\\| \\* states\\)"):
        ExpStep(nl_ltp=10.1, states_ltp=10)
    assert ExpStep(nl_ltp=2.0).nl_ltd == -2.0 and ExpStep(norm_a_ltd=0.3).norm_a_ltp == -0.3
    given = ExpStep(norm_a_ltp=0.5, norm_a_ltd=-0.2)
    assert given.nl == pytest.approx((2.3965, -4.8845), abs=1e-4)  # the manual's fitted Ag:a-Si (2.40, -4.88)
    same = ExpStep(nl_ltp=given.nl[0], nl_ltd=given.nl[1])
    np.testing.assert_allclose(same.step_up(np.linspace(-1, 1, 7)), given.step_up(np.linspace(-1, 1, 7)), rtol=1e-12)
    assert device_from_dict(given.to_dict()) == given
    # the formula stays finite and non-negative far outside validated parameters
    for args in [(0.3, True, 0.01, -1.0, 1.0, 0.5, 0.5, 1e4, -1e4), (5.0, False, 0.01, 0.0, 0.0, 1e-9, 0.0, 0.0, 0.0)]:
        q = ExpStep.mean_step(*args)
        assert math.isfinite(q) and q >= 0


# ---------------------------------------------------------------------------------------------- labels
def test_label_formula_reproduces_all_900_table_rows():
    table = neurosim_table()
    assert sorted(table) == list(range(1, 901))
    exact = np.array([norm_a_from_label(k / 100) for k in table])
    ref = np.array(list(table.values()))
    assert np.max(np.abs(exact - ref)) <= 5e-7 + 1e-12  # half a unit of the 6th decimal
    assert all(round(a, 6) == r for a, r in zip(exact, ref))
    for nl, a in [(1.0, 1.251653), (2.0, 0.609035), (2.4, 0.499181), (4.22, 0.249748), (4.88, 0.200303)]:
        assert round(norm_a_from_label(nl), 6) == a and round(norm_a_from_label(-nl), 6) == -a
    assert round(label_from_norm_a(0.5), 2) == 2.40 and round(label_from_norm_a(-0.2), 2) == -4.88


def test_label_formula_outside_the_table_and_inverse():
    for nl in [1e-6, 1e-3, 0.005, 0.37, 3.3, 9.0, 9.5, 10.05, 10.1, -7.25]:
        assert label_from_norm_a(norm_a_from_label(nl)) == pytest.approx(nl, rel=1e-10)
    assert norm_a_from_label(1e-4) * 1e-4 == pytest.approx(1.26269, rel=1e-5)  # small-label limit
    assert norm_a_from_label(9.5) < norm_a_from_label(9.0) < neurosim_table()[899]
    assert math.isinf(norm_a_from_label(0.0)) and label_from_norm_a(math.inf) == 0.0
    assert MAX_LABEL == pytest.approx(10.1015, abs=1e-4)
    for bad in [MAX_LABEL, -10.2, float("nan")]:
        with pytest.raises(ValueError, match="NeuroSim label"):
            norm_a_from_label(bad)


def test_neurosim_table_lookup_quirks():
    table = neurosim_table()
    assert sum(int(k / 100 * 100) != k for k in range(1, 901)) == 53
    assert neurosim_table_norm_a(0.29) == table[28] and neurosim_table_norm_a(2.01) == table[200]
    assert neurosim_table_norm_a(0.105) == 12.625807  # GST PCM's LTP label uses the 0.10 row
    assert neurosim_table_norm_a(0.0) == -126.268958  # 0 counts as negative, the 0.01 row
    assert neurosim_table_norm_a(9.7) == table[900] == 0.02281 and neurosim_table_norm_a(-4.88) == -0.200303
    for nl in (2.4, -4.88, 0.04, -0.63, 3.68, -6.76, 1.94, -0.61, 0.5, 1.75, 1.46):  # the preset labels
        assert neurosim_table_norm_a(nl) == pytest.approx(norm_a_from_label(nl), abs=5e-7)


# ---------------------------------------------------------------------------------------------- pow_step
@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("w_max", [1.0, 0.7])
def test_pow_step_asymmetry_is_tanh_gamma_artanh(gamma, w_max):
    dev = PowStep(pow_gamma=gamma, w_max=w_max)
    w = np.linspace(-0.99, 0.99, 23) * w_max
    expected = np.tanh(gamma * np.arctanh(w / w_max))
    np.testing.assert_allclose(dev.asymmetry_function(w), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(PulsedDevice.asymmetry_function(dev, w), expected, rtol=1e-12, atol=1e-14)
    assert dev.symmetry_point() == 0.0
    assert dev.asymmetry_slope() == pytest.approx(gamma / w_max, rel=1e-12)


def test_pow_step_formula_and_limits():
    dev = PowStep(pow_gamma=1.7, pow_up_down=0.2, up_down=0.1, dw_min=0.01, w_min=-0.5, w_max=1.5)
    for w in (-0.4, 0.0, 0.9):
        omega = (1.5 - w) / 2.0
        assert float(dev.step_up(w)) == pytest.approx(0.01 * 1.1 * omega ** (1.7 * 1.2), rel=1e-14)
        assert float(dev.step_down(w)) == pytest.approx(0.01 * 0.9 * (1 - omega) ** (1.7 * 0.8), rel=1e-14)
    one = PowStep(pow_gamma=1.0, up_down=0.3)
    w = np.linspace(-0.9, 0.9, 7)
    np.testing.assert_allclose(one.asymmetry_function(w), SoftBounds(up_down=0.3).asymmetry_function(w), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(one.step_up(w), SoftBounds(up_down=0.3).step_up(w) / 2, rtol=1e-12)  # no normalisation
    np.testing.assert_allclose(PowStep(pow_gamma=0.0).step_down(w), 0.001, rtol=1e-15)
    assert math.isnan(PowStep(pow_gamma=0.0).symmetry_point())
    for kw in [dict(pow_gamma=1.5, up_down=0.2, w_min=-0.5), dict(pow_gamma=0.6, pow_up_down=-0.3, up_down=0.1)]:
        d = PowStep(**kw)
        assert d.symmetry_point() == pytest.approx(PulsedDevice.symmetry_point(d), abs=1e-10)
        assert d.asymmetry_slope() == pytest.approx(PulsedDevice.asymmetry_slope(d), rel=1e-6)
    assert PowStep.mean_step(0.5, False, 0.01, -1.0, 1.0, 2.0, 1.7) == 0.01  # exponent clipped at 0: never raises


def test_pow_step_dtod_rules():
    dev = PowStep(pow_gamma=2.0, pow_gamma_dtod=0.3, pow_up_down=0.5, pow_up_down_dtod=0.8)
    p = dict(zip(dev.all_cell_parameters, dev.sample_cell_parameters(80, 80, seed=9)))
    rel = p["pow_gamma"] / 2.0 - 1.0
    n = rel.size
    assert abs(rel.mean()) < 4 * 0.3 / math.sqrt(n) and abs(rel.std() - 0.3) < 4 * 0.3 / math.sqrt(2 * n)
    assert np.all(p["pow_gamma"] >= 0)
    assert np.all(np.abs(p["pow_up_down"]) <= 1) and np.any(p["pow_up_down"] == 1.0)  # absolute, clipped
    from scipy.stats import norm

    for value, prob in ((1.0, norm.sf(0.5 / 0.8)), (-1.0, norm.cdf(-1.5 / 0.8))):  # N(0.5, 0.8) clipped
        frac = np.mean(p["pow_up_down"] == value)
        assert abs(frac - prob) < 4 * math.sqrt(prob * (1 - prob) / n)


# ---------------------------------------------------------------------------------------------- statistics
def _one_pulse(device, states, up, rows=2000, seed=11):
    t = Tile(rows, states.size, device, update=Deterministic(), backend="numpy", seed=seed)
    t.program(np.broadcast_to(states, (rows, states.size)))
    before = t.weights
    t.update(np.ones(states.size), (-1.0 if up else 1.0) * np.ones(rows), lr=device.dw_min)
    assert t.statistics()["pulses_up" if up else "pulses_down"].min() == 1
    return t.weights - before


@pytest.mark.parametrize("device", [
    ExpStep(nl_ltp=2.4, nl_ltd=-4.88, states_ltp=97, states_ltd=100, dw_min_std=0.035, c2c_mode="neurosim"),
    ExpStep(nl_ltp=-1.5, nl_ltd=1.46, states_ltp=40, up_down=0.2, dw_min_std=0.5),
    PowStep(pow_gamma=2.0, pow_up_down=0.3, up_down=-0.2, dw_min=0.02, dw_min_std=0.5),
    PowStep(pow_gamma=0.6, dw_min=0.01, dw_min_std=1.0, c2c_mode="additive"),
], ids=["exp_neurosim", "exp_multiplicative", "pow_multiplicative", "pow_additive"])
def test_single_pulse_mean_matches_the_formula(device):
    states = np.linspace(-0.6, 0.6, 5)
    for up in (True, False):
        moved = _one_pulse(device, states, up)
        expected = device.step_up(states) if up else -device.step_down(states)
        mean, se = moved.mean(axis=0), moved.std(axis=0, ddof=1) / math.sqrt(moved.shape[0])
        assert np.all(se > 0)
        assert np.all(np.abs(mean - expected) < 4 * se), (mean, expected, se)
    quiet = device_from_dict({**device.to_dict(), "dw_min_std": 0.0})
    for up in (True, False):
        moved = _one_pulse(quiet, states, up, rows=2)
        np.testing.assert_allclose(moved[0], quiet.step_up(states) if up else -quiet.step_down(states),
                                   rtol=1e-12, atol=1e-15)
