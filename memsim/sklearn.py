r"""scikit-learn estimators trained in place on memristor crossbars, beside their digital twins.

Three estimators (``BaseEstimator`` + the scikit-learn mixins), each an
:class:`~memsim.models.mlp.AnalogMLP` trained by the one trainer :func:`memsim.models.train.train`:

* :class:`AnalogLinearRegression` -- ``AnalogMLP([d, 1])``, the ``mse`` loss (fused compiled path
  when there is no periphery and one tile);
* :class:`AnalogLogisticRegression` -- ``AnalogMLP([d, 1])`` with the logistic loss for two classes,
  ``AnalogMLP([d, K])`` with the softmax loss for more;
* :class:`AnalogMLPClassifier` -- ``AnalogMLP([d, *hidden_layer_sizes, 1 or K])``.

The device's drift towards its symmetry point acts as an implicit L2 (Tikhonov) penalty
:math:`\frac{\lambda}{2}\|w\|^2` on the MEAN loss (docs/theory.md, section '2.0 The drift formula'). After ``fit`` every
estimator reports the penalty it imposed (``lambda_fit_``, ``lambda_pred_``, ``lambda_plugin_``)
and :meth:`as_ridge` returns the scikit-learn estimator with that penalty:

* linear regression: memsim minimises :math:`\frac{1}{2n}\|Xw-y\|^2 + \frac{\lambda}{2}\|w\|^2`,
  ``Ridge`` minimises :math:`\|Xw-y\|^2 + \alpha\|w\|^2` (:math:`2n` times it): ``alpha = n * lambda``;
* logistic / softmax regression: memsim minimises the mean log-loss :math:`\frac1n\sum_b\ell_b +
  \frac{\lambda}{2}\|w\|^2`, ``LogisticRegression`` minimises :math:`C\sum_b\ell_b + \frac12\|w\|^2`
  (:math:`Cn` times memsim's objective when ``C = 1 / (n * lambda)``): ``C = 1 / (n * lambda)``;
* MLP: ``MLPClassifier`` adds :math:`\frac{\alpha}{2n}\|W\|^2` to its mean log-loss: ``alpha = n * lambda``.

(:mod:`memsim.compare.ridge` and :mod:`memsim.compare.digital` state the same conventions; ``n`` is
the number of training samples.) The penalty is towards 0; a device whose symmetry point
:math:`w_s \ne 0` pulls towards :math:`w_s` instead, which scikit-learn cannot express (use
``zero_shift=True`` to reference every cell at its symmetry point).

Intercept (``fit_intercept=True``, the default): the bias is a device column like any other (the
network's bias column, trained and penalised by the device), and memsim excludes it from every
metric: the lambdas, distances and ``coef_`` concern the feature weights only. The scikit-learn
twins fit an UNPENALISED intercept (``fit_intercept=True``); for the linear regressor the ridge
path is therefore taken on the centred data :math:`(X - \bar X, y - \bar y)`, which is exactly what
``Ridge(fit_intercept=True)`` solves, so ``lambda_fit_`` and :meth:`as_ridge` are consistent. The
device also penalises its bias column (a small shrinkage of the intercept): with centred features and
targets (e.g. after ``StandardScaler``) the trained bias is near 0 and the two agree; with
``fit_intercept=False`` no bias column exists and the twins fit none.

Weights are dimensionless device weights bounded by the device (``w_max = 1`` by default):
standardise the features and keep the targets of order 1 (``StandardScaler``,
``TransformedTargetRegressor``) so the solution lies well inside the bounds.

Every setting is stored untouched by ``__init__`` (the scikit-learn convention) and validated in
``fit`` before any training, with memsim's messages (:class:`memsim.errors.ConfigError`, also a
``ValueError``, naming the parameter and the estimator). ``fit`` is bit-for-bit reproducible from
``random_state`` (an int; ``None`` means 0), which seeds the data order, the initial weights and all
device noise.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .analysis.penalty import constant_drift, summarize, symmetry
from .compare.digital import logistic_regression, softmax_regression
from .compare.ridge import fit_lambda, relative_distance, ridge
from .models.config import TrainConfig
from .models.mlp import AnalogMLP
from .models.train import train
from .network_math import ACTIVATIONS, mlp_forward
from .params import check_bool, check_choice, check_float, check_int, invalid
from .physics.devices import PulsedDevice, SoftBounds
from .physics.devices.shifted import ZeroShifted
from .physics.periphery import Periphery
from .physics.updates import UpdateRule
from .tasks.classification import ClassificationData
from .tasks.registry import Dataset

__all__ = ["AnalogLinearRegression", "AnalogLogisticRegression", "AnalogMLPClassifier", "default_device"]

BACKENDS = ("numba", "numpy", "cupy", "auto")
DTYPES = ("float32", "float64")
#: scikit-learn's names of memsim's hidden-layer activations (for :class:`sklearn.neural_network.MLPClassifier`).
SKLEARN_ACTIVATIONS = {"tanh": "tanh", "sigmoid": "logistic", "relu": "relu"}


def default_device() -> SoftBounds:
    """The device used when ``device=None``: ``SoftBounds(dw_min=0.001, dw_min_std=0.3)``.

    Returns
    -------
    memsim.physics.devices.soft_bounds.SoftBounds
        ``SoftBounds(dw_min=0.001, dw_min_std=0.3)``.
    """
    return SoftBounds(dw_min=0.001, dw_min_std=0.3)


def _nonbias(W: np.ndarray, bias: bool) -> np.ndarray:
    return np.asarray(W)[:, :-1] if bias else np.asarray(W)


def _bias_column(W: np.ndarray, bias: bool) -> np.ndarray:
    return np.asarray(W)[:, -1].copy() if bias else np.zeros(np.shape(W)[0])


class _AnalogEstimator(BaseEstimator):
    """Shared machinery: validation of the settings, training, the plug-in penalty."""

    _default_epochs = 100

    # ------------------------------------------------------------------ settings
    def _settings(self) -> dict[str, Any]:
        """Every constructor argument validated (memsim's messages, naming this estimator); nothing trained."""
        owner = type(self).__name__
        device = default_device() if self.device is None else self.device
        if not isinstance(device, PulsedDevice):
            raise invalid(owner, "device", "None or a device instance (memsim.physics.devices)", self.device)
        if self.update is not None and not isinstance(self.update, UpdateRule):
            raise invalid(owner, "update", "None or an UpdateRule instance (memsim.physics.updates)", self.update)
        if self.periphery is not None and not isinstance(self.periphery, Periphery):
            raise invalid(owner, "periphery", "None or a Periphery instance (memsim.physics.periphery)",
                          self.periphery)
        lr = check_float(owner, "lr", self.lr, 0.0, lo_open=True)
        epochs = check_int(owner, "epochs", self.epochs, 1)
        batch_size = check_int(owner, "batch_size", self.batch_size, 1)
        accumulate = check_bool(owner, "accumulate", self.accumulate)
        average_from = check_float(owner, "average_from", self.average_from, 0.0, 1.0, hi_open=True)
        schedule = check_choice(owner, "lr_schedule", self.lr_schedule, ("constant", "step"))
        steps = self.lr_step_epochs
        if isinstance(steps, (str, bytes)) or not isinstance(steps, (list, tuple)):
            raise invalid(owner, "lr_step_epochs", "a list or tuple of epochs (integers >= 1)", steps)
        steps = tuple(check_int(owner, "lr_step_epochs", e, 1) for e in steps)
        gamma = check_float(owner, "lr_gamma", self.lr_gamma, 0.0, lo_open=True)
        init_std = check_float(owner, "init_std", self.init_std, 0.0)
        fit_intercept = check_bool(owner, "fit_intercept", self.fit_intercept)
        max_tile = None if self.max_tile_size is None else check_int(owner, "max_tile_size", self.max_tile_size, 1)
        zero_shift = check_bool(owner, "zero_shift", self.zero_shift)
        backend = check_choice(owner, "backend", self.backend, BACKENDS)
        dtype = check_choice(owner, "dtype", self.dtype, DTYPES)
        seed = 0 if self.random_state is None else check_int(owner, "random_state", self.random_state, 0, 2 ** 63 - 1)
        config = TrainConfig(lr=lr, epochs=epochs, batch_size=batch_size, accumulate=accumulate,
                             average_from=average_from, lr_schedule=schedule, lr_step_epochs=steps, lr_gamma=gamma,
                             init_std=init_std)
        return {"device": device, "update": self.update, "periphery": self.periphery, "config": config,
                "bias": fit_intercept, "max_tile_size": max_tile, "zero_shift": zero_shift, "backend": backend,
                "dtype": dtype, "seed": seed}

    def _train(self, s: dict[str, Any], sizes: list[int], data: Dataset, loss: str, activation: str = "tanh"):
        """Build the network and train it in place (the one trainer); returns the :class:`TrainResult`."""
        model = AnalogMLP(sizes, activation, device=s["device"], update=s["update"], periphery=s["periphery"],
                          bias=s["bias"], max_tile_size=s["max_tile_size"], backend=s["backend"], dtype=s["dtype"],
                          seed=s["seed"], zero_shift=s["zero_shift"])
        return train(model, data, s["config"], s["seed"], loss=loss, progress=False)

    @staticmethod
    def _seen(s: dict[str, Any]) -> Any:
        """The device as the analysis sees it (effective weights under zero-shifting)."""
        return ZeroShifted(s["device"]) if s["zero_shift"] else s["device"]

    def _plugin(self, s: dict[str, Any], result) -> tuple[list[np.ndarray], float, float]:
        r"""Per-layer plug-in penalties :math:`\lambda_i = \overline{|g_i|} F'(w_s)` (bias column included,
        recorded gradients divided by the batch size for accumulated updates), their mean over the
        non-bias weights, and ``w_s``; NaN without a restoring symmetry point."""
        seen = self._seen(s)
        cfg = s["config"]
        per_event = cfg.batch_size if cfg.accumulate else 1
        slope = float(seen.asymmetry_slope())
        if constant_drift(seen) or not math.isfinite(slope) or slope < 0:
            lam = [np.full(np.shape(st["mean_abs_grad"]), math.nan) for st in result.statistics]
            return lam, math.nan, math.nan
        w_s, slope = symmetry(seen)
        lam = [slope * np.asarray(st["mean_abs_grad"]) / per_event for st in result.statistics]
        flat = np.concatenate([_nonbias(L, s["bias"]).ravel() for L in lam])
        return lam, float(np.mean(flat)), float(w_s)

    @staticmethod
    def _training_summary(result) -> dict[str, Any]:
        stats = result.statistics
        return {"training_path": result.path, "wall_s": result.wall_s,
                "pulses_up": sum(int(np.sum(st["pulses_up"])) for st in stats),
                "pulses_down": sum(int(np.sum(st["pulses_down"])) for st in stats),
                "events": int(stats[0]["events"]), "curves": result.curves}

    def _check_lambda(self, which: str) -> float:
        check_is_fitted(self)
        owner = f"{type(self).__name__}.as_ridge"
        if isinstance(which, str):
            name = check_choice(owner, "lam", which, ("fit", "pred", "plugin"))
            lam = getattr(self, f"lambda_{name}_")
        else:
            lam = which
        lam = check_float(owner, "lam", lam, 0.0)  # NaN / inf are refused with the message
        return lam


# ---------------------------------------------------------------------------- linear regression
class AnalogLinearRegression(RegressorMixin, _AnalogEstimator):
    r"""Linear least squares trained in place on a crossbar tile; the device adds an implicit ridge penalty.

    ``fit`` trains ``AnalogMLP([d, 1])`` (plus a bias column with ``fit_intercept``) on the MSE loss
    :math:`\frac{1}{2n}\|Xw - y\|^2` by per-sample SGD, on the fused compiled path where it applies (no
    periphery, one tile: ``summary_['training_path'] == 'fused'``), and applies the linear theory
    (:func:`memsim.analysis.penalty.summarize`) to the time-averaged weights. ``predict`` uses the
    time-averaged weights ``coef_``, ``intercept_``.

    Parameters
    ----------
    device : memsim.physics.devices.PulsedDevice or None
        Every cell's device model; ``None``: :func:`default_device`, ``SoftBounds(dw_min=0.001,
        dw_min_std=0.3)`` (weights in [-1, 1]).
    update : memsim.physics.updates.UpdateRule or None
        Pulse-count rule; ``None``: stochastic rounding.
    periphery : memsim.physics.periphery.Periphery or None
        DAC/ADC and read noise; ``None``: exact reads.
    lr : float
        Per-sample learning rate :math:`\eta` (:class:`memsim.models.config.TrainConfig`).
    epochs : int
        Passes over the training set.
    batch_size : int
        Samples per batch; per-sample updates unless ``accumulate``.
    accumulate : bool
        Program one event per batch with the summed gradient (digital accumulation).
    average_from : float
        Fraction of all updates after which weights and statistics are averaged, in [0, 1) (the averaging
        window is the last ``1 - average_from`` of all updates).
    lr_schedule : {'constant', 'step'}
        The learning-rate schedule ('step': multiply by ``lr_gamma`` at each epoch of ``lr_step_epochs``).
    lr_step_epochs : tuple of int
        Epochs at which the 'step' schedule multiplies the learning rate by ``lr_gamma``.
    lr_gamma : float
        Factor of the 'step' schedule.
    init_std : float
        Initial weights ~ N(0, init_std^2) from the run seed (0: all zero).
    fit_intercept : bool
        A bias column on the device (module docstring: excluded from every metric; the twin fits an
        unpenalised intercept).
    max_tile_size : int or None
        Split the layer into tiles of at most this many rows and columns.
    zero_shift : bool
        Reference every cell at its symmetry point (the penalty then acts towards 0).
    backend : {'numba', 'numpy', 'cupy', 'auto'}
        The compute backend.
    dtype : {'float64', 'float32'}
        Storage dtype of the weights.
    random_state : int or None
        Run seed (data order, initial weights, device noise); ``None`` means 0.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Time-averaged weights (the mean over the averaging window).
    coef_final_ : ndarray of shape (n_features,)
        Weights at the end of training.
    intercept_, intercept_final_ : float
        The bias weight (time-averaged, final); 0.0 without ``fit_intercept``.
    n_features_in_ : int
    lambda_fit_ : float
        The ridge lambda (memsim convention, module docstring) whose solution is nearest ``coef_``
        (:func:`memsim.compare.ridge.fit_lambda`; on the centred data with ``fit_intercept``).
    lambda_pred_ : float
        The penalty predicted from data and device alone (:func:`memsim.analysis.penalty.predict_lambda`,
        mean of the per-weight values; NaN where no prediction exists).
    lambda_plugin_ : float
        :math:`\overline{|g_i|}F'(w_s)` from the statistics recorded during training, mean over the
        feature weights.
    ridge_path_distance_ : float
        :math:`\min_\lambda\|m - w_{\rm ridge}(\lambda)\| / \|m - w_{\rm OLS}\|` (0: on the ridge path).
    summary_ : dict
        Everything :func:`~memsim.analysis.penalty.summarize` returns (its ``test_*`` entries are on
        the TRAINING data: an estimator has no test set) plus ``training_path``, ``pulses_up``,
        ``pulses_down``, ``events``, ``wall_s``, ``curves``, ``n_samples``, ``ridge_on_centred_data``
        (whether the linear theory used the centred data).
    """

    def __init__(self, device=None, update=None, periphery=None, *, lr=0.005, epochs=200, batch_size=1,
                 accumulate=False, average_from=0.5, lr_schedule="constant", lr_step_epochs=(), lr_gamma=0.1,
                 init_std=0.0, fit_intercept=True, max_tile_size=None, zero_shift=False, backend="numba",
                 dtype="float64", random_state=None):
        self.device = device
        self.update = update
        self.periphery = periphery
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.accumulate = accumulate
        self.average_from = average_from
        self.lr_schedule = lr_schedule
        self.lr_step_epochs = lr_step_epochs
        self.lr_gamma = lr_gamma
        self.init_std = init_std
        self.fit_intercept = fit_intercept
        self.max_tile_size = max_tile_size
        self.zero_shift = zero_shift
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state

    def fit(self, X, y):
        """Train in place on ``(X, y)`` (``y`` of shape (n,)); returns ``self``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training inputs.
        y : array_like of shape (n_samples,)
            Training targets.

        Returns
        -------
        object
            The fitted estimator (``self``).
        """
        s = self._settings()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64, ensure_min_samples=2)
        y = np.asarray(y, dtype=np.float64)
        n, d = X.shape
        bias = s["bias"]
        result = self._train(s, [d, 1], Dataset(X, y[:, None], X, y[:, None]), "mse")
        m_full, f_full = result.weights_mean[0][0], result.weights_final[0][0]
        self.coef_, self.coef_final_ = m_full[:d].copy(), f_full[:d].copy()
        self.intercept_ = float(m_full[d]) if bias else 0.0
        self.intercept_final_ = float(f_full[d]) if bias else 0.0
        stats = result.statistics[0]
        # The linear theory on the feature weights; with an intercept, on the centred data (what
        # Ridge(fit_intercept=True) solves). The bias entry of every vector is left out.
        Xa, ya = (X - X.mean(axis=0), y - y.mean()) if bias else (X, y)
        cfg, seen = s["config"], self._seen(s)
        slope = float(seen.asymmetry_slope())
        if math.isfinite(slope) and slope >= 0 and np.any(Xa):
            summary = summarize(Xa, ya, Xa, ya, self.coef_final_, self.coef_, seen,
                                mean_abs_grad=stats["mean_abs_grad"][0][:d],
                                mean_abs_grad_w=stats["mean_abs_grad_w"][0][:d],
                                batch_size=min(cfg.batch_size, n), accumulate=cfg.accumulate, bias=False,
                                lr=cfg.lr, rule=s["update"])
        else:  # a repelling symmetry point (no Tikhonov form) or X = 0 (a one-point path): the ridge fit only
            lam_fit, dist = fit_lambda(self.coef_, Xa, ya)
            summary = {"lambda_fit": lam_fit, "lambda_pred": math.nan, "lambda_plugin": math.nan,
                       "ridge_path_distance": relative_distance(dist, self.coef_, ridge(Xa, ya, 0.0)),
                       "regime_warnings": ["no_symmetry_point: F'(w_s) < 0, no Tikhonov form"]}
        self.lambda_fit_ = float(summary["lambda_fit"])
        self.lambda_pred_ = float(summary["lambda_pred"])
        self.lambda_plugin_ = float(summary["lambda_plugin"])
        self.ridge_path_distance_ = float(summary["ridge_path_distance"])
        self.summary_ = {**summary, **self._training_summary(result), "n_samples": n,
                         "ridge_on_centred_data": bias}
        return self

    def predict(self, X):
        """``X @ coef_ + intercept_`` (the time-averaged weights, evaluated exactly).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            Predictions of the time-averaged weights.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_

    def as_ridge(self, lam="fit", n_samples=None):
        r"""The scikit-learn :class:`~sklearn.linear_model.Ridge` with the penalty this fit imposed (unfitted).

        memsim's ridge minimises :math:`\frac{1}{2n}\|Xw - y\|^2 + \frac{\lambda}{2}\|w\|^2`;
        scikit-learn's ``Ridge`` minimises :math:`\|Xw - y\|^2 + \alpha\|w\|^2`, the same objective
        times :math:`2n`, so ``alpha = n * lambda`` (``n`` = training samples). ``fit_intercept`` is
        this estimator's: the twin's intercept is unpenalised and its coefficients are memsim's
        ridge on the centred data (module docstring). Fit it on the same ``(X, y)``.

        Parameters
        ----------
        lam : {'fit', 'pred', 'plugin'} or float
            ``lambda_fit_`` (default), ``lambda_pred_``, ``lambda_plugin_``, or a value >= 0.
        n_samples : int, optional
            Samples of the data it will be fit on; default: those of this fit.

        Returns
        -------
        sklearn.linear_model.Ridge
            The unfitted twin, ``alpha = n * lambda``.
        """
        from sklearn.linear_model import Ridge

        lam = self._check_lambda(lam)
        n = self.summary_["n_samples"] if n_samples is None else check_int("as_ridge", "n_samples", n_samples, 1)
        return Ridge(alpha=n * lam, fit_intercept=self.fit_intercept)


# ---------------------------------------------------------------------------- classifiers
class _AnalogClassifier(ClassifierMixin, _AnalogEstimator):
    """Labels, losses, predictions and the plug-in penalty shared by both classifiers."""

    def _hidden(self) -> list[int]:
        return []

    def _activation(self) -> str:
        return "tanh"

    def _fit_network(self, X, y):
        s = self._settings()
        owner = type(self).__name__
        hidden, activation = self._hidden(), self._activation()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        if K < 2:
            raise invalid(owner, "y", "labels of at least two classes", f"only one class ({self.classes_[0]!r})")
        loss = "logistic" if K == 2 else "softmax"
        n, d = X.shape
        sizes = [d, *hidden, 1 if K == 2 else K]
        data = ClassificationData(X, y_enc, X, y_enc, None, n_classes=K)
        result = self._train(s, sizes, data, loss, activation)
        bias = s["bias"]
        self.weights_ = [np.asarray(W).copy() for W in result.weights_mean]
        self.weights_final_ = [np.asarray(W).copy() for W in result.weights_final]
        lam, lam_mean, w_s = self._plugin(s, result)
        self.lambda_plugin_ = lam_mean
        final = self._decision(self.weights_final_, X)
        summary = {**self._training_summary(result), "n_samples": n, "loss": loss, "layer_sizes": sizes,
                   "w_s": w_s, "lambda_plugin_per_weight": [_nonbias(L, bias) for L in lam],
                   "train_accuracy_mean_weights": float(np.mean(self._labels(self._decision(self.weights_, X))
                                                                 == y_enc)),
                   "train_accuracy_final": float(np.mean(self._labels(final) == y_enc))}
        return s, X, y_enc, summary

    def _decision(self, weights, X) -> np.ndarray:
        bias = self.fit_intercept
        act = self._activation()
        out = mlp_forward(weights, X, act, bias)[0]
        return out[:, 0] if out.shape[1] == 1 else out

    @staticmethod
    def _labels(z: np.ndarray) -> np.ndarray:
        return (z > 0).astype(np.int64) if z.ndim == 1 else np.argmax(z, axis=1)

    def decision_function(self, X):
        """Logits of the time-averaged network: shape (n,) for two classes (``classes_[1]`` where > 0), else (n, K)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._decision(self.weights_, X)

    def predict_proba(self, X):
        """Class probabilities, shape (n, K): the logistic function of the logit, or the softmax of the logits."""
        z = self.decision_function(X)
        if z.ndim == 1:
            p = expit(z)
            return np.column_stack([1.0 - p, p])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Class labels of the time-averaged network."""
        check_is_fitted(self)
        return self.classes_[self._labels(self.decision_function(X))]


class AnalogLogisticRegression(_AnalogClassifier):
    r"""Logistic (two classes) or softmax (more) regression trained in place; the device adds an implicit L2 penalty.

    ``fit`` trains ``AnalogMLP([d, 1])`` on the logistic loss for two classes, ``AnalogMLP([d, K])``
    on the softmax cross-entropy for more (the over-complete parametrisation, one row per class,
    which scikit-learn's multinomial ``LogisticRegression`` also uses), by per-sample SGD. Predictions
    use the time-averaged weights.

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice or None
        Every cell's device model; ``None``: :func:`default_device`, ``SoftBounds(dw_min=0.001,
        dw_min_std=0.3)`` (weights in [-1, 1]).
    update : memsim.physics.updates.UpdateRule or None
        Pulse-count rule; ``None``: stochastic rounding.
    periphery : memsim.physics.periphery.Periphery or None
        DAC/ADC and read noise; ``None``: exact reads.
    lr : float
        Per-sample learning rate :math:`\eta` (:class:`memsim.models.config.TrainConfig`).
    epochs : int
        Passes over the training set.
    batch_size : int
        Samples per batch; per-sample updates unless ``accumulate``.
    accumulate : bool
        Program one event per batch with the summed gradient (digital accumulation).
    average_from : float
        Fraction of all updates after which weights and statistics are averaged, in [0, 1) (the averaging
        window is the last ``1 - average_from`` of all updates).
    lr_schedule : {'constant', 'step'}
        The learning-rate schedule ('step': multiply by ``lr_gamma`` at each epoch of ``lr_step_epochs``).
    lr_step_epochs : tuple of int
        Epochs at which the 'step' schedule multiplies the learning rate by ``lr_gamma``.
    lr_gamma : float
        Factor of the 'step' schedule.
    init_std : float
        Initial weights ~ N(0, init_std^2) from the run seed (0: all zero).
    fit_intercept : bool
        A bias column on the device (module docstring: excluded from every metric; the twin fits an
        unpenalised intercept).
    max_tile_size : int or None
        Split the layer into tiles of at most this many rows and columns.
    zero_shift : bool
        Reference every cell at its symmetry point (the penalty then acts towards 0).
    backend : {'numba', 'numpy', 'cupy', 'auto'}
        The compute backend.
    dtype : {'float64', 'float32'}
        Storage dtype of the weights.
    random_state : int or None
        Run seed (data order, initial weights, device noise); ``None`` means 0.
    compute_lambda_fit : bool
        Fit ``lambda_fit_`` after training (about ten exact L-BFGS solves; ``False`` leaves it NaN).

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Time-averaged weights (scikit-learn's layout).
    coef_final_ : same shape
        Weights at the end of training.
    intercept_, intercept_final_ : ndarray of shape (1,) or (n_classes,)
        Bias column (zeros without ``fit_intercept``).
    classes_ : ndarray
    n_features_in_ : int
    lambda_plugin_ : float
        Mean over the feature weights of :math:`\lambda_i = \overline{|g_i|}\,F'(w_s)` from the
        recorded statistics (divided by the batch size for accumulated updates); NaN for a device
        without a restoring symmetry point.
    lambda_fit_ : float
        The single :math:`\lambda` whose exact L2-penalised optimum (:func:`memsim.compare.digital.logistic_regression`
        / :func:`~memsim.compare.digital.softmax_regression`, intercept unpenalised, penalty towards 0,
        the objective of :meth:`as_ridge`) is nearest ``coef_`` in weight space: a bounded 1-D search
        over :math:`\log_{10}\lambda` within 2 decades of ``lambda_plugin_`` (to 0.05 decades; about ten
        L-BFGS solves). NaN when ``lambda_plugin_`` is NaN or 0, or with ``compute_lambda_fit=False``.
    lambda_pred_ : float
        NaN: memsim has no data-and-device-only prediction of the penalty for classifiers (the linear
        theory's :func:`~memsim.analysis.penalty.predict_lambda` is for the MSE loss).
    weight_distance_fit_ : float
        :math:`\|m - w_{\rm L2}(\lambda_{\rm fit})\|` over the feature weights.
    summary_ : dict
        ``training_path``, ``curves``, pulses, ``loss``, ``layer_sizes``, ``w_s``,
        ``lambda_plugin_per_weight`` (array of the feature weights), training accuracies of the
        final and time-averaged weights, ``n_samples``, ``lambda_fit_distance``.
    """

    def __init__(self, device=None, update=None, periphery=None, *, lr=0.005, epochs=100, batch_size=1,
                 accumulate=False, average_from=0.5, lr_schedule="constant", lr_step_epochs=(), lr_gamma=0.1,
                 init_std=0.0, fit_intercept=True, max_tile_size=None, zero_shift=False, backend="numba",
                 dtype="float64", random_state=None, compute_lambda_fit=True):
        self.compute_lambda_fit = compute_lambda_fit
        self.device = device
        self.update = update
        self.periphery = periphery
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.accumulate = accumulate
        self.average_from = average_from
        self.lr_schedule = lr_schedule
        self.lr_step_epochs = lr_step_epochs
        self.lr_gamma = lr_gamma
        self.init_std = init_std
        self.fit_intercept = fit_intercept
        self.max_tile_size = max_tile_size
        self.zero_shift = zero_shift
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state

    def fit(self, X, y):
        """Train in place on ``(X, y)`` (any labels; at least two classes); returns ``self``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training inputs.
        y : array_like of shape (n_samples,)
            Training labels (any labels; at least two classes).

        Returns
        -------
        object
            The fitted estimator (``self``).
        """
        check_bool(type(self).__name__, "compute_lambda_fit", self.compute_lambda_fit)
        s, X, y_enc, summary = self._fit_network(X, y)
        bias = s["bias"]
        W, Wf = self.weights_[0], self.weights_final_[0]
        self.coef_, self.coef_final_ = _nonbias(W, bias).copy(), _nonbias(Wf, bias).copy()
        self.intercept_, self.intercept_final_ = _bias_column(W, bias), _bias_column(Wf, bias)
        self.lambda_pred_ = math.nan
        compute = check_bool(type(self).__name__, "compute_lambda_fit", self.compute_lambda_fit)
        self.lambda_fit_, self.weight_distance_fit_ = (self._fit_lambda(X, y_enc, bias) if compute
                                                       else (math.nan, math.nan))
        self.summary_ = {**summary, "lambda_fit_distance": self.weight_distance_fit_}
        return self

    def _exact(self, X, y_enc, lam: float, bias: bool) -> np.ndarray:
        """Feature weights of the exact L2 optimum at ``lam`` (towards 0, intercept unpenalised)."""
        if len(self.classes_) == 2:
            return logistic_regression(X, y_enc, lam, bias=bias, tol=1e-6, max_iter=500, strict=False)["coef"][None, :]
        return softmax_regression(X, y_enc, lam, n_classes=len(self.classes_), bias=bias, tol=1e-6, max_iter=500,
                                  strict=False)["coef"]

    def _fit_lambda(self, X, y_enc, bias: bool) -> tuple[float, float]:
        scale = self.lambda_plugin_
        if not (math.isfinite(scale) and scale > 0):
            return math.nan, math.nan
        cache: dict[float, float] = {}

        def distance(u: float) -> float:
            if u not in cache:
                cache[u] = float(np.linalg.norm(self.coef_ - self._exact(X, y_enc, scale * 10.0 ** u, bias)))
            return cache[u]

        minimize_scalar(distance, bounds=(-2.0, 2.0), method="bounded", options={"xatol": 0.05, "maxiter": 10})
        best = min(cache, key=cache.get)
        return scale * 10.0 ** best, cache[best]

    def as_ridge(self, lam="fit", n_samples=None):
        r"""The scikit-learn :class:`~sklearn.linear_model.LogisticRegression` with this fit's penalty (unfitted).

        memsim's L2 classifier minimises the MEAN log-loss plus :math:`\frac{\lambda}{2}\|w\|^2`
        (:mod:`memsim.compare.digital`); scikit-learn's minimises :math:`C\sum_b\ell_b + \frac12\|w\|^2
        = Cn\,\big(\frac1n\sum_b\ell_b + \frac{1}{2Cn}\|w\|^2\big)`, the same minimiser exactly when
        ``C = 1 / (n * lambda)``. The
        intercept is unpenalised in both (``fit_intercept`` is this estimator's); more than two
        classes use the multinomial loss in both. Fit it on the same ``(X, y)``.

        Parameters
        ----------
        lam : {'fit', 'plugin'} or float
            ``lambda_fit_`` (default), ``lambda_plugin_``, or a value > 0 (``'pred'`` is NaN here).
        n_samples : int, optional
            Samples of the data it will be fit on; default: those of this fit.

        Returns
        -------
        sklearn.linear_model.LogisticRegression
            The unfitted twin, ``C = 1 / (n * lambda)``.
        """
        from sklearn.linear_model import LogisticRegression

        lam = self._check_lambda(lam)
        if lam == 0:
            raise invalid(f"{type(self).__name__}.as_ridge", "lam", "a float in (0, inf)", lam)
        n = self.summary_["n_samples"] if n_samples is None else check_int("as_ridge", "n_samples", n_samples, 1)
        return LogisticRegression(C=1.0 / (n * lam), fit_intercept=self.fit_intercept, tol=1e-10, max_iter=10000)


class AnalogMLPClassifier(_AnalogClassifier):
    r"""A multi-layer perceptron classifier trained in place, every layer on crossbar tiles.

    ``fit`` trains ``AnalogMLP([d, *hidden_layer_sizes, 1 or K], activation)`` (logistic output for two
    classes, softmax for more; hidden layers Glorot-initialised from ``random_state`` unless
    ``init_std > 0``) by per-sample SGD with back-propagation through the tiles. Predictions use the
    time-averaged weights.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        At least one hidden layer, each of size >= 1.
    activation : {'tanh', 'sigmoid', 'relu'}
        Of the hidden layers.
    device : memsim.physics.devices.base.PulsedDevice or None
        Every cell's device model; ``None``: :func:`default_device`, ``SoftBounds(dw_min=0.001,
        dw_min_std=0.3)`` (weights in [-1, 1]).
    update : memsim.physics.updates.UpdateRule or None
        Pulse-count rule; ``None``: stochastic rounding.
    periphery : memsim.physics.periphery.Periphery or None
        DAC/ADC and read noise; ``None``: exact reads.
    lr : float
        Per-sample learning rate :math:`\eta` (:class:`memsim.models.config.TrainConfig`).
    epochs : int
        Passes over the training set.
    batch_size : int
        Samples per batch; per-sample updates unless ``accumulate``.
    accumulate : bool
        Program one event per batch with the summed gradient (digital accumulation).
    average_from : float
        Fraction of all updates after which weights and statistics are averaged, in [0, 1) (the averaging
        window is the last ``1 - average_from`` of all updates).
    lr_schedule : {'constant', 'step'}
        The learning-rate schedule ('step': multiply by ``lr_gamma`` at each epoch of ``lr_step_epochs``).
    lr_step_epochs : tuple of int
        Epochs at which the 'step' schedule multiplies the learning rate by ``lr_gamma``.
    lr_gamma : float
        Factor of the 'step' schedule.
    init_std : float
        Initial weights ~ N(0, init_std^2) from the run seed (0: all zero).
    fit_intercept : bool
        A bias column on the device (module docstring: excluded from every metric; the twin fits an
        unpenalised intercept).
    max_tile_size : int or None
        Split the layer into tiles of at most this many rows and columns.
    zero_shift : bool
        Reference every cell at its symmetry point (the penalty then acts towards 0).
    backend : {'numba', 'numpy', 'cupy', 'auto'}
        The compute backend.
    dtype : {'float64', 'float32'}
        Storage dtype of the weights.
    random_state : int or None
        Run seed (data order, initial weights, device noise); ``None`` means 0.

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Time-averaged weights per layer in :class:`sklearn.neural_network.MLPClassifier`'s layout:
        ``coefs_[l]`` of shape (n_in, n_out), ``intercepts_[l]`` of shape (n_out,) (zeros without
        ``fit_intercept``).
    coefs_final_, intercepts_final_ : list of ndarray
        The same at the end of training.
    weights_, weights_final_ : list of ndarray
        memsim's layout: per layer (n_out, n_in + bias), bias column last.
    classes_, n_features_in_
    lambda_plugin_ : float
        Mean over all non-bias weights of all layers of :math:`\lambda_i = \overline{|g_i|}\,F'(w_s)`
        (recorded statistics); per layer in ``summary_['lambda_plugin_per_weight']``.
    lambda_fit_, lambda_pred_ : float
        NaN: a network has no closed-form penalised optimum to fit a lambda to, and no prediction from
        data and device alone (:mod:`memsim.analysis.network` fits a global weight decay by training
        digital networks, too slow for ``fit``; run ``memsim run`` with ``model.kind = 'mlp'`` for it).
    summary_ : dict
        As :class:`AnalogLogisticRegression` (without ``lambda_fit_distance``).
    """

    def __init__(self, hidden_layer_sizes=(16,), activation="tanh", device=None, update=None, periphery=None, *,
                 lr=0.005, epochs=100, batch_size=1, accumulate=False, average_from=0.5, lr_schedule="constant",
                 lr_step_epochs=(), lr_gamma=0.1, init_std=0.0, fit_intercept=True, max_tile_size=None,
                 zero_shift=False, backend="numba", dtype="float64", random_state=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.device = device
        self.update = update
        self.periphery = periphery
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.accumulate = accumulate
        self.average_from = average_from
        self.lr_schedule = lr_schedule
        self.lr_step_epochs = lr_step_epochs
        self.lr_gamma = lr_gamma
        self.init_std = init_std
        self.fit_intercept = fit_intercept
        self.max_tile_size = max_tile_size
        self.zero_shift = zero_shift
        self.backend = backend
        self.dtype = dtype
        self.random_state = random_state

    def _hidden(self) -> list[int]:
        owner = type(self).__name__
        h = self.hidden_layer_sizes
        if isinstance(h, numbers.Integral) and not isinstance(h, bool):
            h = (h,)
        if isinstance(h, (str, bytes)) or not isinstance(h, (list, tuple)) or len(h) == 0:
            raise invalid(owner, "hidden_layer_sizes", "a non-empty tuple of layer sizes (integers >= 1)",
                          self.hidden_layer_sizes)
        return [check_int(owner, "hidden_layer_sizes", k, 1) for k in h]

    def _activation(self) -> str:
        return check_choice(type(self).__name__, "activation", self.activation, tuple(ACTIVATIONS))

    def _settings(self) -> dict[str, Any]:
        s = super()._settings()
        self._hidden()
        self._activation()
        return s

    def fit(self, X, y):
        """Train in place on ``(X, y)`` (any labels; at least two classes); returns ``self``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training inputs.
        y : array_like of shape (n_samples,)
            Training labels (any labels; at least two classes).

        Returns
        -------
        object
            The fitted estimator (``self``).
        """
        s, X, y_enc, summary = self._fit_network(X, y)
        bias = s["bias"]
        self.coefs_ = [_nonbias(W, bias).T.copy() for W in self.weights_]
        self.intercepts_ = [_bias_column(W, bias) for W in self.weights_]
        self.coefs_final_ = [_nonbias(W, bias).T.copy() for W in self.weights_final_]
        self.intercepts_final_ = [_bias_column(W, bias) for W in self.weights_final_]
        self.lambda_fit_ = math.nan
        self.lambda_pred_ = math.nan
        self.summary_ = summary
        return self

    def as_ridge(self, lam="plugin", n_samples=None):
        r"""scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` with this fit's penalty (unfitted).

        memsim's objective is the MEAN log-loss plus :math:`\frac{\lambda}{2}\|W\|^2` over the non-bias
        weights; ``MLPClassifier`` adds :math:`\frac{\alpha}{2n}\|W\|^2` to its mean log-loss (biases
        unpenalised), so ``alpha = n * lambda``. Same layers, activation (memsim's ``'sigmoid'`` is
        scikit-learn's ``'logistic'``), output (logistic for two classes, softmax for more) and
        intercepts; the objective is the same, the solution is not (a network's loss is not convex,
        and the device's penalty is per weight: ``lambda_plugin_`` is its mean).

        Parameters
        ----------
        lam : 'plugin' or float
            ``lambda_plugin_`` (default) or a value >= 0.
        n_samples : int, optional
            Samples of the data it will be fit on; default: those of this fit.

        Returns
        -------
        sklearn.neural_network.MLPClassifier
            The unfitted twin with this fit's penalty.
        """
        from sklearn.neural_network import MLPClassifier

        lam = self._check_lambda(lam)
        n = self.summary_["n_samples"] if n_samples is None else check_int("as_ridge", "n_samples", n_samples, 1)
        return MLPClassifier(hidden_layer_sizes=tuple(self._hidden()),
                             activation=SKLEARN_ACTIVATIONS[self._activation()], alpha=n * lam,
                             random_state=self.random_state)
