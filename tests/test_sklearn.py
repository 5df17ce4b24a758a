"""memsim.sklearn: scikit-learn estimators trained in place, and their digital twins (as_ridge)."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import memsim.sklearn as msk
from memsim.compare.digital import logistic_regression, softmax_regression
from memsim.compare.ridge import ridge, ridge_path_distance
from memsim.errors import ConfigError
from memsim.physics.devices import SoftBounds
from memsim.sklearn import AnalogLinearRegression, AnalogLogisticRegression, AnalogMLPClassifier

# Small instances so the estimator checks cost seconds (a real fit uses the defaults: 100-200 epochs).
SMALL = dict(epochs=3, lr=0.05)
CHECKED = [AnalogLinearRegression(**SMALL),
           AnalogLogisticRegression(**SMALL, compute_lambda_fit=False),  # ~10 L-BFGS solves per fit: tested below
           AnalogMLPClassifier(hidden_layer_sizes=(4,), **SMALL)]

#: Checks expected to fail, per estimator, each with its reason (at most three per estimator).
#: None today: every check of scikit-learn 1.9 passes. (``check_array_api_input`` is skipped by
#: scikit-learn itself unless SCIPY_ARRAY_API is set; it is not one of ours.)
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "AnalogLinearRegression": {},
    "AnalogLogisticRegression": {},
    "AnalogMLPClassifier": {},
}


@parametrize_with_checks(CHECKED, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failures_stay_few():
    assert all(len(v) <= 3 for v in EXPECTED_FAILED_CHECKS.values())


# ---------------------------------------------------------------------------- data
def regression_data(n=300, d=5, seed=0, offset=0.0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d)) + offset
    w = np.array([0.5, -0.3, 0.2, 0.0, 0.1])[:d]
    return X, X @ w + 0.1 * g.standard_normal(n) + 0.2


def blobs(n=200, centers=3, seed=0):
    X, y = make_blobs(n_samples=n, n_features=4, centers=centers, cluster_std=3.0, random_state=seed)
    return StandardScaler().fit_transform(X), y


# ---------------------------------------------------------------------------- the linear theory
def test_linear_regression_sits_on_the_ridge_path_at_lambda_fit():
    X, y = regression_data()
    est = AnalogLinearRegression(epochs=100, lr=0.01, random_state=3).fit(X, y)
    n = X.shape[0]
    assert est.summary_["training_path"] == "fused"
    assert est.coef_.shape == (5,) and isinstance(est.intercept_, float) and est.n_features_in_ == 5
    assert not np.array_equal(est.coef_, est.coef_final_)
    assert est.lambda_fit_ > 0 and est.ridge_path_distance_ < 0.2
    # the hardware's time average is the ridge solution at lambda_fit (intercept: centred data)
    twin = est.as_ridge()
    assert isinstance(twin, Ridge) and twin.alpha == pytest.approx(n * est.lambda_fit_) and twin.fit_intercept
    twin.fit(X, y)
    assert np.linalg.norm(twin.coef_ - est.coef_) < 0.05 * np.linalg.norm(est.coef_)
    Xc = X - X.mean(axis=0)
    assert ridge_path_distance(est.coef_, Xc, y - y.mean()) == pytest.approx(est.ridge_path_distance_)
    # the three lambdas agree to within the theory's accuracy
    assert est.lambda_pred_ == pytest.approx(est.lambda_fit_, rel=0.5)
    assert est.lambda_plugin_ == pytest.approx(est.lambda_fit_, rel=0.5)
    assert est.score(X, y) > 0.9


def test_ridge_mapping_alpha_is_n_lambda():
    """memsim's 1/(2n)||Xw - y||^2 + lam/2 ||w||^2  ==  Ridge(alpha = n * lam) (same minimiser)."""
    X, y = regression_data(n=60, offset=1.5)
    n, lam = X.shape[0], 0.07
    est = AnalogLinearRegression(epochs=2, fit_intercept=False).fit(X, y)
    twin = est.as_ridge(lam).fit(X, y)
    assert twin.alpha == pytest.approx(n * lam) and not twin.fit_intercept
    np.testing.assert_allclose(twin.coef_, ridge(X, y, lam), atol=1e-10)
    # with an intercept: memsim's ridge on the centred data, the intercept unpenalised
    twin = AnalogLinearRegression(epochs=2).fit(X, y).as_ridge(lam).fit(X, y)
    np.testing.assert_allclose(twin.coef_, ridge(X - X.mean(0), y - y.mean(), lam), atol=1e-10)
    assert est.as_ridge("plugin").alpha == pytest.approx(n * est.lambda_plugin_)
    assert est.as_ridge(lam, n_samples=10).alpha == pytest.approx(10 * lam)
    with pytest.raises(ConfigError, match="'lam'"):
        est.as_ridge("best")


@pytest.mark.parametrize("centers", [2, 3])
def test_logistic_mapping_C_is_one_over_n_lambda(centers):
    """memsim's mean log-loss + lam/2 ||w||^2  ==  LogisticRegression(C = 1 / (n * lam))."""
    X, y = blobs(n=150, centers=centers)
    n, lam = X.shape[0], 0.02
    est = AnalogLogisticRegression(epochs=2, compute_lambda_fit=False).fit(X, y)
    twin = est.as_ridge(lam)
    assert isinstance(twin, LogisticRegression) and twin.C == pytest.approx(1 / (n * lam))
    twin.fit(X, y)
    ours = (logistic_regression(X, y, lam)["coef"][None, :] if centers == 2
            else softmax_regression(X, y, lam)["coef"])
    np.testing.assert_allclose(twin.coef_, ours, atol=1e-5)


def test_logistic_regression_penalty_and_twin():
    X, y = blobs(n=200, centers=2)
    est = AnalogLogisticRegression(epochs=30, lr=0.02, random_state=1).fit(X, y)
    assert est.coef_.shape == (1, 4) and est.intercept_.shape == (1,) and list(est.classes_) == [0, 1]
    assert np.isnan(est.lambda_pred_)
    assert est.lambda_plugin_ > 0 and est.lambda_fit_ == pytest.approx(est.lambda_plugin_, rel=1.0)
    twin = est.as_ridge().fit(X, y)
    assert twin.C == pytest.approx(1 / (200 * est.lambda_fit_))
    assert np.linalg.norm(twin.coef_ - est.coef_) < 0.2 * np.linalg.norm(est.coef_)
    p = est.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(est.predict(X), est.classes_[(est.decision_function(X) > 0).astype(int)])
    assert est.score(X, y) > 0.8


def test_mlp_classifier_attributes_and_twin():
    X, y = blobs(n=120, centers=3)
    est = AnalogMLPClassifier(hidden_layer_sizes=(5,), activation="sigmoid", epochs=5, lr=0.05).fit(X, y)
    assert [c.shape for c in est.coefs_] == [(4, 5), (5, 3)] and [b.shape for b in est.intercepts_] == [(5,), (3,)]
    assert np.isnan(est.lambda_fit_) and np.isnan(est.lambda_pred_) and est.lambda_plugin_ > 0
    assert [L.shape for L in est.summary_["lambda_plugin_per_weight"]] == [(5, 4), (3, 5)]
    twin = est.as_ridge()
    assert twin.alpha == pytest.approx(120 * est.lambda_plugin_) and twin.activation == "logistic"
    assert twin.hidden_layer_sizes == (5,)


# ---------------------------------------------------------------------------- scikit-learn tools
def test_pipeline_and_cross_val_score():
    X, y = regression_data(n=200)
    X = 5.0 * X + 3.0  # unscaled features; the targets stay of order 1 (device weights live in [-1, 1])
    pipe = make_pipeline(StandardScaler(), AnalogLinearRegression(epochs=20, lr=0.01))
    assert pipe.fit(X, y).score(X, y) > 0.9
    Xb, yb = make_blobs(n_samples=150, n_features=4, centers=3, random_state=0)  # unscaled
    scores = cross_val_score(make_pipeline(StandardScaler(), AnalogMLPClassifier((6,), epochs=5, lr=0.05)),
                             Xb, yb, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8


def test_grid_search_over_lr_and_device():
    X, y = blobs(n=150, centers=3)
    grid = GridSearchCV(AnalogLogisticRegression(epochs=3, compute_lambda_fit=False), {"lr": [1e-4, 0.05]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_ == {"lr": 0.05}
    Xr, yr = regression_data(n=150)
    devices = [SoftBounds(dw_min=0.001, w_max=0.25), SoftBounds(dw_min=0.001, w_max=1.0)]
    grid = GridSearchCV(AnalogLinearRegression(epochs=20, lr=0.01), {"device": devices}, cv=3).fit(Xr, yr)
    assert grid.best_params_["device"] == devices[1]  # w_max = 0.25 cannot hold the 0.5 weight
    assert grid.best_estimator_.lambda_fit_ > 0


# ---------------------------------------------------------------------------- validation, reproducibility
INVALID = [
    (AnalogLinearRegression, "lr", -1.0), (AnalogLinearRegression, "epochs", 0),
    (AnalogLinearRegression, "batch_size", 1.5), (AnalogLinearRegression, "average_from", 1.0),
    (AnalogLinearRegression, "device", "soft_bounds"), (AnalogLinearRegression, "update", "deterministic"),
    (AnalogLinearRegression, "periphery", {"output_noise": 0.1}), (AnalogLinearRegression, "fit_intercept", 1),
    (AnalogLinearRegression, "backend", "torch"), (AnalogLinearRegression, "dtype", "float16"),
    (AnalogLinearRegression, "random_state", -3), (AnalogLinearRegression, "lr_schedule", "cosine"),
    (AnalogLinearRegression, "lr_step_epochs", 5), (AnalogLogisticRegression, "compute_lambda_fit", "yes"),
    (AnalogLogisticRegression, "accumulate", None), (AnalogMLPClassifier, "hidden_layer_sizes", ()),
    (AnalogMLPClassifier, "hidden_layer_sizes", (4, 0)), (AnalogMLPClassifier, "activation", "gelu"),
    (AnalogMLPClassifier, "max_tile_size", 0),
]


@pytest.mark.parametrize("cls, name, value", INVALID)
def test_invalid_values_raise_config_error_in_fit_before_training(cls, name, value, monkeypatch):
    est = cls(**{name: value})  # stored untouched
    assert est.get_params()[name] is value

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(msk, "train", no_training)
    X, y = blobs(n=20, centers=2)
    with pytest.raises(ConfigError, match=f"'{name}' parameter of {cls.__name__}"):
        est.fit(X, y)


@pytest.mark.parametrize("make", [lambda: AnalogLinearRegression(epochs=5, lr=0.02),
                                  lambda: AnalogLogisticRegression(epochs=3, lr=0.02, compute_lambda_fit=False),
                                  lambda: AnalogMLPClassifier((4,), epochs=3, lr=0.02)])
def test_fit_is_bit_for_bit_reproducible_from_random_state(make):
    X, y = blobs(n=80, centers=3)
    if isinstance(make(), AnalogLinearRegression):
        y = X[:, 0] * 0.3 + X[:, 1] * 0.1
    a = make().set_params(random_state=7).fit(X, y)
    b = make().set_params(random_state=7).fit(X, y)
    c = make().set_params(random_state=8).fit(X, y)
    name = "coef_" if hasattr(a, "coef_") else "weights_"
    flat = [np.concatenate([np.ravel(w) for w in (lambda v: v if isinstance(v, list) else [v])(getattr(e, name))])
            for e in (a, b, c)]
    assert np.array_equal(flat[0], flat[1]) and not np.array_equal(flat[0], flat[2])
    assert np.array_equal(a.predict(X), b.predict(X))
    none, zero = make().fit(X, y), make().set_params(random_state=0).fit(X, y)
    assert np.array_equal(none.predict(X), zero.predict(X))  # None means 0
