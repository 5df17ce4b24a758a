r"""Digital baselines for networks: exact L2 logistic and softmax regression, SGD-trained MLPs with weight decay.

Conventions (docs/theory.md, section '2.0 The drift formula', carried over to classification): the objective
is the MEAN loss
plus a generalized-Tikhonov penalty,

.. math::  J(\theta) = \frac1n\sum_{b=1}^n \ell(o_b, t_b) + \frac12\sum_i \lambda_i\,(w_i - w_{s,i})^2,

with a scalar :math:`\lambda` meaning :math:`\lambda_i = \lambda` on every weight and the bias
unpenalised (:math:`\lambda_i = 0` on the bias column). The SGD baselines apply the penalty per
programming event, as the device does (:func:`train_digital`).

Only NumPy, SciPy and the network maths of :mod:`memsim.models.mlp` (:func:`~memsim.models.mlp.mlp_forward`,
:func:`~memsim.models.mlp.mlp_backward`, the losses) are used: no tile, backend or training code.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_expit, logsumexp

from ..errors import ConvergenceError, DivergenceError
from ..network_math import evaluate, get_loss, mlp_backward, mlp_forward
from ..params import check_array, check_bool, check_float, check_int, check_per_weight, invalid

__all__ = ["logistic_regression", "softmax_regression", "train_digital", "penalty_matrices",
           "fit_weight_decay", "flat_weights", "DIVERGENCE_LIMIT"]

#: :func:`train_digital` stops with :class:`~memsim.errors.DivergenceError` when a weight is non-finite
#: or larger than this in magnitude at the end of an epoch (no sensible network gets near it; the
#: check costs one ``max|W|`` per layer and epoch).
DIVERGENCE_LIMIT = 1e100


# ---------------------------------------------------------------------------- exact L2 classifiers
def _lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], theta0: np.ndarray, tol: float, max_iter: int,
           owner: str, strict: bool, separates: Callable[[np.ndarray], bool] | None = None
           ) -> tuple[np.ndarray, dict[str, Any]]:
    """Minimise with L-BFGS-B (analytic gradient) until ``max|grad| <= tol``.

    ``separates(theta)`` (given when no weight is penalised): whether the solution classifies every
    training sample correctly; then no finite optimum exists (the loss only tends to 0 as the weights
    grow), and a small gradient is not convergence.
    """
    res = minimize(fun, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0, "maxcor": 30, "maxls": 50})
    grad_norm = float(np.max(np.abs(fun(res.x)[1]))) if res.x.size else 0.0
    separable = separates is not None and separates(res.x)
    converged = grad_norm <= 10 * tol and not separable
    if strict and not converged:
        raise ConvergenceError(f"{owner}: L-BFGS stopped with max|gradient| = {grad_norm:.3g} > {10 * tol:.3g} after "
                               f"{res.nit} iterations ({' '.join(str(res.message).split())})"
                               + (", and it separates the training classes perfectly" if separable else "")
                               + ". At lam = 0 the optimum does not exist when the classes are separable; use lam > 0.")
    return res.x, {"converged": converged, "separable": separable, "grad_norm": grad_norm, "n_iter": int(res.nit),
                   "loss": float(res.fun)}


def logistic_regression(X: Any, y: Any, lam: Any = 0.0, *, w_s: Any = 0.0, bias: bool = True,
                        tol: float = 1e-8, max_iter: int = 20000, strict: bool = True) -> dict[str, Any]:
    r"""Exact L2-penalised binary logistic regression (L-BFGS with the analytic gradient).

    .. math::
        \min_{w, c}\ \frac1n\sum_b \Big[\log\big(1 + e^{z_b}\big) - y_b z_b\Big]
        + \frac12\sum_i\lambda_i (w_i - w_{s,i})^2, \qquad z_b = x_b^\top w + c

    .. math::
        \nabla_w = \frac1n X^\top(\sigma(z) - y) + \lambda\odot(w - w_s), \qquad
        \partial_c = \frac1n\sum_b(\sigma(z_b) - y_b)

    The intercept :math:`c` is unpenalised.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs, one row per sample.
    y : array_like, shape (n,)
        Labels in {0, 1}.
    lam : float or array_like, shape (d,)
        :math:`\lambda \ge 0` (a scalar applies to every weight).
    w_s : float or array_like, shape (d,)
        Reference point of the penalty.
    bias : bool
        Fit the intercept :math:`c` (else :math:`c = 0`).
    tol : float
        Stop when :math:`\max|\nabla| \le` ``tol``.
    max_iter : int
        Maximum number of optimizer iterations.
    strict : bool
        Raise :class:`~memsim.analysis.penalty.ConvergenceError` when the gradient is not below ``10 * tol``
        at the end, or when no weight is penalised and the solution separates the two classes
        perfectly (then no finite optimum exists; the loss only tends to 0).

    Returns
    -------
    dict
        ``coef`` (d,), ``intercept`` (float), ``loss`` (the objective), ``converged``, ``separable``,
        ``grad_norm``, ``n_iter``.
    """
    owner = "logistic_regression"
    X = check_array(owner, "X", X, ("n", "d"))
    n, d = X.shape
    y = check_array(owner, "y", y, (n,))
    if not np.all((y == 0) | (y == 1)):
        raise invalid(owner, "y", "labels in {0, 1}", sorted(set(np.unique(y).tolist()))[:5])
    lam = check_per_weight(owner, "lam", lam, d, lo=0.0)
    w_s = check_per_weight(owner, "w_s", w_s, d)
    bias = check_bool(owner, "bias", bias)
    tol = check_float(owner, "tol", tol, 0.0, lo_open=True)
    max_iter = check_int(owner, "max_iter", max_iter, 1)
    s = 2.0 * y - 1.0

    def fun(theta):
        w, c = theta[:d], (theta[d] if bias else 0.0)
        z = X @ w + c
        r = expit(z) - y
        dw = w - w_s
        f = float(-np.mean(log_expit(s * z)) + 0.5 * np.sum(lam * dw * dw))
        g = X.T @ r / n + lam * dw
        return f, (np.append(g, np.mean(r)) if bias else g)

    def separates(theta):
        return bool(np.all(s * (X @ theta[:d] + (theta[d] if bias else 0.0)) > 0))

    theta, info = _lbfgs(fun, np.zeros(d + int(bias)), tol, max_iter, owner, strict,
                         separates if not np.any(lam) else None)
    return {"coef": theta[:d], "intercept": float(theta[d]) if bias else 0.0, **info}


def softmax_regression(X: Any, y: Any, lam: Any = 0.0, *, n_classes: int | None = None, w_s: Any = 0.0,
                       bias: bool = True, tol: float = 1e-8, max_iter: int = 20000,
                       strict: bool = True) -> dict[str, Any]:
    r"""Exact L2-penalised multinomial (softmax) logistic regression (L-BFGS with the analytic gradient).

    .. math::
        \min_{W, c}\ \frac1n\sum_b\Big[\log\sum_k e^{z_{bk}} - z_{b y_b}\Big]
        + \frac12\sum_{k,i}\lambda_{ki}(W_{ki} - W_{s,ki})^2, \qquad z_b = W x_b + c

    .. math::
        \nabla_W = \frac1n (P - Y)^\top X + \lambda\odot(W - W_s), \qquad \nabla_c = \frac1n\sum_b (p_b - e_{y_b})

    (:math:`P` the softmax probabilities, :math:`Y` the one-hot labels). Every class has its own row
    (the over-complete parametrisation); the intercepts are unpenalised. The loss is invariant under
    adding one vector to every row; L-BFGS started from zero stays in the subspace where the rows
    (and intercepts) sum to zero, because every gradient does (for :math:`W_s` with zero column sums), so
    at :math:`\lambda = 0` the minimum-norm optimum is returned.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs, one row per sample.
    y : array_like, shape (n,)
        Labels in ``0 .. n_classes - 1``.
    lam : float or array_like, shape (K, d)
        :math:`\lambda \ge 0` (a scalar applies to every weight).
    n_classes : int, optional
        Default: ``max(y) + 1``.
    w_s : float or array_like, shape (K, d)
        Reference point of the penalty.
    bias : bool
        Fit the intercepts (else 0).
    tol : float
        Stop when :math:`\max|\nabla| \le` ``tol``.
    max_iter : int
        Maximum number of optimizer iterations.
    strict : bool
        Raise on non-convergence, as in :func:`logistic_regression`.

    Returns
    -------
    dict
        ``coef`` (K, d), ``intercept`` (K,), ``loss``, ``converged``, ``separable``, ``grad_norm``, ``n_iter``.
    """
    owner = "softmax_regression"
    X = check_array(owner, "X", X, ("n", "d"))
    n, d = X.shape
    y = check_array(owner, "y", y, (n,))
    if not np.all((y >= 0) & (y == np.round(y))):
        raise invalid(owner, "y", "integer labels >= 0", sorted(set(np.unique(y).tolist()))[:5])
    y = y.astype(np.int64)
    K = int(y.max()) + 1 if n_classes is None else check_int(owner, "n_classes", n_classes, 2)
    if y.max() >= K:
        raise invalid(owner, "n_classes", f"more than the largest label {int(y.max())}", n_classes)
    lam = check_per_weight(owner, "lam", np.ravel(lam) if np.ndim(lam) else lam, K * d, lo=0.0).reshape(K, d)
    w_s = check_per_weight(owner, "w_s", np.ravel(w_s) if np.ndim(w_s) else w_s, K * d).reshape(K, d)
    bias = check_bool(owner, "bias", bias)
    tol = check_float(owner, "tol", tol, 0.0, lo_open=True)
    max_iter = check_int(owner, "max_iter", max_iter, 1)
    Y = np.eye(K)[y]
    rows = np.arange(n)

    def fun(theta):
        W = theta[:K * d].reshape(K, d)
        c = theta[K * d:] if bias else 0.0
        Z = X @ W.T + c
        lse = logsumexp(Z, axis=1, keepdims=True)
        R = np.exp(Z - lse) - Y
        dW = W - w_s
        f = float(np.mean(lse[:, 0] - Z[rows, y]) + 0.5 * np.sum(lam * dW * dW))
        gW = R.T @ X / n + lam * dW
        return f, (np.concatenate([gW.ravel(), R.mean(axis=0)]) if bias else gW.ravel())

    def separates(theta):
        Z = X @ theta[:K * d].reshape(K, d).T + (theta[K * d:] if bias else 0.0)
        Z_true = Z[rows, y].copy()
        Z[rows, y] = -np.inf
        return bool(np.all(Z_true > Z.max(axis=1)))

    theta, info = _lbfgs(fun, np.zeros(K * d + (K if bias else 0)), tol, max_iter, owner, strict,
                         separates if not np.any(lam) else None)
    return {"coef": theta[:K * d].reshape(K, d), "intercept": theta[K * d:] if bias else np.zeros(K), **info}


# ---------------------------------------------------------------------------- SGD-trained networks
def penalty_matrices(weights: list[np.ndarray], value: Any, bias: bool, name: str,
                     owner: str = "train_digital") -> list[np.ndarray]:
    """Per-layer arrays of a penalty parameter (``weight_decay`` or ``w_s``).

    A float applies to every non-bias weight (the bias column gets 0); a list has one entry per
    layer, each broadcast to the layer's full shape (bias column included, as given).

    Parameters
    ----------
    weights : list of numpy.ndarray
        Weight matrices per layer (their shapes are used).
    value : float or list of array_like
        A float for every non-bias weight, or one array per layer.
    bias : bool
        Whether the last column of every matrix is a bias.
    name : str
        The parameter's name (``'weight_decay'`` or ``'w_s'``), for error messages.
    owner : str
        Name used in error messages.

    Returns
    -------
    list of numpy.ndarray
        One array per layer, of the layer's full shape.
    """
    if not isinstance(value, (list, tuple)):
        v = check_float(owner, name, value, lo=0.0 if name == "weight_decay" else -math.inf)
        out = []
        for W in weights:
            M = np.full(W.shape, v)
            if bias:
                M[:, -1] = 0.0
            out.append(M)
        return out
    if len(value) != len(weights):
        raise invalid(owner, name, f"a float or a list of {len(weights)} per-layer arrays", f"a list of {len(value)}")
    out = []
    for W, v in zip(weights, value):
        try:
            M = np.array(np.broadcast_to(np.asarray(v, dtype=np.float64), W.shape))
        except ValueError:
            raise invalid(owner, name, f"per-layer arrays broadcastable to {W.shape}", np.shape(v)) from None
        if not np.all(np.isfinite(M)) or (name == "weight_decay" and np.any(M < 0)):
            raise invalid(owner, name, "finite values" + (" >= 0" if name == "weight_decay" else ""), "other values")
        out.append(M)
    return out


def _check_permutations(owner: str, permutations: Any, n: int) -> np.ndarray:
    """An integer array of shape (epochs >= 1, n) whose every row is a permutation of ``range(n)``."""
    allowed = f"an integer array of shape (epochs, {n}) whose rows are permutations of range({n})"
    try:
        perms = np.asarray(permutations)
    except ValueError:  # ragged rows
        raise invalid(owner, "permutations", allowed, "a ragged sequence") from None
    if (perms.ndim != 2 or perms.shape[0] < 1 or perms.shape[1] != n or not np.issubdtype(perms.dtype, np.integer)
            or np.any(np.sort(perms, axis=1) != np.arange(n))):
        raise invalid(owner, "permutations", allowed, f"shape {perms.shape}, dtype {perms.dtype}")
    return perms.astype(np.int64)


def _check_rates(owner: str, lrs: Any, epochs: int) -> np.ndarray:
    """A finite learning rate > 0, or one per epoch."""
    try:
        rates = np.broadcast_to(np.asarray(lrs, dtype=np.float64), (epochs,))
    except (TypeError, ValueError):
        raise invalid(owner, "lrs", f"a float > 0 or an array of {epochs} (one per epoch)", lrs) from None
    if not np.all(np.isfinite(rates) & (rates > 0)):
        raise invalid(owner, "lrs", "finite learning rates > 0", lrs)
    return rates


def _check_divergence(owner: str, W: list[np.ndarray], epoch: int, epochs: int, lr: float) -> None:
    """Raise :class:`~memsim.errors.DivergenceError` if a weight is non-finite or beyond :data:`DIVERGENCE_LIMIT`."""
    big = max(float(np.max(np.abs(w))) if w.size else 0.0 for w in W)
    if math.isfinite(big) and big <= DIVERGENCE_LIMIT:
        return
    what = "non-finite weights" if not math.isfinite(big) else f"max|w| = {big:.3g} > {DIVERGENCE_LIMIT:g}"
    reason = f"epoch {epoch + 1} of {epochs}: {what} (lr = {lr:g})"
    raise DivergenceError(f"{owner}: the digital SGD diverged at {reason}; stopped early. A smaller train.lr "
                          "(or weight decay) keeps it stable.", epoch=epoch + 1, reason=reason)


def train_digital(weights0: list[np.ndarray], X: Any, y: Any, *, loss: str = "softmax",
                      activation: str = "tanh", bias: bool = True, n_classes: int | None = None,
                      lrs: Any, permutations: Any, batch_size: int = 1, accumulate: bool = False,
                      average_from: float = 0.5, weight_decay: Any = 0.0, w_s: Any = 0.0,
                      X_test: Any = None, y_test: Any = None) -> dict[str, Any]:
    r"""Digital SGD of a network with (per-weight) weight decay, in the analog run's data order and initial weights.

    The scheme of :class:`~memsim.models.mlp.AnalogMLP` with exact arithmetic: for each mini-batch
    :math:`\mathcal B` (``batch_size`` consecutive samples of ``permutations[epoch]``) the forward
    and backward passes use the weights at the batch start, giving per-sample gradients
    :math:`G_b = d_b [a_b; 1]^\top` per layer; then

    * per sample (``accumulate=False``), for each :math:`b` in order:
      :math:`W \leftarrow W - \eta\big(G_b + \lambda\odot(W - W_s)\big)`;
    * accumulated: :math:`W \leftarrow W - \eta\big(\sum_{b\in\mathcal B} G_b
      + |\mathcal B|\,\lambda\odot(W - W_s)\big)`.

    The stationary mean of the per-sample scheme solves, to :math:`O(\eta)`,
    :math:`\nabla L(W) + \lambda\odot(W - W_s) = 0`: the network with the explicit per-weight
    penalty of the module docstring. The averaging window is :mod:`memsim.models.train_network`'s: it opens at
    the first batch whose first event index reaches ``ceil(average_from * total_events)``, and
    the weights after every later event are averaged.

    Parameters
    ----------
    weights0 : list of numpy.ndarray
        Initial weights per layer, shape ``(out, in + bias)`` (use the analog run's).
    X : array_like, shape (n, d)
        Training inputs, one row per sample.
    y : array_like
        Labels (with ``n_classes``) or regression targets.
    loss : {'softmax', 'logistic', 'mse'}
        The loss, as for the analog network (:mod:`memsim.models.mlp`).
    activation : {'tanh', 'sigmoid', 'relu'}
        Activation of the hidden layers.
    bias : bool
        Whether every layer has a bias column.
    n_classes : int or None
        Number of classes; ``None`` for regression targets.
    lrs : float or array_like, shape (epochs,)
        Per-sample learning rate of every epoch (:func:`memsim.models.train.learning_rates`).
    permutations : array_like of int, shape (epochs, n)
        The analog run's data order.
    batch_size : int
        Samples per batch, as in :class:`memsim.models.config.TrainConfig`.
    accumulate : bool
        One update per batch with the summed gradient, as in :class:`memsim.models.config.TrainConfig`.
    average_from : float
        Fraction of all updates after which the weights are averaged, as in
        :class:`memsim.models.config.TrainConfig`.
    weight_decay : float or list
        :math:`\lambda`: a float for every non-bias weight (bias unpenalised), or one array per
        layer, broadcast to its full shape (:func:`penalty_matrices`).
    w_s : float or list
        Reference point :math:`W_s`, same forms (a float leaves the bias column at 0).
    X_test, y_test : optional
        Test data for the curves.

    Returns
    -------
    dict
        ``weights_final``, ``weights_mean`` (lists per layer) and ``curves`` (per epoch ``train_loss``,
        ``train_accuracy`` and, with test data, ``test_loss``, ``test_accuracy``).


    Raises
    ------
    memsim.errors.DivergenceError
        At the end of the first epoch whose weights are non-finite or exceed :data:`DIVERGENCE_LIMIT`
        in magnitude (too large a learning rate or weight decay: ``lr * lambda > 2`` alone makes the
        decay unstable). The message names the epoch, the largest ``|w|`` and the learning rate;
        the run path turns it into ``null`` comparison quantities with a ``failures`` entry.
    """
    owner = "train_digital"
    X = check_array(owner, "X", X, ("n", "d"))
    n = X.shape[0]
    W = [check_array(owner, "weights0", w, ("out", "in")).copy() for w in weights0]
    if not W:
        raise invalid(owner, "weights0", "a non-empty list of weight matrices", weights0)
    lf = get_loss(loss)
    bias = check_bool(owner, "bias", bias)
    perms = _check_permutations(owner, permutations, n)
    epochs = perms.shape[0]
    lr_arr = _check_rates(owner, lrs, epochs)
    batch_size = check_int(owner, "batch_size", batch_size, 1, n)
    accumulate = check_bool(owner, "accumulate", accumulate)
    average_from = check_float(owner, "average_from", average_from, 0.0, 1.0, hi_open=True)
    lam = penalty_matrices(W, weight_decay, bias, "weight_decay")
    ws = penalty_matrices(W, w_s, bias, "w_s")
    if (X_test is None) != (y_test is None):
        missing, other = ("X_test", "y_test") if X_test is None else ("y_test", "X_test")
        raise invalid(owner, missing, f"given together with {other}", None)
    if X_test is not None:
        X_test = check_array(owner, "X_test", X_test, ("n_test", X.shape[1]))
        if len(y_test) != X_test.shape[0]:
            raise invalid(owner, "y_test", f"{X_test.shape[0]} targets (one per row of X_test)", len(y_test))
    decay = any(np.any(m != 0) for m in lam)
    T = lf.targets(np.asarray(y), n_classes)
    per_epoch = math.ceil(n / batch_size) if accumulate else n
    start = math.ceil(average_from * per_epoch * epochs)
    sums = [np.zeros_like(w) for w in W]
    recorded = 0
    events = 0
    recording = False
    curves: dict[str, list[float]] = {"train_loss": [], "train_accuracy": []}
    if X_test is not None:
        curves.update(test_loss=[], test_accuracy=[])
    with np.errstate(over="ignore", invalid="ignore"):  # a divergence is detected per epoch and raised
        for epoch in range(epochs):
            lr = float(lr_arr[epoch])
            for s in range(0, n, batch_size):
                idx = perms[epoch, s:s + batch_size]
                if events >= start:
                    recording = True
                out, cache = mlp_forward(W, X[idx], activation, bias)
                deltas = mlp_backward(W, cache, lf.grad(out, T[idx]), activation, bias)
                m = idx.size
                if accumulate:
                    for k in range(len(W)):
                        W[k] -= lr * (deltas[k].T @ cache[k][0] + m * lam[k] * (W[k] - ws[k]))
                        if recording:
                            sums[k] += W[k]
                    events += 1
                    recorded += int(recording)
                elif not decay and (not recording or m == 1):
                    for k in range(len(W)):  # sum of the rank-1 steps (no decay: the order does not matter)
                        W[k] -= lr * (deltas[k].T @ cache[k][0])
                        if recording:
                            sums[k] += W[k]
                    events += m
                    recorded += m if recording else 0
                elif not decay:  # weights after each of the m steps, summed in closed form
                    coef = (m - np.arange(m))[:, None].astype(np.float64)
                    for k in range(len(W)):
                        sums[k] += m * W[k] - lr * ((deltas[k] * coef).T @ cache[k][0])
                        W[k] -= lr * (deltas[k].T @ cache[k][0])
                    events += m
                    recorded += m
                else:
                    for b in range(m):
                        for k in range(len(W)):
                            W[k] -= lr * (np.outer(deltas[k][b], cache[k][0][b]) + lam[k] * (W[k] - ws[k]))
                            if recording:
                                sums[k] += W[k]
                        events += 1
                        recorded += int(recording)
            _check_divergence(owner, W, epoch, epochs, lr)
            tr = evaluate(W, X, y, lf, activation, bias, n_classes)
            curves["train_loss"].append(tr[0])
            curves["train_accuracy"].append(tr[1])
            if X_test is not None:
                te = evaluate(W, np.asarray(X_test, dtype=np.float64), y_test, lf, activation, bias, n_classes)
                curves["test_loss"].append(te[0])
                curves["test_accuracy"].append(te[1])
    if recorded == 0:
        raise invalid(owner, "average_from", "a fraction that leaves at least one update in the window", average_from)
    return {"weights_final": W, "weights_mean": [s / recorded for s in sums],
            "curves": {k: np.asarray(v) for k, v in curves.items()}}


def flat_weights(weights: list[np.ndarray], bias: bool) -> np.ndarray:
    """All non-bias weights of a network as one vector (the space every distance is measured in).

    Parameters
    ----------
    weights : list of numpy.ndarray
        Weight matrices per layer, shape ``(out, in + bias)``.
    bias : bool
        Whether the last column of every matrix is a bias (left out).

    Returns
    -------
    numpy.ndarray
        The non-bias weights of all layers, concatenated (row-major per layer).
    """
    return np.concatenate([np.asarray(W)[:, :-1].ravel() if bias else np.asarray(W).ravel() for W in weights])


def fit_weight_decay(distance: Callable[[float], float], scale: float, *, decades_below: float = 3.0,
                     decades_above: float = 2.0, xatol: float = 0.02, max_evals: int = 20) -> tuple[float, float]:
    r"""The single (global) weight decay whose digital network is closest to a target, by a 1-D search.

    .. math::  \lambda_{\rm fit} = \arg\min_{\lambda \ge 0} D(\lambda)

    ``scipy.optimize.minimize_scalar`` (bounded) on :math:`u = \log_{10}(\lambda/\text{scale})` in
    ``[-decades_below, decades_above]``, compared with :math:`\lambda = 0`. Each evaluation of
    :math:`D` typically trains one digital network (the same data order and initial weights), so the
    number of evaluations is capped at ``max_evals`` (plus the :math:`\lambda = 0` one).

    Parameters
    ----------
    distance : callable
        :math:`D(\lambda)`, e.g. the weight-space distance of the digital network trained with
        weight decay :math:`\lambda` to the analog network.
    scale : float
        A typical :math:`\lambda` (> 0), e.g. the mean plug-in penalty.
    decades_below : float
        Decades below ``scale`` searched.
    decades_above : float
        Decades above ``scale`` searched.
    xatol : float
        Absolute tolerance on :math:`\log_{10}(\lambda/\text{scale})`.
    max_evals : int
        Maximum number of evaluations of :math:`D` by the search (the :math:`\lambda = 0` one excluded).

    Returns
    -------
    lam : float
        The fitted weight decay :math:`\lambda_{\rm fit}` (0 when :math:`\lambda = 0` is closest).
    distance : float
        The distance :math:`D(\lambda_{\rm fit})`.
    """
    scale = check_float("fit_weight_decay", "scale", scale, 0.0, lo_open=True)
    cache: dict[float, float] = {}

    def at(u: float) -> float:
        if u not in cache:
            cache[u] = float(distance(scale * 10.0 ** u))
        return cache[u]

    minimize_scalar(at, bounds=(-decades_below, decades_above), method="bounded",
                    options={"xatol": xatol, "maxiter": max_evals})
    best_u = min(cache, key=cache.get)
    zero = float(distance(0.0))
    if zero <= cache[best_u]:
        return 0.0, zero
    return scale * 10.0 ** best_u, cache[best_u]
