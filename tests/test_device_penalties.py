"""The lambda rules of the non-linear devices (THEORY.md 2b, 2c), checked against in-place training."""

import copy
import math

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from memsim import Tile
from memsim.workflows.config import resolve_config
from memsim.physics.devices import ExpStep, PowStep
from memsim.workflows.run import run_summary
from memsim.workflows.studies import BASE_CONFIG


def test_symmetric_exp_step_penalty_is_mean_abs_gradient_over_w_inf():
    """README example on NeuroSim's exp_step, NL 4.22 / -4.22 (NeuroSim's signs): lambda_fit = E|g| / w_inf."""
    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["device"] = {"kind": "exp_step", "states_ltp": 100, "states_ltd": 100, "nl_ltp": 4.22, "nl_ltd": -4.22}
    summary, _ = run_summary(resolve_config(cfg), progress=False)
    device = resolve_config(cfg).device
    e_abs_g = np.mean(summary["lambda_plugin_per_weight"]) * device.w_inf  # recorded E|g| (plug-in / F')
    assert abs(summary["lambda_fit"] / (e_abs_g / device.w_inf) - 1) < 0.10


def test_asymmetric_exp_step_settles_at_its_symmetry_point():
    """Labels (1, -4.22) and requests of random sign (zero mean gradient): the time-averaged weight of
    every cell sits at THEORY 2b's symmetry point (-0.418 at P = 100) within 4 standard errors."""
    dev = ExpStep(nl_ltp=1.0, nl_ltd=-4.22, states_ltp=100)
    assert abs(dev.symmetry_point() - (-0.418)) < 5e-4
    n = 400
    tile = Tile(1, n, dev, seed=3)
    g = np.random.default_rng(0)
    sums, count = np.zeros(n), 0
    for k in range(6000):
        tile.update(g.choice([-1.0, 1.0], size=(1, n)) * dev.dw_min, np.ones((1, 1)), lr=1.0)  # one pulse each
        if k >= 2000:
            sums += tile.weights[0]
            count += 1
    means = sums / count  # independent cells: their spread gives the standard error
    se = means.std(ddof=1) / math.sqrt(n)
    assert abs(means.mean() - dev.symmetry_point()) < 4 * se


def test_pow_step_stationary_mean_solves_the_law():
    """pow_step gamma = 2 on a scalar problem g = (w - a) + s xi: the stationary mean solves
    E[g] + E|g| tanh(gamma artanh(w/W)) = 0 (THEORY 2c) within 4 standard errors."""
    dev = PowStep(pow_gamma=2.0, dw_min=0.0005)
    a, s = 0.6, 1.0

    def law(w):
        mu = w - a
        e_abs = s * math.sqrt(2 / math.pi) * math.exp(-mu ** 2 / (2 * s * s)) + mu * (1 - 2 * norm.cdf(-mu / s))
        return mu + e_abs * float(dev.asymmetry_function(w))

    w_star = brentq(law, -0.99, 0.99)
    np.testing.assert_allclose(dev.asymmetry_function(np.array([0.5])), np.tanh(2 * np.arctanh(0.5)), rtol=1e-9)
    n = 300
    tile = Tile(n, 1, dev, seed=5)
    g = np.random.default_rng(1)
    sums, count = np.zeros(n), 0
    for k in range(20000):
        d = tile.weights[:, 0] - a + s * g.standard_normal(n)
        tile.update(np.ones((1, 1)), d[None, :], lr=0.002)
        if k >= 5000:
            sums += tile.weights[:, 0]
            count += 1
    means = sums / count
    se = means.std(ddof=1) / math.sqrt(n)
    assert abs(means.mean() - w_star) < 4 * se
    assert abs(w_star - a) > 50 * se  # the device penalty is far from negligible here
