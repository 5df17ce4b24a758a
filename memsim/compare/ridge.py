r"""Digital baselines: OLS, the ridge path, generalized Tikhonov, ridge-lambda fitting and SGD with weight decay.

Conventions (THEORY.md section 2.0, binding for all of memsim)
---------------------------------------------------------------
* mean loss :math:`L(w) = \frac{1}{2n}\|Xw - y\|^2` (:func:`loss`; every ``test_loss`` in memsim is
  this function on the test set);
* ridge :math:`w_{\rm ridge}(\lambda) = \arg\min_w L(w) + \frac{\lambda}{2}\|w\|^2
  = (X^\top X + n\lambda I)^{-1} X^\top y`, i.e. scikit-learn's ``Ridge(alpha=n * lam,
  fit_intercept=False)``;
* generalized Tikhonov :math:`\arg\min_w L(w) + \frac12\sum_i \lambda_i (w_i - w_{s,i})^2`.

Only NumPy and SciPy are used. Every invalid argument raises :class:`memsim.errors.ConfigError`
with the message shape of :mod:`memsim.params`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from ..params import check_bool, check_float, check_int, invalid

__all__ = ["RidgeSVD", "ols", "ridge", "ridge_path", "generalized_tikhonov", "fit_lambda",
           "ridge_path_distance", "relative_distance", "loss", "lambda_for_loss", "sgd_weight_decay",
           "check_array", "check_design", "check_per_weight"]

_GRID_MARGIN = 1e8      # the lambda grid reaches this factor beyond the singular-value scales
_GRID_PER_DECADE = 20   # grid points per decade of lambda


# ---------------------------------------------------------------------------- validation
class _ArraySummary:
    """Short ``repr`` of an array for error messages (the values if few, else the shape)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __repr__(self) -> str:
        if self.a.size <= 8:
            return repr(self.a.tolist())
        return f"<array of shape {self.a.shape}>"


def check_array(owner: str, name: str, value: Any, shape: tuple) -> np.ndarray:
    """Validate a finite real array and return it as float64.

    Parameters
    ----------
    owner, name : str
        For the error message (:func:`memsim.params.invalid`).
    value : array_like
        The value given.
    shape : tuple of (int or str)
        Required shape; an ``int`` entry must match exactly, a ``str`` entry (a label such as
        ``"n"``) accepts any length >= 1.
    """
    text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    allowed = f"a finite real array of shape {text}"
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(owner, name, allowed, value) from None
    ok = a.ndim == len(shape) and all(
        (got >= 1) if isinstance(want, str) else (got == want) for got, want in zip(a.shape, shape))
    if not ok or not np.all(np.isfinite(a)):
        raise invalid(owner, name, allowed, _ArraySummary(a))
    return a


def check_design(owner: str, X: Any, y: Any, names: tuple[str, str] = ("X", "y"),
                 d: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a design matrix ``X`` (n, d) and targets ``y`` (n,); ``d`` fixes the column count."""
    X = check_array(owner, names[0], X, ("n", "d" if d is None else d))
    y = check_array(owner, names[1], y, (X.shape[0],))
    return X, y


def check_per_weight(owner: str, name: str, value: Any, d: int, lo: float = -math.inf) -> np.ndarray:
    """Validate a scalar or a length-``d`` array with entries ``>= lo``; return it as a (d,) array."""
    if np.ndim(value) == 0:
        return np.full(d, check_float(owner, name, value, lo=lo))
    a = check_array(owner, name, value, (d,))
    if np.any(a < lo):
        raise invalid(owner, name, f"a float or an array of shape ({d},) with entries >= {lo:g}",
                      _ArraySummary(a))
    return a


# ---------------------------------------------------------------------------- ridge via one SVD
class RidgeSVD:
    r"""Thin SVD of a design matrix, reused to evaluate ridge solutions for any number of lambdas.

    With :math:`X = U\,\mathrm{diag}(s)\,V^\top`,

    .. math::  w_{\rm ridge}(\lambda) = V\,\mathrm{diag}\Big(\frac{s}{s^2 + n\lambda}\Big)\,U^\top y .

    Singular values below the ``numpy.linalg.lstsq`` cutoff ``max(n, d) * eps * s_max`` are set
    to 0, so ``lambda = 0`` gives the minimum-norm OLS solution; ``lambda = inf`` gives 0.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    """

    def __init__(self, X: Any, y: Any) -> None:
        X, y = check_design("RidgeSVD", X, y)
        U, s, self.Vt = np.linalg.svd(X, full_matrices=False)
        cutoff = max(X.shape) * np.finfo(np.float64).eps * s[0]
        self.s = np.where(s > cutoff, s, 0.0)
        self.Uty = U.T @ y
        self.n, self.d = X.shape

    def path(self, lambdas: Any) -> np.ndarray:
        """Ridge solutions for the 1-D array ``lambdas`` (entries in [0, inf]); shape (k, d)."""
        lam = np.asarray(lambdas, dtype=np.float64).reshape(-1, 1)
        denom = self.s ** 2 + self.n * lam
        shrink = np.divide(self.s, denom, out=np.zeros_like(denom), where=denom > 0)
        return (shrink * self.Uty) @ self.Vt

    def coef(self, lam: float) -> np.ndarray:
        """The ridge solution for one ``lam`` in [0, inf]; shape (d,)."""
        return self.path([lam])[0]

    def lambda_grid(self) -> np.ndarray:
        """Log-spaced lambdas spanning the singular-value scales ``s_k^2 / n`` (empty if ``X = 0``).

        From ``min_k s_k^2/n / 1e8`` to ``max_k s_k^2/n * 1e8``, 20 points per decade: below the
        grid the ridge solution is OLS and above it 0, to within 1e-8 relative per component.
        """
        scales = self.s[self.s > 0] ** 2 / self.n
        if scales.size == 0:
            return scales
        lo, hi = scales.min() / _GRID_MARGIN, scales.max() * _GRID_MARGIN
        return np.geomspace(lo, hi, int(math.ceil(math.log10(hi / lo) * _GRID_PER_DECADE)) + 1)

    def fit_lambda(self, m: np.ndarray) -> tuple[float, float]:
        """``argmin_{lam >= 0} ||m - w_ridge(lam)||`` and the minimum; see :func:`fit_lambda`."""
        grid = self.lambda_grid()
        if grid.size == 0:  # X = 0: the whole ridge path is the single point 0
            return math.nan, float(np.linalg.norm(m))
        sq_dist = np.sum((m - self.path(grid)) ** 2, axis=1)
        k = int(np.argmin(sq_dist))
        # Refine between the grid neighbours, in u = log(lam / grid[k]) so the optimiser's
        # relative tolerance (sqrt(eps) * |u|) stays far below the 1e-6 we promise on lambda.
        lo = math.log(grid[max(k - 1, 0)] / grid[k])
        hi = math.log(grid[min(k + 1, grid.size - 1)] / grid[k])
        res = minimize_scalar(lambda u: float(np.sum((m - self.coef(grid[k] * math.exp(u))) ** 2)),
                              bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
        candidates = [
            (float(res.fun), grid[k] * math.exp(res.x)),
            (float(sq_dist[k]), float(grid[k])),
            (float(np.sum((m - self.coef(0.0)) ** 2)), 0.0),       # OLS end of the path
            (float(np.sum(m ** 2)), math.inf),                     # lambda -> inf: w = 0
        ]
        best_sq, best_lam = min(candidates, key=lambda c: c[0])
        return float(best_lam), math.sqrt(best_sq)


# ---------------------------------------------------------------------------- closed forms
def ols(X: Any, y: Any) -> np.ndarray:
    r"""Ordinary least squares :math:`\arg\min_w \|Xw - y\|^2` (minimum norm if rank deficient).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)

    Returns
    -------
    numpy.ndarray, shape (d,)
        :math:`X^+ y` via ``numpy.linalg.lstsq``.
    """
    X, y = check_design("ols", X, y)
    return np.linalg.lstsq(X, y, rcond=None)[0]


def ridge(X: Any, y: Any, lam: float) -> np.ndarray:
    r"""Ridge solution :math:`(X^\top X + n\lambda I)^{-1} X^\top y` (mean-loss convention).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    lam : float
        :math:`\lambda \ge 0`; 0 gives the minimum-norm OLS solution.

    Returns
    -------
    numpy.ndarray, shape (d,)
    """
    lam = check_float("ridge", "lam", lam, lo=0.0)
    return RidgeSVD(X, y).coef(lam)


def ridge_path(X: Any, y: Any, lambdas: Any) -> np.ndarray:
    r"""Ridge solutions :math:`w_{\rm ridge}(\lambda_k)` for many lambdas from one SVD.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    lambdas : array_like, shape (k,)
        Finite values :math:`\lambda_k \ge 0`.

    Returns
    -------
    numpy.ndarray, shape (k, d)
        Row ``k`` is :math:`(X^\top X + n\lambda_k I)^{-1} X^\top y`.
    """
    lambdas = check_array("ridge_path", "lambdas", lambdas, ("k",))
    if np.any(lambdas < 0):
        raise invalid("ridge_path", "lambdas", "a finite real array of shape (k,) with entries >= 0",
                      _ArraySummary(lambdas))
    return RidgeSVD(X, y).path(lambdas)


def generalized_tikhonov(X: Any, y: Any, lambdas: Any, w_s: Any = 0.0) -> np.ndarray:
    r"""Generalized Tikhonov solution with per-weight strengths and reference point.

    .. math::
        \arg\min_w \frac{1}{2n}\|Xw - y\|^2 + \frac12\sum_i \lambda_i (w_i - w_{s,i})^2
        = (X^\top X + n\Lambda)^{-1}(X^\top y + n\Lambda w_s), \qquad \Lambda = \mathrm{diag}(\lambda)

    Solved as the stacked least-squares problem
    :math:`\min_w \|Xw - y\|^2 + \|\sqrt{n\Lambda}(w - w_s)\|^2` (no squared condition number); where
    the minimiser is not unique (rank-deficient ``X`` with some :math:`\lambda_i = 0`) the
    minimum-norm one is returned, so ``lambdas = 0`` gives :func:`ols`.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    lambdas : float or array_like, shape (d,)
        :math:`\lambda_i \ge 0`; a scalar applies to every weight.
    w_s : float or array_like, shape (d,)
        Reference point :math:`w_s` (the device's symmetry point); default 0.

    Returns
    -------
    numpy.ndarray, shape (d,)
    """
    X, y = check_design("generalized_tikhonov", X, y)
    n, d = X.shape
    lam = check_per_weight("generalized_tikhonov", "lambdas", lambdas, d, lo=0.0)
    w_s = check_per_weight("generalized_tikhonov", "w_s", w_s, d)
    root = np.sqrt(n * lam)
    A = np.vstack([X, np.diag(root)])
    rhs = np.concatenate([y, root * w_s])
    return np.linalg.lstsq(A, rhs, rcond=None)[0]


def loss(X: Any, y: Any, w: Any) -> float:
    r"""Mean squared-error loss :math:`L(w) = \frac{1}{2n}\|Xw - y\|^2`.

    This is what every ``train_loss`` / ``test_loss`` in memsim means (on the respective data).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    w : array_like, shape (d,)

    Returns
    -------
    float
    """
    X, y = check_design("loss", X, y)
    w = check_array("loss", "w", w, (X.shape[1],))
    r = X @ w - y
    return 0.5 * float(np.mean(r * r))


# ---------------------------------------------------------------------------- fitting lambda
def fit_lambda(m: Any, X: Any, y: Any) -> tuple[float, float]:
    r"""The ridge lambda whose solution is closest to ``m``, and that distance.

    .. math::  \lambda_{\rm fit} = \arg\min_{\lambda\ge0}\|m - w_{\rm ridge}(\lambda)\|

    Exact 1-D minimisation: the squared distance is evaluated on a log-spaced grid spanning the
    singular-value scales (:meth:`RidgeSVD.lambda_grid`), refined between the grid neighbours of
    the best grid point with ``scipy.optimize.minimize_scalar`` (bounded, on :math:`\log\lambda`),
    and compared with both ends of the path, :math:`\lambda=0` (OLS) and
    :math:`\lambda\to\infty` (:math:`w=0`).

    Parameters
    ----------
    m : array_like, shape (d,)
        Weights to explain (e.g. the time-averaged trained weights).
    X : array_like, shape (n, d)
    y : array_like, shape (n,)

    Returns
    -------
    lambda_fit : float
        In :math:`[0, \infty]`; ``inf`` when ``m`` is closest to 0, NaN when ``X = 0``.
    distance : float
        :math:`\min_\lambda\|m - w_{\rm ridge}(\lambda)\|`.
    """
    svd = RidgeSVD(X, y)
    m = check_array("fit_lambda", "m", m, (svd.d,))
    return svd.fit_lambda(m)


def ridge_path_distance(m: Any, X: Any, y: Any) -> float:
    r"""Relative distance of ``m`` from the ridge path.

    .. math::  \frac{\min_\lambda\|m - w_{\rm ridge}(\lambda)\|}{\|m - w_{\rm OLS}\|}

    0 on the path (also when ``m`` is the OLS solution itself, see :func:`relative_distance`); at
    most 1 (:math:`\lambda=0` is a candidate).

    Parameters
    ----------
    m : array_like, shape (d,)
    X : array_like, shape (n, d)
    y : array_like, shape (n,)

    Returns
    -------
    float
    """
    svd = RidgeSVD(X, y)
    m = check_array("ridge_path_distance", "m", m, (svd.d,))
    return relative_distance(svd.fit_lambda(m)[1], m, svd.coef(0.0))


def relative_distance(distance: float, m: np.ndarray, w_ols: np.ndarray) -> float:
    r"""``distance`` in units of the shift from OLS, :math:`	ext{distance} / \|m - w_{
m OLS}\|`.

    A distance at rounding level, at most :math:`10^{-12}\max(\|m\|, \|w_{
m OLS}\|)`, counts as 0
    (so ``m`` equal to OLS up to rounding is on the path, not at ratio 1); a finite distance from
    ``m = w_OLS`` exactly is ``inf``.
    """
    if distance <= 1e-12 * max(float(np.linalg.norm(m)), float(np.linalg.norm(w_ols))):
        return 0.0
    shift = float(np.linalg.norm(m - w_ols))
    return distance / shift if shift > 0 else math.inf


def lambda_for_loss(target_loss: float, X: Any, y: Any, X_test: Any, y_test: Any,
                    near: float) -> float:
    r"""The ridge lambda (fit on ``X, y``) whose test loss equals ``target_loss``.

    Solves :math:`L_{\rm test}(w_{\rm ridge}(\lambda)) = \text{target}` for :math:`\lambda`: sign
    changes on the log-spaced grid of :meth:`RidgeSVD.lambda_grid` are refined with
    ``scipy.optimize.brentq`` on :math:`\log\lambda`; of all roots, the one nearest ``near`` in
    :math:`|\log\lambda - \log(\text{near})|` is returned (``near`` is first clipped into the grid, so
    0 selects the smallest root and ``inf`` the largest).

    Parameters
    ----------
    target_loss : float
        Test loss to match (:func:`loss` on ``X_test, y_test``), >= 0.
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    X_test : array_like, shape (n_test, d)
    y_test : array_like, shape (n_test,)
    near : float
        In :math:`[0, \infty]`, typically ``lambda_fit``.

    Returns
    -------
    float
        The root, or NaN if the test-loss curve never reaches ``target_loss`` on the grid.
    """
    owner = "lambda_for_loss"
    target = check_float(owner, "target_loss", target_loss, lo=0.0)
    near = near if near == math.inf else check_float(owner, "near", near, lo=0.0)
    svd = RidgeSVD(X, y)
    X_test, y_test = check_design(owner, X_test, y_test, ("X_test", "y_test"), d=svd.d)
    grid = svd.lambda_grid()
    if grid.size == 0:
        return math.nan

    def excess(log_lam: float) -> float:
        return loss(X_test, y_test, svd.coef(math.exp(log_lam))) - target

    residuals = X_test @ svd.path(grid).T - y_test[:, None]
    h = 0.5 * np.mean(residuals ** 2, axis=0) - target
    roots = list(grid[h == 0.0])
    for k in np.flatnonzero(h[:-1] * h[1:] < 0):
        roots.append(math.exp(brentq(excess, math.log(grid[k]), math.log(grid[k + 1]), xtol=1e-14)))
    if not roots:
        return math.nan
    anchor = math.log(min(max(near, grid[0]), grid[-1]))
    return float(min(roots, key=lambda r: abs(math.log(r) - anchor)))


# ---------------------------------------------------------------------------- digital SGD
def _check_permutations(permutations: Any, epochs: int, n: int) -> np.ndarray:
    """Validate one permutation of ``range(n)`` per epoch (an integer array of shape (epochs, n))."""
    allowed = (f"an integer array of shape (epochs, n) = ({epochs}, {n}) "
               f"whose rows are permutations of range({n})")
    try:
        p = np.asarray(permutations)
    except ValueError:  # ragged nested sequences
        raise invalid("sgd_weight_decay", "permutations", allowed, permutations) from None
    if (p.shape != (epochs, n) or not np.issubdtype(p.dtype, np.integer)
            or not np.array_equal(np.sort(p, axis=1), np.broadcast_to(np.arange(n), (epochs, n)))):
        raise invalid("sgd_weight_decay", "permutations", allowed, _ArraySummary(p))
    return p


def sgd_weight_decay(X: Any, y: Any, *, w0: Any, lr: float, epochs: int, weight_decay: float = 0.0,
                     w_s: Any = 0.0, permutations: Any, average_from: float = 0.5, batch_size: int = 1,
                     accumulate: bool = False, X_test: Any = None, y_test: Any = None) -> dict[str, Any]:
    r"""Digital SGD with explicit L2 weight decay towards ``w_s``, in a given data order.

    Per-sample scheme (``accumulate=False``; ``batch_size`` then only names the mini-batch, whose
    samples are applied one after another, as on the crossbar): for each sample ``b`` in the
    order of ``permutations[epoch]``

    .. math::  w \leftarrow w - \eta\big(x_b(x_b^\top w - y_b) + \lambda_{\rm wd}(w - w_s)\big).

    Accumulated scheme (``accumulate=True``): one step per mini-batch :math:`\mathcal B` of
    ``batch_size`` consecutive samples of the permutation (the last one may be smaller) with the
    SUM of the per-sample gradients, so the per-sample learning rate stays :math:`\eta`:

    .. math::  w \leftarrow w - \eta\Big(\sum_{b\in\mathcal B} x_b(x_b^\top w - y_b)
               + |\mathcal B|\,\lambda_{\rm wd}(w - w_s)\Big).

    The stationary mean of per-sample SGD with weight decay is (up to :math:`O(\eta)` effects of
    the data order) the generalized Tikhonov solution with :math:`\lambda_i = \lambda_{\rm wd}`.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    w0 : array_like, shape (d,)
        Initial weights (use the analog run's).
    lr : float
        Per-sample learning rate :math:`\eta > 0`.
    epochs : int
        Number of passes, >= 1.
    weight_decay : float
        :math:`\lambda_{\rm wd} \ge 0`.
    w_s : float or array_like, shape (d,)
        Decay target; default 0.
    permutations : array_like of int, shape (epochs, n)
        One permutation of ``range(n)`` per epoch, supplied by the caller (the analog run's order).
    average_from : float
        In [0, 1): ``weights_mean`` averages the weights after every update with index
        ``t > floor(average_from * T)`` (updates ``t = 1..T``).
    batch_size : int
        In [1, n].
    accumulate : bool
        One step per mini-batch with the summed gradient (see above).
    X_test : array_like, shape (n_test, d), optional
    y_test : array_like, shape (n_test,), optional
        If given, ``curves["test_loss"]`` is recorded too.

    Returns
    -------
    dict
        ``weights_final`` (d,), ``weights_mean`` (d,), and ``curves``: a dict with
        ``train_loss`` (epochs,) and, with test data, ``test_loss`` (epochs,), the :func:`loss` of
        the weights at the end of each epoch.
    """
    owner = "sgd_weight_decay"
    X, y = check_design(owner, X, y)
    n, d = X.shape
    w = check_array(owner, "w0", w0, (d,)).copy()
    lr = check_float(owner, "lr", lr, lo=0.0, lo_open=True)
    epochs = check_int(owner, "epochs", epochs, lo=1)
    wd = check_float(owner, "weight_decay", weight_decay, lo=0.0)
    w_s = check_per_weight(owner, "w_s", w_s, d)
    perms = _check_permutations(permutations, epochs, n)
    average_from = check_float(owner, "average_from", average_from, 0.0, 1.0, hi_open=True)
    batch_size = check_int(owner, "batch_size", batch_size, 1, n)
    accumulate = check_bool(owner, "accumulate", accumulate)
    if (X_test is None) != (y_test is None):
        missing = "X_test" if X_test is None else "y_test"
        raise invalid(owner, missing, "given together with " + ("y_test" if X_test is None else "X_test"), None)
    if X_test is not None:
        X_test, y_test = check_design(owner, X_test, y_test, ("X_test", "y_test"), d=d)

    step = batch_size if accumulate else 1
    starts = range(0, n, step)
    total = epochs * len(starts)
    skip = int(math.floor(average_from * total))
    w_sum = np.zeros(d)
    t = 0
    curves: dict[str, list[float]] = {"train_loss": []}
    if X_test is not None:
        curves["test_loss"] = []
    for perm in perms:
        Xp, yp = X[perm], y[perm]
        for s in starts:
            xb, yb = Xp[s:s + step], yp[s:s + step]
            grad = xb.T @ (xb @ w - yb) + len(yb) * wd * (w - w_s)
            w -= lr * grad
            t += 1
            if t > skip:
                w_sum += w
        curves["train_loss"].append(loss(X, y, w))
        if X_test is not None:
            curves["test_loss"].append(loss(X_test, y_test, w))
    return {"weights_final": w, "weights_mean": w_sum / (total - skip),
            "curves": {k: np.asarray(v) for k, v in curves.items()}}
