r"""Digital baselines: OLS, the ridge path, generalized Tikhonov, ridge-lambda fitting and SGD with weight decay.

Conventions (docs/theory.md, section '2.0 The drift formula', binding for all of memsim)
----------------------------------------------------------------------------------------
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

from ..params import ArraySummary, check_array, check_design, check_float, check_per_weight, invalid

__all__ = ["RidgeSVD", "ols", "ridge", "ridge_path", "generalized_tikhonov", "fit_lambda",
           "ridge_path_distance", "relative_distance", "loss", "lambda_for_loss"]

_GRID_MARGIN = 1e8      # the lambda grid reaches this factor beyond the singular-value scales
_GRID_PER_DECADE = 20   # grid points per decade of lambda


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
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    """

    def __init__(self, X: Any, y: Any) -> None:
        X, y = check_design("RidgeSVD", X, y)
        U, s, self.Vt = np.linalg.svd(X, full_matrices=False)
        cutoff = max(X.shape) * np.finfo(np.float64).eps * s[0]
        self.s = np.where(s > cutoff, s, 0.0)
        self.Uty = U.T @ y
        self.n, self.d = X.shape

    def path(self, lambdas: Any) -> np.ndarray:
        """Ridge solutions for the 1-D array ``lambdas`` (entries in [0, inf]); shape (k, d).

        Parameters
        ----------
        lambdas : array_like
            The lambdas, entries in [0, inf].

        Returns
        -------
        numpy.ndarray
            The ridge solutions, shape (k, d).
        """
        lam = np.asarray(lambdas, dtype=np.float64).reshape(-1, 1)
        denom = self.s ** 2 + self.n * lam
        shrink = np.divide(self.s, denom, out=np.zeros_like(denom), where=denom > 0)
        return (shrink * self.Uty) @ self.Vt

    def coef(self, lam: float) -> np.ndarray:
        """The ridge solution for one ``lam`` in [0, inf]; shape (d,).

        Parameters
        ----------
        lam : float
            :math:`\\lambda` in [0, inf].

        Returns
        -------
        numpy.ndarray
            The ridge solution, shape (d,).
        """
        return self.path([lam])[0]

    def lambda_grid(self) -> np.ndarray:
        """Log-spaced lambdas spanning the singular-value scales ``s_k^2 / n`` (empty if ``X = 0``).

        From ``min_k s_k^2/n / 1e8`` to ``max_k s_k^2/n * 1e8``, 20 points per decade: below the
        grid the ridge solution is OLS and above it 0, to within 1e-8 relative per component.

        Returns
        -------
        numpy.ndarray
            The grid of lambdas (empty if ``X = 0``).
        """
        scales = self.s[self.s > 0] ** 2 / self.n
        if scales.size == 0:
            return scales
        lo, hi = scales.min() / _GRID_MARGIN, scales.max() * _GRID_MARGIN
        return np.geomspace(lo, hi, int(math.ceil(math.log10(hi / lo) * _GRID_PER_DECADE)) + 1)

    def fit_lambda(self, m: np.ndarray) -> tuple[float, float]:
        """``argmin_{lam >= 0} ||m - w_ridge(lam)||`` and the minimum; see :func:`fit_lambda`.

        Parameters
        ----------
        m : numpy.ndarray
            The weights to compare, shape (d,).

        Returns
        -------
        lam : float
            The best :math:`\\lambda` (NaN if ``X = 0``).
        distance : float
            The minimum distance :math:`\\|m - w_{\\rm ridge}(\\lambda)\\|`.
        """
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
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.

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
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    lam : float
        :math:`\lambda \ge 0`; 0 gives the minimum-norm OLS solution.

    Returns
    -------
    numpy.ndarray, shape (d,)
        The ridge solution :math:`w_{\rm ridge}(\lambda)`.
    """
    lam = check_float("ridge", "lam", lam, lo=0.0)
    return RidgeSVD(X, y).coef(lam)


def ridge_path(X: Any, y: Any, lambdas: Any) -> np.ndarray:
    r"""Ridge solutions :math:`w_{\rm ridge}(\lambda_k)` for many lambdas from one SVD.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
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
                      ArraySummary(lambdas))
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
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    lambdas : float or array_like, shape (d,)
        :math:`\lambda_i \ge 0`; a scalar applies to every weight.
    w_s : float or array_like, shape (d,)
        Reference point :math:`w_s` (the device's symmetry point); default 0.

    Returns
    -------
    numpy.ndarray, shape (d,)
        The minimiser :math:`w`.
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
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    w : array_like, shape (d,)
        The weights.

    Returns
    -------
    float
        The mean loss :math:`L(w)`.
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
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.

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
        The weights to compare (e.g. the time-averaged trained weights).
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.

    Returns
    -------
    float
        The relative distance, in [0, 1].
    """
    svd = RidgeSVD(X, y)
    m = check_array("ridge_path_distance", "m", m, (svd.d,))
    return relative_distance(svd.fit_lambda(m)[1], m, svd.coef(0.0))


def relative_distance(distance: float, m: np.ndarray, w_ols: np.ndarray) -> float:
    r"""``distance`` in units of the shift from OLS, :math:`\text{distance} / \|m - w_{\rm OLS}\|`.

    A distance at rounding level, at most :math:`10^{-12}\max(\|m\|, \|w_{\rm OLS}\|)`, counts as 0
    (so ``m`` equal to OLS up to rounding is on the path, not at ratio 1); a finite distance from
    ``m = w_OLS`` exactly is ``inf``.

    Parameters
    ----------
    distance : float
        A distance in weight space.
    m : numpy.ndarray
        The weights the distance was measured from, shape (d,).
    w_ols : numpy.ndarray
        The OLS solution :math:`w_{\rm OLS}`, shape (d,).

    Returns
    -------
    float
        The relative distance (0 at rounding level, ``inf`` when ``m`` is OLS exactly).
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
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    X_test : array_like, shape (n_test, d)
        Test inputs.
    y_test : array_like, shape (n_test,)
        Test targets.
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
