"""Tests of memsim.analysis.penalty: the predicted, plug-in and fitted penalties of THEORY.md section 2."""

import ast
import math
import pathlib

import numpy as np
import pytest

from memsim.analysis import penalty as A
from memsim.compare import ridge as B
from memsim.physics.devices import ConstantStep, LinearStep, SoftBounds
from memsim.errors import ConfigError
from memsim.physics.updates import Deterministic

SUMMARY_KEYS = {
    "lambda_fit", "ridge_path_distance", "lambda_pred", "lambda_pred_per_weight", "lambda_plugin",
    "lambda_plugin_per_weight", "w_pred", "tikhonov_pred_distance", "lambda_fit_test_loss",
    "test_loss_final", "test_loss_mean_weights", "ridge_test_loss_at_lambda_fit", "ols_test_loss",
    "w_ols", "identity_residual", "regime_warnings",
}


def regression(seed=0, n=100, d=20, scales=None, teacher_std=0.3, noise=1.0, n_test=0):
    """DESIGN.md's linear_regression task: x ~ N(0, diag(scales^2)), w_true ~ N(0, teacher_std^2)."""
    rng = np.random.default_rng(seed)
    scales = np.ones(d) if scales is None else np.asarray(scales, dtype=float)
    w_true = rng.normal(0.0, teacher_std, d)
    X = rng.normal(size=(n + n_test, d)) * scales
    y = X @ w_true + noise * rng.normal(size=n + n_test)
    return X[:n], y[:n], X[n:], y[n:]


@pytest.fixture(scope="module")
def data():
    return regression(n_test=500)


def mean_gradient(X, y, w):
    return X.T @ (X @ w - y) / X.shape[0]


def test_imports_only_the_comparison_side():
    tree = ast.parse(pathlib.Path(A.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split(".")[0] if node.level == 0 else "." * node.level + node.module)
    assert roots <= {"__future__", "math", "typing", "numpy", "scipy", "..compare.ridge", "..params", "..errors"}


# ---------------------------------------------------------------------------- E|g|
def test_expected_abs_grad_schemes(data):
    X, y, _, _ = data
    n = X.shape[0]
    w = np.random.default_rng(1).normal(0, 0.3, X.shape[1])
    G = X * (X @ w - y)[:, None]
    per_sample = A.expected_abs_grad(X, y, w)
    np.testing.assert_allclose(per_sample, np.mean(np.abs(G), axis=0), rtol=1e-14)
    # Rank-1 per-sample updates do not depend on the batch size (THEORY.md 2a) ...
    np.testing.assert_array_equal(A.expected_abs_grad(X, y, w, batch_size=10), per_sample)
    # ... accumulated batches of one sample are per-sample updates, and one full batch is |E g|.
    np.testing.assert_array_equal(A.expected_abs_grad(X, y, w, batch_size=1, accumulate=True), per_sample)
    np.testing.assert_allclose(A.expected_abs_grad(X, y, w, batch_size=n, accumulate=True),
                               np.abs(mean_gradient(X, y, w)), rtol=1e-12)


def test_accumulated_abs_grad_matches_monte_carlo_batches():
    X, y, _, _ = regression(seed=2, n=2000, d=3)
    w = B.ols(X, y)                                    # E[g] = 0: the sqrt(2/pi) sd regime
    batch, draws = 16, 4000
    predicted = A.expected_abs_grad(X, y, w, batch_size=batch, accumulate=True)
    G = X * (X @ w - y)[:, None]
    rng = np.random.default_rng(3)
    batches = rng.random((draws, X.shape[0])).argpartition(batch, axis=1)[:, :batch]  # without replacement
    samples = np.abs(G[batches].mean(axis=1))
    standard_error = samples.std(axis=0, ddof=1) / math.sqrt(draws)
    # Folded normal is the CLT limit; the Edgeworth expansion of E|mean| has the relative
    # correction (skew^2 - excess kurtosis) / (24 B) (the He4 and He6 terms against |x|).
    z = (G - G.mean(axis=0)) / G.std(axis=0)
    skew, kurtosis = np.mean(z ** 3, axis=0), np.mean(z ** 4, axis=0) - 3.0
    clt_error = np.abs(skew ** 2 - kurtosis) / (24 * batch) * predicted
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - predicted), 4 * standard_error + clt_error)


# ---------------------------------------------------------------------------- predict_lambda
def test_predict_lambda_is_a_fixed_point(data):
    X, y, _, _ = data
    device = SoftBounds(w_max=0.8)
    pred = A.predict_lambda(X, y, device)
    m, lam = pred["w_tikhonov"], pred["lambda_pred_per_weight"]
    np.testing.assert_allclose(lam, A.expected_abs_grad(X, y, m) / 0.8, rtol=1e-9)
    np.testing.assert_allclose(m, B.generalized_tikhonov(X, y, lam, 0.0), rtol=0, atol=1e-13)
    assert pred["lambda_pred"] == pytest.approx(np.mean(lam), rel=1e-15)
    assert 1 <= pred["iterations"] < 100


def test_predict_lambda_heteroscedastic_matches_gaussian_formula():
    # THEORY.md 2a: for x_i ~ N(0, s_i^2) independent of r ~ N(0, sigma_r^2),
    # lambda_i = E|x_i r| / w_max = (2/pi) s_i sigma_r / w_max.
    scales, w_max = np.array([0.5, 1.0, 2.0, 4.0]), 1.5
    X, y, _, _ = regression(seed=4, n=20000, d=4, scales=scales)
    pred = A.predict_lambda(X, y, SoftBounds(w_max=w_max))
    r = X @ pred["w_tikhonov"] - y
    s, sigma_r = X.std(axis=0), math.sqrt(np.mean(r ** 2))
    formula = 2 / math.pi * s * sigma_r / w_max
    # Tolerance: 4 standard errors of the sample mean of |x_i r|, plus the exact Gaussian
    # correction for the (small) correlation rho_i of x_i and r at the shrunk solution:
    # E|XY| = (2/pi) sx sy (sqrt(1 - rho^2) + rho arcsin(rho)).
    standard_error = np.abs(X * r[:, None]).std(axis=0, ddof=1) / math.sqrt(X.shape[0]) / w_max
    rho = (X * r[:, None]).mean(axis=0) / (s * sigma_r)
    correlation = formula * np.abs(np.sqrt(1 - rho ** 2) + rho * np.arcsin(rho) - 1.0)
    np.testing.assert_array_less(np.abs(pred["lambda_pred_per_weight"] - formula), 4 * standard_error + correlation)
    assert np.all(np.diff(pred["lambda_pred_per_weight"]) > 0)     # the penalty follows each s_i


def test_accumulated_batches_predict_a_smaller_lambda(data):
    X, y, _, _ = data
    device = SoftBounds()
    per_sample = A.predict_lambda(X, y, device, batch_size=10)["lambda_pred"]
    accumulated = A.predict_lambda(X, y, device, batch_size=10, accumulate=True)["lambda_pred"]
    assert per_sample == A.predict_lambda(X, y, device)["lambda_pred"]
    assert accumulated < 0.5 * per_sample                          # ~ B^(-1/2)


def test_predict_lambda_reports_non_convergence(data):
    X, y, _, _ = data
    with pytest.raises(A.ConvergenceError, match="did not converge in 1 iterations"):
        A.predict_lambda(X, y, SoftBounds(), max_iter=1)


# ---------------------------------------------------------------------------- predict_weights
@pytest.mark.parametrize("device, scheme", [
    (SoftBounds(w_max=1.0), {}),
    (SoftBounds(w_max=0.4, dw_min=0.01), {}),
    (SoftBounds(w_max=1.0), {"batch_size": 10, "accumulate": True}),
    (LinearStep(gamma_up=0.5, gamma_down=0.5), {}),                # F(w) = w / (2 w_max), also linear
])
def test_predict_weights_is_tikhonov_for_linear_asymmetry(data, device, scheme):
    X, y, _, _ = data
    w_pred = A.predict_weights(X, y, device, **scheme)
    w_tikhonov = A.predict_lambda(X, y, device, **scheme)["w_tikhonov"]
    np.testing.assert_allclose(w_pred, w_tikhonov, rtol=0, atol=1e-10)


def test_up_down_exact_law_differs_from_linearised(data):
    X, y, _, _ = data
    device = SoftBounds(up_down=0.3)
    w_s, slope = device.symmetry_point(), device.asymmetry_slope()
    assert w_s == pytest.approx(0.3)                                  # beta * w_max (THEORY.md 2d)
    pred = A.predict_lambda(X, y, device)
    w_tik, lam = pred["w_tikhonov"], pred["lambda_pred_per_weight"]
    w_pred = A.predict_weights(X, y, device)
    # Each solves its own equation ...
    np.testing.assert_allclose(A.stationarity_residual(X, y, w_pred, device), 0.0, atol=1e-12)
    np.testing.assert_allclose(lam, slope * A.expected_abs_grad(X, y, w_tik), rtol=1e-9)
    np.testing.assert_allclose(mean_gradient(X, y, w_tik) + lam * (w_tik - w_s), 0.0, atol=1e-12)
    # ... and the rational F(w) = (w - beta w_max)/(w_max - beta w) moves the solution visibly.
    shift = np.linalg.norm(w_tik - B.ols(X, y))
    assert np.linalg.norm(w_pred - w_tik) > 0.02 * shift
    assert np.max(np.abs(A.stationarity_residual(X, y, w_tik, device))) > 1e-4


def test_constant_step_has_no_penalty(data):
    X, y, _, _ = data
    pred = A.predict_lambda(X, y, ConstantStep())
    assert pred["lambda_pred"] == 0.0 and np.all(pred["lambda_pred_per_weight"] == 0.0)
    w_ols = B.ols(X, y)
    np.testing.assert_allclose(pred["w_tikhonov"], w_ols, atol=1e-12)
    np.testing.assert_allclose(A.predict_weights(X, y, ConstantStep()), w_ols, atol=1e-10)


def test_device_without_symmetry_point(data):
    # Constant steps with up_down != 0 (as a LinearStep without slopes): F = -beta everywhere, no
    # symmetry point, no Tikhonov form; the exact law E[g] = beta E|g| still has a solution.
    X, y, _, _ = data
    device = LinearStep(gamma_up=0.0, gamma_down=0.0, up_down=0.2)
    pred = A.predict_lambda(X, y, device)
    assert math.isnan(pred["lambda_pred"]) and np.all(np.isnan(pred["w_tikhonov"]))
    w_pred = A.predict_weights(X, y, device)
    np.testing.assert_allclose(A.stationarity_residual(X, y, w_pred, device), 0.0, atol=1e-12)
    assert np.linalg.norm(w_pred - B.ols(X, y)) > 0.1


# ---------------------------------------------------------------------------- recorded statistics
def test_lambda_plugin_and_identity_residual(data):
    X, y, _, _ = data
    device = SoftBounds(w_max=0.7)
    pred = A.predict_lambda(X, y, device)
    m = pred["w_tikhonov"]
    abs_grad = A.expected_abs_grad(X, y, m)
    plugin = A.lambda_plugin(abs_grad, device)
    np.testing.assert_allclose(plugin["lambda_plugin_per_weight"], pred["lambda_pred_per_weight"], rtol=1e-9)
    assert plugin["lambda_plugin"] == pytest.approx(pred["lambda_pred"], rel=1e-9)
    # Frozen weights: E[|g| w] = E|g| m, so the identity E[g] + E[|g| w]/w_max = 0 holds at m.
    np.testing.assert_allclose(A.identity_residual(X, y, m, abs_grad * m, device), 0.0, atol=1e-12)
    assert np.max(np.abs(A.identity_residual(X, y, B.ols(X, y), abs_grad * m, device))) > 1e-3
    assert A.lambda_plugin(abs_grad, ConstantStep())["lambda_plugin"] == 0.0


def test_identity_residual_needs_linear_asymmetry(data):
    X, y, _, _ = data
    with pytest.raises(ConfigError, match="^The 'device' parameter of identity_residual"):
        A.identity_residual(X, y, np.zeros(20), np.zeros(20), SoftBounds(up_down=0.3))


# ---------------------------------------------------------------------------- regime warnings
def codes(warnings):
    return {w.split(":")[0] for w in warnings}


def test_no_warning_on_the_benign_example(data):
    X, y, _, _ = data
    m = A.predict_lambda(X, y, SoftBounds())["w_tikhonov"]
    assert A.regime_warnings(X, y, m, SoftBounds(), lr=0.01, rule="stochastic_rounding") == []
    assert A.regime_warnings(X, y, m, SoftBounds(), lr=0.01, rule=Deterministic()) == []


@pytest.mark.parametrize("code, change", [
    ("large_step", {"lr": 0.2}),
    ("few_states", {"device": SoftBounds(dw_min=0.05)}),
    ("dead_zone", {"lr": 2e-4, "rule": Deterministic()}),
    ("dead_zone", {"lr": 2e-4, "rule": "deterministic", "batch_size": 4, "accumulate": True}),
    ("near_bound", {"near_bound": True}),
    ("interpolation", {"n": 15}),
])
def test_each_warning_fires_alone(code, change):
    n = change.get("n", 100)
    X, y, _, _ = regression(n=n)
    device = change.get("device", SoftBounds())
    m = A.predict_lambda(X, y, SoftBounds())["w_tikhonov"]
    if change.get("near_bound"):
        m[3] = device.w_max - device.dw_min
    kwargs = {k: change[k] for k in ("batch_size", "accumulate") if k in change}
    warnings = A.regime_warnings(X, y, m, device, lr=change.get("lr", 0.01), rule=change.get("rule"), **kwargs)
    assert codes(warnings) == {code}
    assert warnings[0].startswith(code + ": ")


def test_deterministic_rule_only_triggers_dead_zone():
    X, y, _, _ = regression()
    m = A.predict_lambda(X, y, SoftBounds())["w_tikhonov"]
    assert A.regime_warnings(X, y, m, SoftBounds(), lr=2e-4, rule="stochastic_rounding") == []


# ---------------------------------------------------------------------------- summarize
def test_summarize_on_predicted_weights(data):
    X, y, X_test, y_test = data
    device = SoftBounds()
    m = A.predict_lambda(X, y, device)["w_tikhonov"]
    abs_grad = A.expected_abs_grad(X, y, m)
    out = A.summarize(X, y, X_test, y_test, m + 0.01, m, device, mean_abs_grad=abs_grad,
                      mean_abs_grad_w=abs_grad * m, lr=0.01, rule="stochastic_rounding")
    assert set(out) == SUMMARY_KEYS
    assert out["tikhonov_pred_distance"] < 1e-9
    assert out["lambda_plugin"] == pytest.approx(out["lambda_pred"], rel=1e-9)
    assert out["identity_residual"] < 1e-12
    assert out["regime_warnings"] == []
    np.testing.assert_allclose(out["w_ols"], B.ols(X, y), rtol=1e-10)
    lam_fit, distance = B.fit_lambda(m, X, y)
    assert out["lambda_fit"] == lam_fit
    assert out["ridge_path_distance"] == pytest.approx(distance / np.linalg.norm(m - out["w_ols"]))
    assert 0.0 < out["ridge_path_distance"] < 0.2          # equal scales: close to, not on, the ridge path
    assert out["lambda_fit"] == pytest.approx(out["lambda_pred"], rel=0.1)
    assert out["test_loss_mean_weights"] == B.loss(X_test, y_test, m)
    assert out["test_loss_final"] == B.loss(X_test, y_test, m + 0.01)
    assert out["ridge_test_loss_at_lambda_fit"] == pytest.approx(B.loss(X_test, y_test, B.ridge(X, y, lam_fit)))
    assert out["ols_test_loss"] == pytest.approx(B.loss(X_test, y_test, B.ols(X, y)))
    loss_at_root = B.loss(X_test, y_test, B.ridge(X, y, out["lambda_fit_test_loss"]))
    assert loss_at_root == pytest.approx(out["test_loss_mean_weights"], rel=1e-10)


def test_summarize_without_statistics_and_with_accumulation(data):
    X, y, X_test, y_test = data
    device = SoftBounds()
    m = A.predict_lambda(X, y, device, batch_size=5, accumulate=True)["w_tikhonov"]
    bare = A.summarize(X, y, X_test, y_test, m, m, device, batch_size=5, accumulate=True)
    assert math.isnan(bare["lambda_plugin"]) and np.all(np.isnan(bare["lambda_plugin_per_weight"]))
    assert math.isnan(bare["identity_residual"])
    # Recorded |Delta|/lr of a summed batch is B |mean g|: summarize divides by B.
    recorded = 5 * A.expected_abs_grad(X, y, m, batch_size=5, accumulate=True)
    out = A.summarize(X, y, X_test, y_test, m, m, device, mean_abs_grad=recorded, batch_size=5, accumulate=True)
    np.testing.assert_allclose(out["lambda_plugin_per_weight"], out["lambda_pred_per_weight"], rtol=1e-9)


def test_summarize_drops_the_bias_column(data):
    X, y, X_test, y_test = data
    device = SoftBounds()
    m = A.predict_lambda(X, y, device)["w_tikhonov"]
    wf = m + 0.02
    abs_grad = A.expected_abs_grad(X, y, m)
    plain = A.summarize(X, y, X_test, y_test, wf, m, device, mean_abs_grad=abs_grad,
                        mean_abs_grad_w=abs_grad * m, lr=0.01)

    def with_bias(a, value):
        return np.column_stack([a, np.ones(len(a))]) if a.ndim == 2 else np.append(a, value)

    biased = A.summarize(with_bias(X, 0), y, with_bias(X_test, 0), y_test, with_bias(wf, 0.3),
                         with_bias(m, 0.3)[None, :], device, mean_abs_grad=with_bias(abs_grad, 5.0),
                         mean_abs_grad_w=with_bias(abs_grad * m, 5.0), lr=0.01, bias=True)
    for key in SUMMARY_KEYS - {"regime_warnings"}:
        np.testing.assert_allclose(biased[key], plain[key], rtol=1e-12, atol=1e-14, err_msg=key)
    assert biased["regime_warnings"] == plain["regime_warnings"]


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, owner, name", [
    (lambda X, y: A.predict_lambda(X, y, SoftBounds(), batch_size=0), "predict_lambda", "batch_size"),
    (lambda X, y: A.predict_lambda(X, y, SoftBounds(), max_iter=0), "predict_lambda", "max_iter"),
    (lambda X, y: A.predict_lambda(X, y, SoftBounds(), tol=0.0), "predict_lambda", "tol"),
    (lambda X, y: A.predict_weights(X, y, SoftBounds(), accumulate=1), "predict_weights", "accumulate"),
    (lambda X, y: A.expected_abs_grad(X, y, np.zeros(3)), "expected_abs_grad", "w"),
    (lambda X, y: A.lambda_plugin([np.nan], SoftBounds()), "lambda_plugin", "mean_abs_grad"),
    (lambda X, y: A.regime_warnings(X, y, np.zeros(20), SoftBounds(), lr=-1.0), "regime_warnings", "lr"),
    (lambda X, y: A.summarize(X, y, X, y, np.zeros(20), np.zeros(20), SoftBounds(), bias="no"),
     "summarize", "bias"),
    (lambda X, y: A.summarize(X, y, X, y, np.zeros(20), np.zeros(19), SoftBounds()), "summarize", "weights_mean"),
])
def test_bad_arguments(data, call, owner, name):
    X, y, _, _ = data
    with pytest.raises(ConfigError, match=f"^The '{name}' parameter of {owner} must be"):
        call(X, y)


def test_summarize_in_the_interpolation_regime_warns_instead_of_failing():
    X, y, X_test, y_test = regression(n=15, d=20, n_test=100)
    device = SoftBounds()
    w_ols = B.ols(X, y)
    out = A.summarize(X, y, X_test, y_test, w_ols, w_ols, device, lr=0.01)
    assert "interpolation" in codes(out["regime_warnings"])
    assert out["lambda_pred"] == 0.0                         # E|g| = 0 at the interpolant
    np.testing.assert_allclose(out["w_pred"], w_ols, atol=1e-10)
    assert out["lambda_fit"] == 0.0 and out["ridge_path_distance"] == 0.0


def test_summarize_reports_a_missing_prediction_as_a_warning(data):
    X, y, X_test, y_test = data
    device = ConstantStep(up_down=0.9)                       # F = -0.9: E[g] = 0.9 E|g| has no root here
    with pytest.raises(A.ConvergenceError, match="no root of E"):
        A.predict_weights(X, y, device)
    w_ols = B.ols(X, y)
    out = A.summarize(X, y, X_test, y_test, w_ols, w_ols, device)
    assert codes(out["regime_warnings"]) == {"no_prediction"}
    assert np.all(np.isnan(out["w_pred"])) and math.isnan(out["tikhonov_pred_distance"])
    assert out["lambda_pred"] == 0.0                         # F' = 0: the linearised penalty exists
