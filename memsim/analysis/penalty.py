r"""The effective penalty of a hardware-trained linear model: predicted from device physics, fitted, and checked.

Everything here follows docs/theory.md, section '2.0 The drift formula'. A programming event requests
:math:`\Delta = -\eta g`
with the stochastic gradient :math:`g`; for least squares the per-sample gradient is
:math:`g_i = x_{bi}(x_b^\top w - y_b)` and :math:`E[g] = Hw - b` exactly, with :math:`H = X^\top X/n`,
:math:`b = X^\top y/n`. A device with asymmetry function
:math:`F(w) = (q_-(w) - q_+(w)) / (q_+(w) + q_-(w))` drifts until, per weight,

.. math::  E[g_i(w)] + E|g_i(w)|\,F(w_i) = 0                                   \qquad (\ast)

Linearised around the symmetry point :math:`w_s` (:math:`F(w_s) = 0`) this is generalized Tikhonov
towards :math:`w_s` with :math:`\lambda_i = E|g_i|\,F'(w_s)`, self-consistent because :math:`E|g_i|` is
taken at the solution.

This module reads only the data, the devices' pure formulas (``asymmetry_function``,
``symmetry_point``, ``asymmetry_slope``, the bounds and ``dw_min``) and statistics recorded during
training; it never imports the crossbar, backends or training code it judges.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import root
from scipy.special import ndtr

from ..compare.ridge import RidgeSVD, fit_lambda, generalized_tikhonov, lambda_for_loss, loss, ols, relative_distance
from ..errors import ConvergenceError
from ..params import check_array, check_bool, check_design, check_float, check_int, invalid

__all__ = ["symmetry", "constant_drift", "folded_normal_mean", "expected_abs_grad", "stationarity_residual", "predict_lambda",
           "predict_weights", "lambda_plugin", "identity_residual", "regime_warnings", "summarize"]

#: Thresholds of :func:`regime_warnings`.
LARGE_STEP = 0.05
FEW_STATES = 50.0
DEAD_ZONE_FRACTION = 0.2
NEAR_BOUND_STEPS = 3.0
#: E|g_i| below this fraction of its value at w = 0, E|x_i y|, is rounding noise and counts as 0.
_ROUNDING_FLOOR = 1e-10


# ---------------------------------------------------------------------------- gradient statistics
def _check_scheme(owner: str, n: int, batch_size: Any, accumulate: Any) -> tuple[int, bool]:
    return check_int(owner, "batch_size", batch_size, 1, n), check_bool(owner, "accumulate", accumulate)


def _per_sample_grads(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``G[b, i] = x_bi (x_b . w - y_b)``, shape (n, d)."""
    return X * (X @ w - y)[:, None]


def _batch_mean_moments(G: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and standard deviation of the mini-batch mean gradient, batches drawn without replacement.

    :math:`\mu_i = E[g_i]`, :math:`\mathrm{sd}_i^2 = \frac{\mathrm{Var}(g_i)}{B}\frac{n-B}{n-1}`
    (finite-population correction; ``Var`` over the n samples, ddof 0).
    """
    n = G.shape[0]
    fpc = (n - batch_size) / (n - 1) if n > 1 else 0.0
    return G.mean(axis=0), np.sqrt(G.var(axis=0) / batch_size * fpc)


def folded_normal_mean(mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    r""":math:`E|Z|` for :math:`Z\sim N(\mu, \mathrm{sd}^2)`; :math:`|\mu|` if sd = 0.

    .. math::  \mathrm{sd}\sqrt{2/\pi}\,e^{-\mu^2/2\mathrm{sd}^2} + \mu\,(1 - 2\Phi(-\mu/\mathrm{sd}))

    Parameters
    ----------
    mu : numpy.ndarray
        Means :math:`\mu`.
    sd : numpy.ndarray
        Standard deviations (broadcast with ``mu``).

    Returns
    -------
    numpy.ndarray
        :math:`E|Z|`, elementwise.
    """
    safe = np.where(sd > 0, sd, 1.0)
    z = mu / safe
    value = safe * math.sqrt(2.0 / math.pi) * np.exp(-0.5 * z * z) + mu * (1.0 - 2.0 * ndtr(-z))
    return np.where(sd > 0, value, np.abs(mu))


def _abs_grad(X: np.ndarray, y: np.ndarray, w: np.ndarray, batch_size: int, accumulate: bool) -> np.ndarray:
    G = _per_sample_grads(X, y, w)
    if not accumulate or batch_size == 1:
        value = np.mean(np.abs(G), axis=0)
    else:
        value = folded_normal_mean(*_batch_mean_moments(G, batch_size))
    # Rounding noise of an interpolating fit (r = 0 in exact arithmetic) is not a gradient: left in,
    # it would act as a ~1e-16 penalty that pins the null space of X to w_s unstably.
    floor = _ROUNDING_FLOOR * np.mean(np.abs(X * y[:, None]), axis=0)
    return np.where(value > floor, value, 0.0)


def expected_abs_grad(X: Any, y: Any, w: Any, *, batch_size: int = 1, accumulate: bool = False) -> np.ndarray:
    r"""Per-weight mean absolute requested gradient :math:`E|g_i(w)|` (docs/theory.md, section '2a. Soft bounds').

    * Per-sample (rank-1) updates, ``accumulate=False`` (any ``batch_size``):
      :math:`E|g_i| = \frac1n\sum_b |x_{bi}(x_b^\top w - y_b)|`, independent of the batch size.
    * Accumulated mini-batches, ``accumulate=True``: :math:`E|\bar g_i^{(B)}|` of the batch MEAN
      gradient over batches of ``B`` samples drawn without replacement, as the folded-normal mean
      with :math:`\mu_i = E[g_i]` and variance :math:`\frac{\mathrm{Var}(g_i)}{B}\frac{n-B}{n-1}`
      (:math:`\approx\sqrt{2/\pi}\,\mathrm{sd}\propto B^{-1/2}` when :math:`|\mu_i|\ll` sd; exactly
      :math:`|\mu_i|` for ``B = n``). ``B = 1`` is the per-sample scheme and uses the exact mean.

    Values below ``1e-10`` of :math:`E|x_i y|` (the value at :math:`w = 0`) are returned as 0: they
    are the rounding noise of an interpolating solution (:math:`n \le d`), where :math:`E|g| = 0`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    w : array_like, shape (d,)
        Weights at which the gradients are evaluated.
    batch_size : int
        In [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).

    Returns
    -------
    numpy.ndarray, shape (d,)
        The mean absolute gradients :math:`E|g_i(w)|`.
    """
    X, y = check_design("expected_abs_grad", X, y)
    w = check_array("expected_abs_grad", "w", w, (X.shape[1],))
    batch_size, accumulate = _check_scheme("expected_abs_grad", X.shape[0], batch_size, accumulate)
    return _abs_grad(X, y, w, batch_size, accumulate)


def _stationarity_residual(X, y, w, device, batch_size, accumulate) -> np.ndarray:
    mean_grad = X.T @ (X @ w - y) / X.shape[0]
    return mean_grad + _abs_grad(X, y, w, batch_size, accumulate) * device.asymmetry_function(w)


def stationarity_residual(X: Any, y: Any, w: Any, device: Any, *, batch_size: int = 1,
                          accumulate: bool = False) -> np.ndarray:
    r"""Residual of the exact per-weight stationarity law :math:`(\ast)`.

    See docs/theory.md, section '2.0 The drift formula'.

    .. math::  E[g_i(w)] + E|g_i(w)|\,F(w_i), \qquad E[g(w)] = Hw - b

    with :math:`E|g_i|` from :func:`expected_abs_grad` and :math:`F` the device's
    ``asymmetry_function`` (nominal cell). Zero at the predicted stationary mean
    :func:`predict_weights`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    w : array_like, shape (d,)
        Weights at which the residual is evaluated.
    device : memsim.physics.devices.PulsedDevice
        The nominal device model.
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).

    Returns
    -------
    numpy.ndarray, shape (d,)
        The residual of every weight.
    """
    X, y = check_design("stationarity_residual", X, y)
    w = check_array("stationarity_residual", "w", w, (X.shape[1],))
    batch_size, accumulate = _check_scheme("stationarity_residual", X.shape[0], batch_size, accumulate)
    return _stationarity_residual(X, y, w, device, batch_size, accumulate)


# ---------------------------------------------------------------------------- predictions
def symmetry(device: Any, owner: str | None = None) -> tuple[float, float]:
    """``(w_s, F'(w_s))``: the device's symmetry point and the slope of its asymmetry function there.

    ``(0, 0)`` when ``F' = 0`` (no penalty, e.g. a constant-step device; see :func:`constant_drift` for
    the case where ``F`` is a nonzero constant). With ``owner``, a negative slope (a repelling point,
    no Tikhonov form) raises :class:`~memsim.errors.ConfigError` naming ``owner``'s ``device``.

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice
        The nominal device model.
    owner : str or None
        When given, a negative slope raises a ``ConfigError`` naming this owner's ``device``.

    Returns
    -------
    w_s : float
        The symmetry point :math:`w_s`.
    slope : float
        The slope :math:`F'(w_s)` (0 with :math:`w_s = 0` when there is no penalty).
    """
    slope = float(device.asymmetry_slope())
    if slope == 0.0:
        return 0.0, 0.0
    if slope < 0.0 and owner is not None:
        raise invalid(owner, "device", "a device with F'(w_s) >= 0 (a restoring symmetry point)", device)
    return float(device.symmetry_point()), slope


def constant_drift(device: Any) -> bool:
    """Whether ``F`` is a nonzero constant (``F' = 0``, e.g. a constant step with ``up_down != 0``): a
    drift with no symmetry point, so no penalty of Tikhonov form.

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice
        The nominal device model.

    Returns
    -------
    bool
        True when :math:`F' = 0` but :math:`F \\ne 0` at the middle of the range.
    """
    if float(device.asymmetry_slope()) != 0.0:
        return False
    mid = 0.5 * (float(device.w_min) + float(device.w_max))
    return abs(float(device.asymmetry_function(mid))) >= 1e-12


def predict_lambda(X: Any, y: Any, device: Any, *, batch_size: int = 1, accumulate: bool = False,
                   max_iter: int = 100, tol: float = 1e-12) -> dict[str, Any]:
    r"""Self-consistent generalized-Tikhonov prediction of the penalty, from data and device alone.

    Fixed point (docs/theory.md, sections '2.0 The drift formula', '2a. Soft bounds' and
    '2d. Up/down asymmetry, device-to-device variation, zero-shifting'):

    .. math::
        m = (X^\top X + n\Lambda)^{-1}(X^\top y + n\Lambda w_s), \qquad
        \Lambda = \mathrm{diag}(\lambda_i), \quad \lambda_i = E|g_i(m)|\;F'(w_s)

    with :math:`w_s` = ``device.symmetry_point()`` and :math:`F'(w_s)` = ``device.asymmetry_slope()``
    (for symmetric soft bounds :math:`\lambda_i = E|g_i(m)|/w_{\max}`). Iterated from
    :math:`m_0 = w_{\rm OLS}` until :math:`\|m_{k+1} - m_k\| \le` ``tol`` :math:`\|m_{k+1}\|`.
    Nothing is fitted to trained weights. A device with :math:`F' = 0` (constant step) adds no
    penalty: :math:`\lambda = 0` and :math:`m = w_{\rm OLS}`. A state-dependent device without a
    symmetry point has no Tikhonov form: every output is NaN.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    device : memsim.physics.devices.PulsedDevice
        Its nominal cell is used.
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).
    max_iter : int
        Maximum fixed-point iterations, >= 1.
    tol : float
        Relative convergence tolerance, > 0.

    Returns
    -------
    dict
        ``lambda_pred`` (float, mean of the per-weight values), ``lambda_pred_per_weight`` (d,),
        ``w_tikhonov`` (d,) (the generalized Tikhonov solution towards :math:`w_s` with these
        lambdas), ``iterations`` (int).

    Raises
    ------
    ConvergenceError
        If the iteration has not converged after ``max_iter`` steps.
    """
    owner = "predict_lambda"
    X, y = check_design(owner, X, y)
    n, d = X.shape
    batch_size, accumulate = _check_scheme(owner, n, batch_size, accumulate)
    max_iter = check_int(owner, "max_iter", max_iter, lo=1)
    tol = check_float(owner, "tol", tol, lo=0.0, lo_open=True)
    w_s, slope = symmetry(device, owner)
    if not (math.isfinite(w_s) and math.isfinite(slope)):
        nan = np.full(d, np.nan)
        return {"lambda_pred": math.nan, "lambda_pred_per_weight": nan, "w_tikhonov": nan.copy(),
                "iterations": 0}
    m = ols(X, y)
    for iteration in range(1, max_iter + 1):
        lam = slope * _abs_grad(X, y, m, batch_size, accumulate)
        m_next = generalized_tikhonov(X, y, lam, w_s)
        converged = np.linalg.norm(m_next - m) <= tol * np.linalg.norm(m_next)
        m = m_next
        if converged:
            return {"lambda_pred": float(np.mean(lam)), "lambda_pred_per_weight": lam, "w_tikhonov": m,
                    "iterations": iteration}
    raise ConvergenceError(f"predict_lambda: the fixed point m = generalized_tikhonov(X, y, E|g(m)| F'(w_s), w_s) "
                           f"did not converge in {max_iter} iterations (tol={tol:g}); raise max_iter or tol.")


def predict_weights(X: Any, y: Any, device: Any, *, batch_size: int = 1, accumulate: bool = False,
                    max_iter: int = 100, tol: float = 1e-12) -> np.ndarray:
    r"""Predicted stationary mean weights: the root of the EXACT per-weight law :math:`(\ast)`.

    .. math::  E[g_i(w)] + E|g_i(w)|\,F(w_i) = 0 \quad\text{for all } i

    (docs/theory.md, sections '2.0 The drift formula' and '2d. Up/down asymmetry, device-to-device
    variation, zero-shifting'), solved with ``scipy.optimize.root`` (MINPACK ``hybr``) from the
    :func:`predict_lambda` solution (from OLS if that is NaN). For a device with linear
    :math:`F(w) = F'(w_s)(w - w_s)` (symmetric soft bounds: :math:`F(w) = w/w_{\max}`) the law is
    exactly the generalized Tikhonov fixed point and the result equals ``w_tikhonov``; for
    ``up_down != 0`` (rational :math:`F`) the two differ (by 6-8 % of the shift at ``up_down = 0.3``).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    device : memsim.physics.devices.PulsedDevice
        The nominal device model.
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).
    max_iter : int
        Passed to :func:`predict_lambda`; the root finder may use ``max_iter * (d + 1)``
        residual evaluations.
    tol : float
        Relative step tolerance of both solvers.

    Returns
    -------
    numpy.ndarray, shape (d,)
        The predicted stationary mean weights.

    Raises
    ------
    ConvergenceError
        If the root finder fails or its residual is not below ``1e-9`` of the gradient scale.
    """
    owner = "predict_weights"
    X, y = check_design(owner, X, y)
    d = X.shape[1]
    batch_size, accumulate = _check_scheme(owner, X.shape[0], batch_size, accumulate)
    start = predict_lambda(X, y, device, batch_size=batch_size, accumulate=accumulate,
                           max_iter=max_iter, tol=tol)["w_tikhonov"]
    if not np.all(np.isfinite(start)):
        start = ols(X, y)

    def residual(w: np.ndarray) -> np.ndarray:
        return _stationarity_residual(X, y, w, device, batch_size, accumulate)

    sol = root(residual, start, method="hybr", options={"xtol": tol, "maxfev": max_iter * (d + 1)})
    r = residual(sol.x)
    scale = float(np.max(np.abs(X.T @ y)) / X.shape[0] + np.max(_abs_grad(X, y, sol.x, batch_size, accumulate)))
    if not (np.all(np.isfinite(r)) and np.max(np.abs(r)) <= 1e-9 * scale):
        raise ConvergenceError(f"predict_weights: no root of E[g] + E|g| F(w) = 0 found (max residual "
                               f"{np.max(np.abs(r)):.3g}, gradient scale {scale:.3g}; "
                               f"{' '.join(sol.message.split())}). The device may push weights onto a bound.")
    return sol.x


def lambda_plugin(mean_abs_grad: Any, device: Any) -> dict[str, Any]:
    r"""The penalty from the statistics recorded during training (docs/theory.md, section '2.0 The drift formula').

    .. math::  \lambda_i^{\rm plugin} = \overline{|g_i|}_{\rm recorded}\;F'(w_s)

    where :math:`\overline{|g_i|}` is the recorded mean of :math:`|\Delta_i|/\eta` over the
    averaging window (in the units of the stationarity law: for summed mini-batch updates divide
    the recorded value by the batch size first, as :func:`summarize` does).

    Parameters
    ----------
    mean_abs_grad : array_like, shape (d,) (any shape is flattened)
        Recorded mean of :math:`|\Delta_i|/\eta` over the averaging window, in the units of the law.
    device : memsim.physics.devices.PulsedDevice
        The nominal device model.

    Returns
    -------
    dict
        ``lambda_plugin`` (float, the mean) and ``lambda_plugin_per_weight`` (d,); 0 for a device
        with :math:`F' = 0`, NaN for one without a symmetry point.
    """
    g = check_array("lambda_plugin", "mean_abs_grad", np.ravel(mean_abs_grad), ("d",))
    slope = symmetry(device, "lambda_plugin")[1]
    per_weight = slope * g
    return {"lambda_plugin": float(np.mean(per_weight)), "lambda_plugin_per_weight": per_weight}


def _linear_through_zero(device: Any) -> bool:
    """Whether ``F(w) = F'(0) w`` on the device's range (checked on 101 interior points, to 1e-9)."""
    w = np.linspace(device.w_min, device.w_max, 103)[1:-1]
    return bool(np.allclose(device.asymmetry_function(w), device.asymmetry_slope(0.0) * w, rtol=0.0, atol=1e-9))


def identity_residual(X: Any, y: Any, weights_mean: Any, mean_abs_grad_w: Any, device: Any) -> np.ndarray:
    r"""Per-weight residual of the exact stationarity identity, a cheap simulator self-test.

    The mean of the stationary distribution satisfies :math:`E[g_i] + E[|g_i|\,F(w_i)] = 0` exactly
    (docs/theory.md, section '2.0 The drift formula', up to pulse compounding; soft bounds have
    :math:`\bar a \equiv 1`). The
    recorded statistic :math:`E[|g_i| w_i]` (``w`` read before each update) gives the second term
    exactly only when :math:`F` is linear through 0, :math:`F(w) = F'(0)\,w`; for symmetric soft bounds
    (:math:`w_s = 0`, :math:`F'(0) = 1/w_{\max}`) the residual is

    .. math::  (Hm - b)_i + E[|g_i| w_i] / w_{\max},

    with :math:`E[g] = Hm - b` exact for least squares (:math:`m` = ``weights_mean``).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    weights_mean : array_like, shape (d,)
        Time-averaged weights :math:`m` over the averaging window.
    mean_abs_grad_w : array_like, shape (d,) (any shape is flattened)
        Recorded :math:`E[|g_i| w_i]`, in the units of the law (see :func:`lambda_plugin`).
    device : memsim.physics.devices.PulsedDevice
        Must have :math:`F(w) = F'(0)\,w` (else ``ConfigError``).

    Returns
    -------
    numpy.ndarray, shape (d,)
        The residual of every weight (0 at an exact stationary mean).
    """
    owner = "identity_residual"
    X, y = check_design(owner, X, y)
    d = X.shape[1]
    m = check_array(owner, "weights_mean", weights_mean, (d,))
    gw = check_array(owner, "mean_abs_grad_w", np.ravel(mean_abs_grad_w), (d,))
    if not _linear_through_zero(device):
        raise invalid(owner, "device", "a device with F(w) linear through 0 (e.g. symmetric soft bounds)", device)
    return X.T @ (X @ m - y) / X.shape[0] + device.asymmetry_slope(0.0) * gw


# ---------------------------------------------------------------------------- regime warnings
def _dead_zone_fraction(X: np.ndarray, y: np.ndarray, w: np.ndarray, threshold: float,
                        batch_size: int, accumulate: bool) -> float:
    """Fraction of requested per-event gradients ``|g|`` (summed over a batch) below ``threshold``."""
    G = _per_sample_grads(X, y, w)
    if not accumulate or batch_size == 1:
        return float(np.mean(np.abs(G) < threshold))
    mu, sd = _batch_mean_moments(G, batch_size)      # the summed gradient is batch_size * mean
    t = threshold / batch_size
    safe = np.where(sd > 0, sd, 1.0)
    inside = np.where(sd > 0, ndtr((t - mu) / safe) - ndtr((-t - mu) / safe), np.abs(mu) < t)
    return float(np.mean(inside))


def _is_deterministic(rule: Any) -> bool:
    return getattr(rule, "kind", rule) == "deterministic"


def large_step_warning(jitter: float, where: str = "") -> list[str]:
    """``large_step``: ``jitter`` :math:`= \\eta\\max_i E|g_i|/w_{\\max}` above ``LARGE_STEP`` (or nothing).

    ``where`` (e.g. ``"layer 1: "``) is put after the code.
    """
    if jitter > LARGE_STEP:
        return [f"large_step: {where}lr*max_i E|g_i|/w_max = {jitter:.3g} > {LARGE_STEP}: large weight jitter, "
                "O(lr) corrections to the Tikhonov picture matter (docs/theory.md, section '2a. Soft bounds')"]
    return []


def few_states_warning(device: Any) -> list[str]:
    """``few_states``: fewer than ``FEW_STATES`` nominal steps across the range (or nothing)."""
    states = (float(device.w_max) - float(device.w_min)) / float(device.dw_min)
    if states < FEW_STATES:
        return [f"few_states: (w_max - w_min)/dw_min = {states:.3g} < {FEW_STATES:g}: quantisation, "
                "not the soft-bound drift, may dominate"]
    return []


def near_bound_warning(m: np.ndarray, device: Any, where: str = "") -> list[str]:
    """``near_bound``: mean weights within ``NEAR_BOUND_STEPS`` nominal steps of a bound (or nothing).

    ``where`` (e.g. ``"layer 1: "``) is put after the code.
    """
    w_min, w_max, dw_min = float(device.w_min), float(device.w_max), float(device.dw_min)
    close = int(np.sum(np.minimum(m - w_min, w_max - m) < NEAR_BOUND_STEPS * dw_min))
    if not close:
        return []
    return [f"near_bound: {where}{close} of {np.size(m)} mean weights within {NEAR_BOUND_STEPS:g}*dw_min of a "
            "bound: hard clipping is a separate, non-quadratic shrinkage"]


def truncation_warning(stats_list: Any) -> list[str]:
    """``max_pulses``: programming events whose pulse count was cut at the rule's ``max_pulses`` (or nothing).

    ``stats_list`` is a list (or one) of statistics dicts: ``Tile.statistics()`` or the layers' assembled
    ``TrainResult.statistics``, with the per-cell ``events_truncated`` and ``pulses_lost`` (counted on every
    update, not only in the averaging window), ``events_total`` (programming events of each cell: a scalar,
    or per cell as a layer assembles it) and ``max_pulses``. Counts are cell events: one programming event of
    an ``r x c`` tile is ``r c`` of them. Returns one line, or ``[]`` when nothing was truncated (or the
    statistics hold no truncation counters).
    """
    if isinstance(stats_list, dict):
        stats_list = [stats_list]
    truncated = lost = total = 0
    caps: set[int] = set()
    for stats in stats_list:
        if "events_truncated" not in stats:
            continue
        cut = np.asarray(stats["events_truncated"])
        truncated += sum(cut.ravel().tolist())  # Python integers: exact, no int64 overflow
        lost += sum(np.asarray(stats["pulses_lost"]).ravel().tolist())
        if "events_total" in stats:
            events = np.asarray(stats["events_total"])
            if cut.ndim == 0 and events.ndim:  # per-tile totals (a large tile), events_total per cell
                total += int(events.sum())
            else:
                total += sum(np.broadcast_to(events, cut.shape).ravel().tolist())
        if "max_pulses" in stats:
            caps.update(int(k) for k in np.unique(np.asarray(stats["max_pulses"])).tolist())
    if truncated == 0:
        return []
    of = f" of {total}" if total else ""
    cap = ", ".join(str(k) for k in sorted(caps)) if caps else "?"
    return [f"max_pulses: {truncated} programming events{of} were cut at max_pulses = {cap}, {lost} pulses lost: "
            "raise update.max_pulses or dw_min"]


def regime_warnings(X: Any, y: Any, weights_mean: Any, device: Any, *, lr: float | None = None,
                    rule: Any = None, batch_size: int = 1, accumulate: bool = False) -> list[str]:
    r"""Where the Tikhonov picture is not expected to hold (docs/theory.md, section 'Where the
    predictions do not hold') (never an exception).

    Each warning starts with a code:

    ``large_step:``
        :math:`\eta\max_i E|g_i|/w_{\max} > 0.05` at ``weights_mean`` (per programming event: for
        summed mini-batches :math:`E|\sum_{\mathcal B} g_i|`; :math:`w_{\max}` is the half range
        :math:`(w_{\max} - w_{\min})/2`): big jitter, the :math:`O(\eta)` corrections of section 2a matter.
    ``few_states:``
        :math:`(w_{\max} - w_{\min})/\Delta w_{\min} < 50`.
    ``dead_zone:``
        deterministic rounding (``rule`` is ``"deterministic"`` or has that ``kind``) and more than
        20 % of the requested :math:`|\Delta| = \eta|g|` at ``weights_mean`` are below
        :math:`\Delta w_{\min}/2` (lost requests).
    ``near_bound:``
        some :math:`|m_i - \text{bound}| < 3\,\Delta w_{\min}` (hard clipping: a separate shrinkage).
    ``interpolation:``
        :math:`n \le d`: per-sample gradients vanish at interpolating solutions, lambda is meaningless.

    ``large_step`` and ``dead_zone`` need ``lr``.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    weights_mean : array_like, shape (d,)
        Time-averaged weights :math:`m` at which the regime is judged.
    device : memsim.physics.devices.PulsedDevice
        The nominal device model.
    lr : float, optional
        Per-sample learning rate :math:`\eta` (needed by ``large_step`` and ``dead_zone``).
    rule : str or memsim.physics.updates.UpdateRule, optional
        The update rule (``dead_zone`` applies to deterministic rounding).
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).

    Returns
    -------
    list of str
        The warnings, each starting with its code.
    """
    owner = "regime_warnings"
    X, y = check_design(owner, X, y)
    n, d = X.shape
    m = check_array(owner, "weights_mean", weights_mean, (d,))
    batch_size, accumulate = _check_scheme(owner, n, batch_size, accumulate)
    w_min, w_max, dw_min = float(device.w_min), float(device.w_max), float(device.dw_min)
    half_range = (w_max - w_min) / 2.0
    out = []
    if lr is not None:
        lr = check_float(owner, "lr", lr, lo=0.0, lo_open=True)
        event = batch_size if accumulate and batch_size > 1 else 1
        jitter = lr * event * float(np.max(_abs_grad(X, y, m, batch_size, accumulate))) / half_range
        out += large_step_warning(jitter)
        if _is_deterministic(rule):
            lost = _dead_zone_fraction(X, y, m, dw_min / (2.0 * lr), batch_size, accumulate)
            if lost > DEAD_ZONE_FRACTION:
                out.append(f"dead_zone: {lost:.0%} of the requested updates lr*|g| are below dw_min/2 and are "
                           "lost by deterministic rounding (docs/theory.md, section '2a. Soft bounds')")
    out += few_states_warning(device) + near_bound_warning(m, device)
    if n <= d:
        out.append(f"interpolation: n_train = {n} <= n_features = {d}: per-sample gradients vanish at "
                   "interpolating solutions, so lambda is meaningless")
    return out


# ---------------------------------------------------------------------------- the summary
def _attempt(compute: Any, fallback: Any, warnings: list[str]) -> Any:
    """``compute()``, or ``fallback`` plus a ``no_prediction`` warning if it raises ConvergenceError."""
    try:
        return compute()
    except ConvergenceError as error:
        warnings.append(f"no_prediction: {error}")
        return fallback


def summarize(X: Any, y: Any, X_test: Any, y_test: Any, weights_final: Any, weights_mean: Any, device: Any, *,
              mean_abs_grad: Any = None, mean_abs_grad_w: Any = None, batch_size: int = 1,
              accumulate: bool = False, bias: bool = False, lr: float | None = None,
              rule: Any = None) -> dict[str, Any]:
    r"""All metrics of docs/design.md (section 'Metrics') for one trained linear model.

    With :math:`m` = ``weights_mean``:

    ``lambda_fit``, ``ridge_path_distance``
        :func:`memsim.compare.ridge.fit_lambda` and :func:`memsim.compare.ridge.ridge_path_distance` of :math:`m`.
    ``lambda_pred``, ``lambda_pred_per_weight``
        :func:`predict_lambda` (data and device only).
    ``lambda_plugin``, ``lambda_plugin_per_weight``
        :func:`lambda_plugin` of the recorded ``mean_abs_grad`` (NaN without it).
    ``w_pred``, ``tikhonov_pred_distance``
        :func:`predict_weights` and :math:`\|m - w_{\rm pred}\| / \|m - w_{\rm OLS}\|`.
    ``test_loss_final``, ``test_loss_mean_weights``, ``ridge_test_loss_at_lambda_fit``, ``ols_test_loss``
        :func:`memsim.compare.ridge.loss` on the test set of the final weights, of :math:`m`, of
        :math:`w_{\rm ridge}(\lambda_{\rm fit})` and of :math:`w_{\rm OLS}`.
    ``lambda_fit_test_loss``
        :func:`memsim.compare.ridge.lambda_for_loss` of ``test_loss_mean_weights`` (the time-averaged
        weights, like every metric here), the root nearest ``lambda_fit``; NaN if none.
    ``w_ols``
        :math:`w_{\rm OLS}`.
    ``identity_residual``
        :math:`\max_i` of :func:`identity_residual` (NaN without ``mean_abs_grad_w`` or when
        :math:`F` is not linear through 0).
    ``regime_warnings``
        :func:`regime_warnings` at :math:`m`, plus ``"no_prediction: ..."`` when
        :func:`predict_lambda` or :func:`predict_weights` raises :class:`ConvergenceError` (then the
        predicted values are NaN: a prediction that does not exist is not a failed run).

    Recorded statistics are per programming event, :math:`|\Delta|/\eta`; with ``accumulate=True`` an
    event's gradient is the SUM over the batch, :math:`B|\bar g|`, so both recorded statistics are
    divided by ``batch_size`` to put them in the units of the stationarity law (batch mean; a
    smaller last batch of an epoch makes this slightly approximate).

    Bias: with ``bias=True`` the LAST column of ``X`` and ``X_test`` is a bias (constant) column.
    It is dropped, together with the last entry of every weight and statistic vector, before
    anything is computed: all fits, distances, predictions and test losses (also those of the
    trained weights) are those of the linear part alone, without the bias weight.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    X_test : array_like, shape (n_test, d)
        Test inputs.
    y_test : array_like, shape (n_test,)
        Test targets.
    weights_final : array_like, shape (d,) (any shape is flattened)
        Weights at the end of training.
    weights_mean : array_like, shape (d,) (any shape is flattened)
        Time-averaged weights :math:`m` over the averaging window.
    device : memsim.physics.devices.PulsedDevice
        The nominal device model.
    mean_abs_grad, mean_abs_grad_w : array_like, shape (d,), optional
        Recorded :math:`E|\Delta_i|/\eta` and :math:`E[|\Delta_i| w_i]/\eta` over the averaging window.
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).
    bias : bool
        Whether the last column of ``X`` (and entry of the weights) is a bias, dropped here.
    lr : float, optional
        For the ``large_step`` and ``dead_zone`` warnings.
    rule : str or memsim.physics.updates.UpdateRule, optional
        For the ``dead_zone`` warning.

    Returns
    -------
    dict
        The keys above; floats, numpy arrays and a list of str.
    """
    owner = "summarize"
    bias = check_bool(owner, "bias", bias)
    X, y = check_design(owner, X, y)
    d_full = X.shape[1]
    X_test, y_test = check_design(owner, X_test, y_test, ("X_test", "y_test"), d=d_full)
    keep = slice(0, d_full - 1 if bias else d_full)

    def vector(name: str, value: Any) -> np.ndarray:
        return check_array(owner, name, np.ravel(value), (d_full,))[keep]

    wf, m = vector("weights_final", weights_final), vector("weights_mean", weights_mean)
    X, X_test = X[:, keep], X_test[:, keep]
    batch_size, accumulate = _check_scheme(owner, X.shape[0], batch_size, accumulate)
    per_event = batch_size if accumulate else 1
    d = X.shape[1]

    svd = RidgeSVD(X, y)
    w_ols = svd.coef(0.0)
    lambda_fit, distance = fit_lambda(m, X, y)
    scheme = {"batch_size": batch_size, "accumulate": accumulate}
    warnings = regime_warnings(X, y, m, device, lr=lr, rule=rule, **scheme)
    pred = _attempt(lambda: predict_lambda(X, y, device, **scheme),
                    {"lambda_pred": math.nan, "lambda_pred_per_weight": np.full(d, np.nan)}, warnings)
    w_pred = _attempt(lambda: predict_weights(X, y, device, **scheme), np.full(d, np.nan), warnings)
    test_loss_mean = loss(X_test, y_test, m)

    if mean_abs_grad is None:
        plugin = {"lambda_plugin": math.nan, "lambda_plugin_per_weight": np.full(d, np.nan)}
    else:
        plugin = lambda_plugin(vector("mean_abs_grad", mean_abs_grad) / per_event, device)
    if mean_abs_grad_w is None or not _linear_through_zero(device):
        identity = math.nan
    else:
        gw = vector("mean_abs_grad_w", mean_abs_grad_w) / per_event
        identity = float(np.max(np.abs(identity_residual(X, y, m, gw, device))))

    return {
        "lambda_fit": lambda_fit,
        "ridge_path_distance": relative_distance(distance, m, w_ols),
        "lambda_pred": pred["lambda_pred"],
        "lambda_pred_per_weight": pred["lambda_pred_per_weight"],
        **plugin,
        "w_pred": w_pred,
        "tikhonov_pred_distance": relative_distance(float(np.linalg.norm(m - w_pred)), m, w_ols),
        "lambda_fit_test_loss": lambda_for_loss(test_loss_mean, X, y, X_test, y_test, near=lambda_fit),
        "test_loss_final": loss(X_test, y_test, wf),
        "test_loss_mean_weights": test_loss_mean,
        "ridge_test_loss_at_lambda_fit": loss(X_test, y_test, svd.coef(lambda_fit)),
        "ols_test_loss": loss(X_test, y_test, w_ols),
        "w_ols": w_ols,
        "identity_residual": identity,
        "regime_warnings": warnings,
    }
