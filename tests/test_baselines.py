"""Tests of memsim.compare.ridge: closed forms against scikit-learn, lambda fitting, and digital SGD."""

import ast
import math
import pathlib

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from memsim.compare import ridge as B
from memsim.compare.digital import train_digital
from memsim.errors import ConfigError


def make_problem(seed=0, n=60, d=8, noise=1.0):
    """Heteroscedastic linear regression: column scales 0.3..3, so the singular values spread."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(0.3, 3.0, d)
    w_true = rng.normal(0.0, 0.5, d)
    y = X @ w_true + noise * rng.normal(size=n)
    return X, y, w_true


def permutations(seed, epochs, n):
    rng = np.random.default_rng(seed)
    return np.array([rng.permutation(n) for _ in range(epochs)])


def test_imports_only_numpy_and_scipy():
    tree = ast.parse(pathlib.Path(B.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            roots.add("." * node.level + (node.module or ""))
    assert roots <= {"__future__", "math", "typing", "numpy", "scipy", "..params"}


# ---------------------------------------------------------------------------- closed forms
def test_ridge_path_matches_sklearn():
    X, y, _ = make_problem()
    n = X.shape[0]
    lambdas = np.logspace(-6, 3, 19)
    path = B.ridge_path(X, y, lambdas)
    assert path.shape == (lambdas.size, X.shape[1])
    for lam, w in zip(lambdas, path):
        ref = Ridge(alpha=n * lam, fit_intercept=False, solver="svd").fit(X, y).coef_
        np.testing.assert_allclose(w, ref, rtol=1e-8, atol=0)
        np.testing.assert_allclose(B.ridge(X, y, lam), w, rtol=1e-12, atol=0)


def test_ridge_zero_is_ols_and_ols_is_min_norm_when_rank_deficient():
    X, y, _ = make_problem(n=60, d=8)
    np.testing.assert_allclose(B.ridge(X, y, 0.0), B.ols(X, y), rtol=1e-10)
    Xw, yw, _ = make_problem(seed=1, n=5, d=12)           # more features than samples
    np.testing.assert_allclose(B.ols(Xw, yw), np.linalg.pinv(Xw) @ yw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B.ridge(Xw, yw, 0.0), np.linalg.pinv(Xw) @ yw, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(B.generalized_tikhonov(Xw, yw, 0.0), np.linalg.pinv(Xw) @ yw, rtol=1e-8,
                               atol=1e-12)


def test_generalized_tikhonov_equal_lambdas_is_ridge():
    X, y, _ = make_problem()
    for lam in (1e-4, 0.3, 20.0):
        np.testing.assert_allclose(B.generalized_tikhonov(X, y, lam), B.ridge(X, y, lam), rtol=1e-9)
        per_weight = np.full(X.shape[1], lam)
        np.testing.assert_allclose(B.generalized_tikhonov(X, y, per_weight, w_s=0.0), B.ridge(X, y, lam),
                                   rtol=1e-9)


def test_generalized_tikhonov_is_stationary_point_of_its_objective():
    X, y, _ = make_problem()
    n, d = X.shape
    rng = np.random.default_rng(3)
    lam, w_s = rng.uniform(0.01, 2.0, d), rng.normal(0, 0.3, d)
    w = B.generalized_tikhonov(X, y, lam, w_s)
    gradient = X.T @ (X @ w - y) / n + lam * (w - w_s)     # d/dw [L + 1/2 sum lam_i (w_i - w_s,i)^2]
    np.testing.assert_allclose(gradient, 0.0, atol=1e-12)
    closed = np.linalg.solve(X.T @ X + n * np.diag(lam), X.T @ y + n * lam * w_s)
    np.testing.assert_allclose(w, closed, rtol=1e-9)


def test_loss_is_half_mean_squared_error():
    X, y, w = make_problem()
    assert B.loss(X, y, w) == pytest.approx(np.sum((X @ w - y) ** 2) / (2 * X.shape[0]), rel=1e-14)


# ---------------------------------------------------------------------------- fitting lambda
@pytest.mark.parametrize("lam", [1e-6, 1e-3, 0.05, 1.0, 30.0, 1e4])
def test_fit_lambda_recovers_lambda_on_the_path(lam):
    X, y, _ = make_problem()
    lam_fit, distance = B.fit_lambda(B.ridge(X, y, lam), X, y)
    assert lam_fit == pytest.approx(lam, rel=1e-6)
    assert distance < 1e-10 * np.linalg.norm(B.ridge(X, y, lam))


def test_fit_lambda_ends_of_the_path():
    X, y, _ = make_problem()
    assert B.fit_lambda(B.ols(X, y), X, y)[0] == 0.0
    assert B.fit_lambda(np.zeros(X.shape[1]), X, y) == (math.inf, 0.0)


def test_ridge_path_distance_zero_on_path_positive_off_it():
    X, y, _ = make_problem()
    for lam in (1e-3, 0.5, 50.0):
        assert B.ridge_path_distance(B.ridge(X, y, lam), X, y) < 1e-8
    # OLS from lstsq differs from the SVD's by rounding only: still on the path, not at ratio 1.
    assert B.ridge_path_distance(B.ols(X, y), X, y) == 0.0
    # Per-weight penalties that differ strongly are not a ridge solution.
    off = B.generalized_tikhonov(X, y, np.logspace(-2, 1, X.shape[1]))
    assert 0.05 < B.ridge_path_distance(off, X, y) <= 1.0


def test_lambda_for_loss_inverts_the_test_loss_curve():
    X, y, w_true = make_problem(n=40, d=8, noise=2.0)
    rng = np.random.default_rng(11)
    X_test = rng.normal(size=(500, 8)) * np.linspace(0.3, 3.0, 8)
    y_test = X_test @ w_true + 2.0 * rng.normal(size=500)
    for lam in (0.01, 0.3, 3.0):
        target = B.loss(X_test, y_test, B.ridge(X, y, lam))
        found = B.lambda_for_loss(target, X, y, X_test, y_test, near=lam)
        assert found == pytest.approx(lam, rel=1e-8)
    # A loss below the minimum of the curve is never reached.
    assert math.isnan(B.lambda_for_loss(0.0, X, y, X_test, y_test, near=1.0))


def test_lambda_for_loss_picks_the_root_nearest_near():
    X, y, w_true = make_problem(n=40, d=8, noise=2.0)
    rng = np.random.default_rng(11)
    X_test = rng.normal(size=(500, 8)) * np.linspace(0.3, 3.0, 8)
    y_test = X_test @ w_true + 2.0 * rng.normal(size=500)
    grid = np.logspace(-4, 3, 400)
    curve = np.array([B.loss(X_test, y_test, w) for w in B.ridge_path(X, y, grid)])
    k = int(np.argmin(curve))
    assert 0 < k < grid.size - 1, "the test-loss curve must have an interior minimum"
    target = 0.5 * (curve[k] + min(curve[0], curve[-1]))  # reached on both sides of the minimum
    low = B.lambda_for_loss(target, X, y, X_test, y_test, near=0.0)
    high = B.lambda_for_loss(target, X, y, X_test, y_test, near=math.inf)
    assert low < grid[k] < high
    for root in (low, high):
        assert B.loss(X_test, y_test, B.ridge(X, y, root)) == pytest.approx(target, rel=1e-10)


# ---------------------------------------------------------------------------- SGD (the one digital SGD, one layer)
def sgd(X, y, *, w0, lr, permutations, weight_decay=0.0, w_s=0.0, **kwargs):
    """:func:`memsim.compare.digital.train_digital` as linear least squares: one layer, no bias, one output."""
    w_s = [np.asarray(w_s, dtype=np.float64)[None] * np.ones((1, X.shape[1]))] if np.ndim(w_s) else w_s
    out = train_digital([np.asarray(w0, dtype=np.float64)[None, :]], X, y, loss="mse", bias=False, lrs=lr,
                        permutations=permutations, weight_decay=weight_decay, w_s=w_s, **kwargs)
    return {"weights_final": out["weights_final"][0][0], "weights_mean": out["weights_mean"][0][0],
            "curves": out["curves"]}


def test_sgd_without_decay_converges_to_ols_in_the_mean():
    # With a fresh permutation per epoch (random reshuffling) the stationary mean carries a
    # deterministic O(lr) bias (THEORY.md 2a) that exceeds the Monte-Carlo error whatever lr is
    # (both scale alike), so the claim tested is the lr -> 0 limit: Richardson extrapolation
    # 2 m(lr/2) - m(lr), per seed, removes the O(lr) term (the O(lr^2) rest is well below the
    # standard error here), and the spread over 16 seeds gives the standard error. Runs start at
    # OLS and average the second half only (40 epochs >> the relaxation time 1/(lr h_min) ~ 7
    # epochs), so no transient, whose effect on the mean would not scale with lr, remains.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 3))                   # unit scales: lr * h_max ~ 0.013
    y = X @ np.array([1.0, -0.5, 0.3]) + 0.5 * rng.normal(size=50)
    w_ols = B.ols(X, y)
    extrapolated = []
    for seed in range(16):
        perms = permutations(100 + seed, 80, 50)
        m = [sgd(X, y, w0=w_ols, lr=lr, permutations=perms)["weights_mean"] for lr in (0.01, 0.005)]
        extrapolated.append(2 * m[1] - m[0])
    extrapolated = np.array(extrapolated)
    standard_error = extrapolated.std(axis=0, ddof=1) / math.sqrt(len(extrapolated))
    np.testing.assert_array_less(np.abs(extrapolated.mean(axis=0) - w_ols), 4 * standard_error)


def test_sgd_weight_decay_is_ridge_in_the_mean():
    X, y, _ = make_problem(seed=5, n=200, d=5, noise=0.5)
    # lr = 0.002: the random-reshuffling bias of the mean and its jitter both scale with lr; here
    # they move lambda_fit by ~0.5 % (1 % at lr = 0.005), well inside the 2 % tolerance, while
    # 150 epochs (30,000 updates) leave > 100 relaxation times 1/(lr (h_min + 0.2)) to average.
    out = sgd(X, y, w0=np.zeros(5), lr=0.002, weight_decay=0.2, permutations=permutations(7, 150, 200))
    lam_fit, _ = B.fit_lambda(out["weights_mean"], X, y)
    assert lam_fit == pytest.approx(0.2, rel=0.02)


def test_sgd_one_full_batch_step_and_curves():
    X, y, _ = make_problem(n=20, d=4)
    X_test, y_test, _ = make_problem(seed=9, n=30, d=4)
    w0, w_s = np.full(4, 0.1), np.array([0.0, 0.2, -0.2, 0.5])
    out = sgd(X, y, w0=w0, lr=1e-3, weight_decay=0.3, w_s=w_s, permutations=permutations(0, 1, 20), batch_size=20,
              accumulate=True, average_from=0.0, X_test=X_test, y_test=y_test)
    expected = w0 - 1e-3 * (X.T @ (X @ w0 - y) + 20 * 0.3 * (w0 - w_s))   # sum, not mean
    np.testing.assert_allclose(out["weights_final"], expected, rtol=1e-13)
    np.testing.assert_allclose(out["weights_mean"], expected, rtol=1e-13)
    assert out["curves"]["train_loss"][0] == pytest.approx(B.loss(X, y, expected))
    assert out["curves"]["test_loss"][0] == pytest.approx(B.loss(X_test, y_test, expected))


def test_sgd_per_sample_order_and_average_window():
    X, y, _ = make_problem(n=6, d=3)
    perms = permutations(1, 2, 6)
    lr, wd, w_s = 0.05, 0.1, 0.3
    out = sgd(X, y, w0=np.zeros(3), lr=lr, weight_decay=wd, w_s=np.full(3, w_s), permutations=perms, batch_size=1,
              average_from=0.5)
    w, after = np.zeros(3), []
    for b in perms.ravel():                     # per-sample updates in the permutation's order
        w = w - lr * (X[b] * (X[b] @ w - y[b]) + wd * (w - w_s))
        after.append(w)
    np.testing.assert_allclose(out["weights_final"], w, rtol=1e-13)
    np.testing.assert_allclose(out["weights_mean"], np.mean(after[6:], axis=0), rtol=1e-13)
    assert out["curves"]["train_loss"].shape == (2,) and "test_loss" not in out["curves"]


# ---------------------------------------------------------------------------- validation
GOOD = dict(w0=np.zeros(3), lr=0.01, permutations=np.array([[0, 1, 2, 3], [3, 2, 1, 0]]))


@pytest.mark.parametrize("name, value", [
    ("lrs", -1.0), ("lrs", 0.0), ("lrs", math.nan), ("lrs", [0.1, 0.1, 0.1]),
    ("weight_decay", -0.1), ("average_from", 1.0), ("average_from", -0.1), ("batch_size", 0),
    ("batch_size", 5), ("accumulate", "yes"), ("weights0", np.zeros(4)), ("w_s", [np.zeros(2)]),
    ("permutations", np.zeros((0, 4), dtype=int)), ("permutations", np.array([[0, 1, 2, 2], [0, 1, 2, 3]])),
    ("permutations", np.array([[0.0, 1, 2, 3], [0, 1, 2, 3]])), ("permutations", [[0, 1], [0, 1, 2, 3]]),
    ("y_test", None), ("X_test", np.zeros((4, 2))),
])
def test_sgd_bad_arguments_raise_config_error_naming_the_parameter(name, value):
    X, y = np.ones((4, 3)), np.ones(4)
    kwargs = dict(weights0=[np.zeros((1, 3))], loss="mse", bias=False, lrs=0.01,
                  permutations=GOOD["permutations"], X_test=X, y_test=y)
    kwargs[name] = [value] if name == "weights0" else value
    with pytest.raises(ConfigError, match=f"^The '{name}' parameter of train_digital must be"):
        train_digital(X=X, y=y, **kwargs)


def test_sgd_standard_message():
    with pytest.raises(ConfigError) as info:
        sgd(np.ones((4, 3)), np.ones(4), **{**GOOD, "lr": -1})
    assert str(info.value) == "The 'lrs' parameter of train_digital must be finite learning rates > 0. Got -1 instead."


@pytest.mark.parametrize("call, name", [
    (lambda X, y: B.ridge(X, y, -1.0), "lam"),
    (lambda X, y: B.ridge_path(X, y, [0.1, -1.0]), "lambdas"),
    (lambda X, y: B.generalized_tikhonov(X, y, [0.1, -1.0, 0.2]), "lambdas"),
    (lambda X, y: B.generalized_tikhonov(X, y, 0.1, w_s=[0.0, 1.0]), "w_s"),
    (lambda X, y: B.fit_lambda(np.zeros(2), X, y), "m"),
    (lambda X, y: B.ols(X[:, 0], y), "X"),
    (lambda X, y: B.ols(X, y[:-1]), "y"),
    (lambda X, y: B.ols(np.where(X > 0, np.nan, X), y), "X"),
    (lambda X, y: B.loss(X, y, [1.0]), "w"),
    (lambda X, y: B.lambda_for_loss(-1.0, X, y, X, y, near=1.0), "target_loss"),
    (lambda X, y: B.lambda_for_loss(1.0, X, y, X[:, :2], y, near=1.0), "X_test"),
    (lambda X, y: B.lambda_for_loss(1.0, X, y, X, y, near=-1.0), "near"),
])
def test_closed_form_bad_arguments(call, name):
    X, y, _ = make_problem(n=10, d=3)
    with pytest.raises(ConfigError, match=f"^The '{name}' parameter of "):
        call(X, y)
