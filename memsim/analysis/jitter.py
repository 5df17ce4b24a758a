r"""The O(eta) jitter correction of the predicted penalty: a Lyapunov solve.

See docs/theory.md, section '2a. Soft bounds'.

:func:`memsim.analysis.penalty.predict_lambda` is the :math:`\eta\to0` limit: it evaluates :math:`E|g_i|` at the
mean weights :math:`m`. In a real run the weights *fluctuate* around :math:`m` (gradient sampling noise,
pulse-count rounding, cycle-to-cycle noise), every residual :math:`r_b = x_b^\top w - y_b` then has a
larger spread, and :math:`E|g_i|` -- hence :math:`\lambda_i = E|g_i|\,F'(w_s)` -- is larger. This module
predicts the stationary weight covariance :math:`C` and the mean :math:`m` self-consistently.

Model (per programming event; everything in weight units)
---------------------------------------------------------
A requested update :math:`\Delta_i = -\eta g_i` becomes :math:`n` pulses of the nominal size
:math:`\delta w` (the rule counts with the device's nominal ``dw_min``); near the symmetry point one
pulse moves the weight by :math:`\delta w\,\bar a` with :math:`\bar a = q_\pm(w_s)` (the mean step at
:math:`w_s` relative to ``dw_min``; 1 for soft bounds, 2.04 for NeuroSim NL 4.22 at 100 states). With
:math:`u = |\Delta|/\delta w` the requested pulse count and :math:`\bar n(u)`, :math:`v(u)` the mean and
variance of the realised count:

================  ===============================  ==================================
rule              :math:`\bar n(u)`                :math:`v(u)`
================  ===============================  ==================================
stochastic        :math:`u` (unbiased)             :math:`\{u\}(1-\{u\})` (fractional part)
deterministic     :math:`\lfloor u + 1/2\rfloor`   0 (the rounding *error* is a deterministic
                                                   function of the sample: it enters through
                                                   the realised-gradient moments, below)
coincidence       :math:`u` (no clipping)          :math:`u(1 - u/BL)` (binomial, BL per sample)
================  ===============================  ==================================

The realised gradient is :math:`\hat g = \mathrm{sign}(g)\,\bar n(u)\,\delta w/\eta` (in gradient units).
Per event the weight noise has variance (diagonal, independent between cells)

* rounding: :math:`(\delta w\,\bar a)^2\,E[v(u)]` -- for stochastic rounding this is
  :math:`\delta w^2\,\{u\}(1-\{u\})`, about :math:`\delta w\,|\Delta|` when :math:`|\Delta| < \delta w`
  and :math:`\delta w^2/6` on average when :math:`|\Delta| \gg \delta w`;
* cycle-to-cycle, per event of :math:`n` pulses (:math:`E[n] = E[\bar n(u)]`):
  ``multiplicative``: every pulse :math:`\times(1+\sigma\rho\xi)` (:math:`\rho` = ``step_spread`` at
  :math:`w_s`, 1 except for measured devices), so :math:`\sigma^2\rho^2(\delta w\,\bar a)^2\,E[n]`,
  i.e. :math:`\sigma^2\,\delta w\,|\Delta|` for soft bounds; ``additive``
  (:math:`\delta w_{\rm cell}\sigma\rho\xi` per pulse): :math:`\sigma^2\rho^2\delta w_{\rm cell}^2\,E[n]`;
  ``neurosim`` (:math:`\sigma(w_{\max}-w_{\min})\sqrt n\,\xi` once per event):
  :math:`\sigma^2(w_{\max}-w_{\min})^2\,E[n]`;
* gradient sampling: :math:`\eta^2\bar a^2\,\mathrm{Cov}(g)` (off-diagonal too).

**Per-sample (rank-1) events** (``accumulate=False``): an event is one sample :math:`b` (so
:math:`\mathrm{Cov}(g)` is the per-sample gradient covariance); a batch of :math:`B` events reads the
weights once, so one *step* of the linearised dynamics is a batch:

.. math::
    C = M C M^\top + Q,\quad M = I - \eta B\,\bar a\,(J + \Lambda),\quad
    Q = B\big[\eta^2\bar a^2\,\Sigma_g(C) + \mathrm{diag}(\text{rounding} + \text{c2c})\big],

    \Sigma_g(C) = E_b\big[x_bx_b^\top(\mu_b^2 + s_b^2)\big] - \bar g\bar g^\top - HCH,
    \qquad \mu_b = x_b^\top m - y_b,\quad s_b^2 = x_b^\top C x_b

(the :math:`s_b^2` term and :math:`-HCH` make the recursion the *exact* second-moment recursion of
SGD on least squares with random :math:`x_b`), :math:`J = \partial E[\hat g]/\partial m` (:math:`= H` for
unbiased rules) and :math:`\Lambda = \mathrm{diag}(\lambda_i)`. The residual of sample :math:`b` is then
:math:`r_b\sim N(\mu_b, s_b^2)` and, with :math:`u = \eta|x_{bi}r_b|/\delta w`,

.. math::
    E|\hat g_i| = E_b E_r\big[\bar n(u)\big]\frac{\delta w}{\eta}
    \;\overset{\rm unbiased}{=}\; E_b\big[|x_{bi}|\,E|r_b|\big] \ (\text{folded normal}),
    \qquad
    c_i = \mathrm{Cov}(|\hat g_i|, w_i) = E_b\big[\kappa_{bi}\,(Cx_b)_i\big]

by Stein's lemma, :math:`\kappa_{bi} = E_r[\partial_r|\hat g_{bi}|] = E_r[|\hat g_{bi}|(r-\mu_b)]/s_b^2`
(:math:`= |x_{bi}|(1 - 2\Phi(-\mu_b/s_b))` for unbiased rules).

**Accumulated mini-batches** (``accumulate=True``): an event programs the batch SUM,
:math:`|\Delta_i| = \eta B|\bar g_i|`; per weight :math:`\bar g_i \sim N(\mu_i, V_i)` with
:math:`\mu_i = (Hm-b)_i`, :math:`V_i = \Sigma_{g,ii}(C)\,\frac{n-B}{B(n-1)} + (HCH)_{ii}`; the event noise
is :math:`\eta^2B^2\bar a^2\,\Sigma_g(C)\frac{n-B}{B(n-1)}` plus rounding and c2c with that
:math:`|\Delta|`, :math:`M = I - \eta B\bar a(J+\Lambda)`, and :math:`c_i = \kappa_i (HC)_{ii}`.
Gradients are quoted per batch MEAN (the units of the stationarity law). With :math:`B = n` (full
batch) only the rounding and c2c jitter sustain :math:`E|\bar g|` (docs/theory.md, section '2a. Soft bounds',
'Pulse quantisation').

**Data order.** The recursion above is for independent draws (``sampling="replacement"``, the
plain discrete Lyapunov equation, ``scipy.linalg.solve_discrete_lyapunov``). memsim draws a fresh
permutation every epoch (``sampling="reshuffle"``, the default): the sampling noises of an epoch sum to
zero, so the weights wander less (a bridge rather than a random walk; at epoch ends the variance is an
order of magnitude below the with-replacement value on the README example), and a sample is always
*unseen* when it is read in its epoch, which shifts its own residual outwards by
:math:`x_b^\top L\xi_b` -- a first-order O(eta) increase of :math:`E|g|` and a small drift bias. (There
the predicted :math:`E|g|` is 4.3 % above its :math:`\eta\to0` value, the recorded one 4.6 %; independent
draws would predict 1.9 %.) Both are computed in closed form from the eigen-decomposition of
:math:`M` (:func:`_covariance`).
Per-event and per-step quantities: the noises above are per programming *event*; one linearised
*step* is one batch (per-sample mode: :math:`B` events that read the same weights; accumulated mode:
one event), and an epoch has :math:`\lceil n/B\rceil` steps.

The mean law. The exact stationarity identity :math:`E[\hat g_i] + E[|\hat g_i|\,F_i(w_i)] = 0` (mean of
the stationary distribution, docs/theory.md, section '2.0 The drift formula') with
:math:`E[|\hat g|F(w)] \approx E|\hat g|\big(F(m) +
\tfrac12F''(m)C_{ii}\big) + F'(m)\,c_i`; for a linear :math:`F = F'(w_s)(w - w_s)` (soft bounds) this is
:math:`E[\hat g_i] + F'\,\big(E|\hat g_i|(m_i - w_{s}) + c_i\big) = 0`, i.e.

.. math::
    m = (H + \Lambda)^{-1}\big(b + \Lambda w_s - F'(w_s)\,c - \beta\big),
    \qquad \lambda_i = E|\hat g_i|\,F'(w_s),\quad \beta = E[\hat g] - (Hm - b)

(:math:`\beta = 0` for unbiased rules; for deterministic rounding it is the dead-zone bias; with
reshuffling it also holds the small drift bias). A non-linear :math:`F` is handled by the same solve
with the secant slope :math:`F(m_i)/(m_i - w_{s,i})` in place of :math:`F'(w_s)` (see
:func:`_nonlinear_terms`), so the result tends to :func:`memsim.analysis.penalty.predict_weights` (the exact
law) as ``lr -> 0``. :math:`m` and :math:`C` are iterated to a joint fixed point (damped if it
oscillates); the first iterate, at :math:`C = 0`, is the :math:`\eta\to0` generalized-Tikhonov
prediction of :func:`memsim.analysis.penalty.predict_lambda`.

Approximations, stated: :math:`\bar a` is taken at :math:`w_s` (exact for soft bounds and symmetric
NeuroSim labels, where :math:`q_+ + q_-` is constant); the weights are treated as Gaussian for the
folded-normal and Stein steps; clipping at the bounds and pulse compounding are ignored; for
deterministic rounding the realised-gradient covariance is modelled as :math:`D R D` (:math:`R` the
correlation of :math:`\Sigma_g`, :math:`D_i^2 = \Sigma_{g,ii} + \mathrm{Var}(\hat g_i) - \mathrm{Var}(g_i)`)
with exact threshold sums for the rounded count (:math:`\bar n = \#\{k: |r| \ge (k-\frac12)/a\}`);
pulse-coincidence probabilities clipped at 1 are not modelled; the last, shorter batch of an epoch is
treated like the others. :math:`E[\{u\}(1-\{u\})]` under :math:`r\sim N(\mu, s^2)` uses a 321-point grid on
:math:`\pm8` standard deviations (49 points when samples x weights > 2e5); where :math:`as > 2` (the
spread covers several pulse quanta) the fractional part is uniform: :math:`E[\{u\}(1-\{u\})] = 1/6`, and
deterministic rounding is unbiased with error variance 1/12.

Validation (tests/test_analysis_jitter.py; README design n = 100, d = 20, noise 1, lr = 0.005):
NeuroSim exp_step (100 states, NL +-4.22, c2c "neurosim" 0.035), stochastic rounding, 1500 epochs,
8 seeds: ``lambda_pred_jitter / lambda_fit = 1.006 +- 0.023`` where the eta -> 0 ``lambda_pred`` gives
``0.81 +- 0.02``; deterministic rounding: ``0.99 +- 0.03`` (eta -> 0: ``1.47 +- 0.29``); predicted
epoch-end weight variances within a few % of the measured ``weights_var``.

Like :mod:`memsim.analysis.penalty`, this module reads only the data and the devices' pure formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import solve_discrete_lyapunov
from scipy.special import ndtr

from ..compare.ridge import fit_lambda
from ..errors import ConvergenceError
from ..params import check_bool, check_choice, check_design, check_float, check_int, invalid
from .penalty import folded_normal_mean, symmetry

__all__ = ["WeightGeometry", "nominal_geometry", "predict_lambda_jitter", "jitter_fixed_point", "nan_result",
           "RULES", "SAMPLING"]

RULES = ("stochastic_rounding", "deterministic", "pulse_coincidence")
#: Grid for expectations over r ~ N(mu, s^2) without a closed form.
_Z = np.linspace(-8.0, 8.0, 321)
_ZW = np.exp(-0.5 * _Z ** 2)
_ZW /= _ZW.sum()
#: Coarser grid used when samples x weights exceeds _FINE_ENTRIES (cost control).
_ZC = np.linspace(-6.0, 6.0, 49)
_ZCW = np.exp(-0.5 * _ZC ** 2)
_ZCW /= _ZCW.sum()
_FINE_ENTRIES = 200_000
#: Above this a*s the count's fractional part is treated as uniform.
_UNIFORM_SPREAD = 2.0
#: Deterministic rounding: exact threshold sums up to this many pulses, else the uniform-error limit.
_MAX_THRESHOLDS = 512
#: Elements per chunk of the (samples x weights x grid) arrays.
_CHUNK = 2_000_000


@dataclass(frozen=True)
class WeightGeometry:
    """What the jitter model needs to know about the device of each weight (arrays of shape (d,)).

    ``w_s`` symmetry point, ``slope`` :math:`F'(w_s)`, ``step`` the mean step of one pulse at
    :math:`w_s` in weight units (:math:`\\delta w\\,\\bar a`), ``dw_cell`` the cell's own ``dw_min``
    (additive c2c), ``span`` :math:`w_{\\max} - w_{\\min}` (NeuroSim c2c), ``spread`` the relative c2c
    spread at :math:`w_s` (``step_spread``, 1 for the standard models); ``dw_nominal`` the nominal
    ``dw_min`` the pulse-count rule uses; ``sigma``/``c2c_mode`` the cycle-to-cycle noise; ``fixed``:
    weights that do not move (stuck cells), held at ``fixed_value``.

    Parameters
    ----------
    w_s : numpy.ndarray
        Symmetry point of each weight, shape (d,).
    slope : numpy.ndarray
        Slope :math:`F'(w_s)` of the asymmetry function at the symmetry point, shape (d,).
    step : numpy.ndarray
        Mean step of one pulse at :math:`w_s` in weight units (:math:`\\delta w\\,\\bar a`), shape (d,).
    dw_cell : numpy.ndarray
        The cell's own ``dw_min`` (additive cycle-to-cycle noise), shape (d,).
    span : numpy.ndarray
        :math:`w_{\\max} - w_{\\min}` of each cell (NeuroSim cycle-to-cycle noise), shape (d,).
    spread : numpy.ndarray
        Relative cycle-to-cycle spread at :math:`w_s` (``step_spread``; 1 for the standard models), shape
        (d,).
    dw_nominal : float
        The nominal ``dw_min`` the pulse-count rule uses.
    sigma : float
        Cycle-to-cycle noise level (the device's ``dw_min_std``).
    c2c_mode : str
        Cycle-to-cycle noise mode of the device (``c2c_mode``).
    fixed : numpy.ndarray of bool
        Weights that do not move (stuck cells), shape (d,).
    fixed_value : numpy.ndarray
        Values at which the ``fixed`` weights are held, shape (d,).
    F : callable or None
        The asymmetry functions, ``F(w) -> (d,)`` for a (d,) array of weights (vectorised), for the exact
        (non-linearised) mean law; ``None``: :math:`F_i(w) = F'_i\\,(w - w_{s,i})`.
    lower : numpy.ndarray or None
        Lower bounds (d,) where ``F`` is evaluated (with ``F``).
    upper : numpy.ndarray or None
        Upper bounds (d,) where ``F`` is evaluated (with ``F``).
    """

    w_s: np.ndarray
    slope: np.ndarray
    step: np.ndarray
    dw_cell: np.ndarray
    span: np.ndarray
    spread: np.ndarray
    dw_nominal: float
    sigma: float
    c2c_mode: str
    fixed: np.ndarray
    fixed_value: np.ndarray
    F: Any = None
    """Optional: the asymmetry functions, ``F(w) -> (d,)`` for a (d,) array of weights (vectorised), for
    the exact (non-linearised) mean law; ``None``: ``F_i(w) = slope_i (w - w_s,i)``."""
    lower: Any = None
    """Lower bounds (d,) where ``F`` is evaluated (with ``F``)."""
    upper: Any = None
    """Upper bounds (d,) (with ``F``)."""

    @property
    def abar(self) -> np.ndarray:
        """Mean step at the symmetry point per nominal ``dw_min`` (the learning-rate factor)."""
        return self.step / self.dw_nominal


def nominal_geometry(device: Any, d: int) -> WeightGeometry:
    """The :class:`WeightGeometry` of ``d`` nominal cells of ``device`` (a zero-shifted view allowed).

    NaN ``w_s``/``slope`` when the device has no symmetry point.

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice
        The device (a zero-shifted view is allowed).
    d : int
        Number of weights.

    Returns
    -------
    WeightGeometry
        The same nominal cell for every weight.
    """
    w_s, slope = symmetry(device, "predict_lambda_jitter")
    shift = float(getattr(device, "shift", 0.0))       # ZeroShifted: formulas take device coordinates
    w_dev = (w_s if math.isfinite(w_s) else 0.0) + shift
    args = device._cell_args()
    step = float(device.step_up(w_dev))
    spread = float(device.step_spread(w_dev, 1, *args)) if getattr(device, "has_step_spread", False) else 1.0
    full = lambda v: np.full(d, float(v))  # noqa: E731
    return WeightGeometry(w_s=full(w_s), slope=full(slope), step=full(step), dw_cell=full(device.dw_min),
                          span=full(device.w_max - device.w_min), spread=full(spread),
                          dw_nominal=float(device.dw_min), sigma=float(device.dw_min_std),
                          c2c_mode=str(device.c2c_mode), fixed=np.zeros(d, dtype=bool), fixed_value=np.zeros(d),
                          F=lambda w: np.asarray(device.asymmetry_function(w), dtype=np.float64),
                          lower=full(device.w_min), upper=full(device.w_max))


# ---------------------------------------------------------------------------- count moments
def _rule_spec(owner: str, rule: Any) -> dict[str, Any]:
    kind = getattr(rule, "kind", rule)
    if kind not in RULES:
        raise invalid(owner, "rule", "one of " + ", ".join(repr(r) for r in RULES) + " (or an UpdateRule)", rule)
    return {"kind": kind, "desired_bl": int(getattr(rule, "desired_bl", 31)),
            "bl_management": bool(getattr(rule, "update_bl_management", True))}


def _sign_mean(mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``E[sign r]`` for ``r ~ N(mu, s^2)``."""
    safe = np.where(s > 0, s, 1.0)
    return np.where(s > 0, 1.0 - 2.0 * ndtr(-mu / safe), np.sign(mu))


def _count_moments(a: np.ndarray, mu: np.ndarray, s: np.ndarray, spec: dict[str, Any],
                   bl: np.ndarray | None = None, grid: tuple[np.ndarray, np.ndarray] = (_Z, _ZW)
                   ) -> dict[str, np.ndarray]:
    r"""Moments of the realised pulse count for ``u = a|r|``, ``r ~ N(mu, s^2)`` (arrays broadcast).

    Returns ``en`` :math:`E[\bar n]`, ``esn`` :math:`E[\mathrm{sign}(r)\bar n]`, ``ev`` :math:`E[v]`,
    ``excess`` :math:`E[\bar n^2 + v] - a^2E[r^2]`, ``k_abs`` :math:`E[\bar n\,(r-\mu)]/s^2` and
    ``k_sign`` :math:`E[\mathrm{sign}(r)\bar n\,(r-\mu)]/s^2` (Stein slopes; 0 where ``s = 0``).
    """
    a, mu, s = np.broadcast_arrays(a, mu, s)
    fold, sgn = folded_normal_mean(mu, s), _sign_mean(mu, s)
    out = {"en": a * fold, "esn": a * mu, "k_abs": a * sgn, "k_sign": a.copy()}
    second = a * a * (mu * mu + s * s)
    kind = spec["kind"]
    spread = a * s
    if kind == "pulse_coincidence":
        out["ev"] = np.maximum(out["en"] - second / bl, 0.0)
        out["excess"] = out["ev"]
        return out
    uniform = spread > _UNIFORM_SPREAD
    if kind == "stochastic_rounding":
        ev = np.full(a.shape, 1.0 / 6.0)
        idx = np.nonzero(~uniform)
        if idx[0].size:
            z, zw = grid
            u = a[idx][:, None] * np.abs(mu[idx][:, None] + s[idx][:, None] * z)
            frac = u - np.floor(u)
            ev[idx] = (frac * (1.0 - frac)) @ zw
        out["ev"] = ev
        out["excess"] = ev
        return out
    # deterministic rounding: n = floor(u + 1/2) = #{k >= 1 : |r| >= t_k}, t_k = (k - 1/2)/a; no count noise.
    # Exact threshold sums (smooth in mu and s, so the fixed point converges cleanly).
    out["ev"] = np.zeros(a.shape)
    out["excess"] = np.full(a.shape, 1.0 / 12.0)
    need = np.ceil(a * (np.abs(mu) + 10.0 * s) + 0.5)
    exact = ~uniform & (need <= _MAX_THRESHOLDS)
    idx = np.nonzero(exact)
    if idx[0].size:
        a_, m_, s_ = a[idx][:, None], mu[idx][:, None], s[idx][:, None]
        k = np.arange(1, int(need[idx].max()) + 1, dtype=np.float64)
        t = (k - 0.5) / np.where(a_ > 0, a_, 1.0)
        t = np.where(a_ > 0, t, np.inf)
        pos = s_ > 0
        ss = np.where(pos, s_, 1.0)
        up = np.where(pos, ndtr((m_ - t) / ss), (m_ >= t).astype(float))        # P(r >= t_k)
        down = np.where(pos, ndtr((-t - m_) / ss), (m_ <= -t).astype(float))    # P(r <= -t_k)
        pdf = lambda z: np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)  # noqa: E731
        d_up = np.where(pos, pdf((m_ - t) / ss) / ss, 0.0)                      # d/dmu P(r >= t_k)
        d_down = np.where(pos, pdf((-t - m_) / ss) / ss, 0.0)                   # -d/dmu P(r <= -t_k)
        tail = up + down
        out["en"][idx] = tail.sum(axis=1)
        out["esn"][idx] = (up - down).sum(axis=1)
        out["excess"][idx] = ((2.0 * k - 1.0) * tail).sum(axis=1) - second[idx]
        out["k_abs"][idx] = (d_up - d_down).sum(axis=1)
        out["k_sign"][idx] = (d_up + d_down).sum(axis=1)
    return out


# ---------------------------------------------------------------------------- one evaluation
def _moments(X, y, m, C, L, geo: WeightGeometry, lr, spec, batch_size, accumulate) -> dict[str, Any]:
    """Gradient statistics at the mean ``m``, jitter covariance ``C`` and reshuffling shift map ``L``.

    Returns the realised-gradient moments (batch-mean units), the Stein covariance, the drift
    Jacobian ``J``, the per-sample sampling covariance ``sampling`` (gradient units, at ``m``) and the
    per-step independent noise ``indep`` (weight units).
    """
    n, d = X.shape
    dw, B = geo.dw_nominal, batch_size
    abar = geo.abar
    mu_b = X @ m - y
    XC = X @ C
    s2_b = np.maximum(np.einsum("bi,bi->b", XC, X), 0.0)
    H = X.T @ X / n
    gbar = X.T @ mu_b / n
    HCH = H @ C @ H
    sampling = (X * (mu_b ** 2)[:, None]).T @ X / n - np.outer(gbar, gbar)
    jitter = (X * s2_b[:, None]).T @ X / n - HCH          # Cov_b of (x_b x_b^T - H) delta
    sampling, jitter = 0.5 * (sampling + sampling.T), 0.5 * (jitter + jitter.T)
    acc = accumulate and B > 1
    if acc:
        fpc = (n - B) / (B * (n - 1)) if n > 1 else 0.0
        sig = sampling * fpc                                # covariance of the batch-mean gradient
        amp = np.eye(d) if L is None else np.eye(d) + H @ L
        event = amp @ sig @ amp.T
        s = np.sqrt(np.maximum(np.diag(event) + fpc * np.diag(jitter) + np.diag(HCH), 0.0))
        a = np.full(d, lr * B / dw)
        mom = _count_moments(a, gbar, s, spec)
        scale = dw / (lr * B)                               # count -> batch-mean gradient
        cov_gw = np.diag(H @ C) + (0.0 if L is None else np.diag(amp @ sig @ L.T))
        abs_g, mean_g = scale * mom["en"], scale * mom["esn"]
        stein = scale * mom["k_abs"] * cov_gw
        J = (scale * mom["k_sign"])[:, None] * H
        pulses, ev, excess = mom["en"], mom["ev"], scale ** 2 * mom["excess"]
        indep_grad = (lr * B) ** 2 * fpc * jitter
        per_step = 1.0
    else:
        s_b = np.sqrt(s2_b)
        if L is None:
            e_b = np.zeros((n, d))
        else:                                                 # E[delta | b is read], reshuffling
            e_b = (X * mu_b[:, None] - gbar) @ L.T
        mu_t = mu_b + np.einsum("bi,bi->b", X, e_b)
        a_scale, scale = lr / dw, dw / lr
        abs_g, mean_g, stein = np.zeros(d), np.zeros(d), np.zeros(d)
        J = np.zeros((d, d))
        pulses, ev, excess = np.zeros(d), np.zeros(d), np.zeros(d)
        bl_all = None
        if spec["kind"] == "pulse_coincidence":
            bl_all = np.full(n, float(spec["desired_bl"]))
            if spec["bl_management"]:
                need = np.ceil(lr * np.max(np.abs(X), axis=1) * np.abs(mu_t) / dw)
                bl_all = np.minimum(np.maximum(need, 1.0), spec["desired_bl"])
        grid = (_Z, _ZW) if n * d <= _FINE_ENTRIES else (_ZC, _ZCW)
        rows = max(1, _CHUNK // max(d * len(grid[0]), 1))
        for lo in range(0, n, rows):
            sl = slice(lo, min(lo + rows, n))
            Xb = X[sl]
            bl = None if bl_all is None else bl_all[sl][:, None]
            mom = _count_moments(a_scale * np.abs(Xb), mu_t[sl][:, None], s_b[sl][:, None], spec, bl, grid)
            sx = np.sign(Xb)
            abs_g += scale * mom["en"].sum(axis=0)
            mean_g += scale * (sx * mom["esn"]).sum(axis=0)
            stein += scale * (mom["k_abs"] * XC[sl] + mom["en"] * e_b[sl]).sum(axis=0)
            J += scale * (sx * mom["k_sign"]).T @ Xb
            pulses += mom["en"].sum(axis=0)
            ev += mom["ev"].sum(axis=0)
            excess += scale ** 2 * mom["excess"].sum(axis=0)
        abs_g, mean_g, stein, J = abs_g / n, mean_g / n, stein / n, J / n
        pulses, ev, excess = pulses / n, ev / n, excess / n
        indep_grad = lr ** 2 * B * jitter
        per_step = float(B)
    if not np.any(s2_b > 0):
        J = H.copy()                                        # C = 0: the smoothed Jacobian is not defined yet
    if spec["kind"] == "deterministic":
        # realised-gradient covariance D R D: R the correlation of the requested one, D^2 its variance
        # plus the excess second moment of the rounded count (Var(g_hat) - Var(g))
        extra = excess - (mean_g ** 2 - gbar ** 2)          # Var(g_hat) - Var(g) per event
        if acc:                                             # the event is a batch mean: per-sample units
            fpc = (n - B) / (B * (n - 1)) if n > 1 else 0.0
            extra = extra / fpc if fpc > 0 else np.zeros(d)
        per_sample_var = np.diag(sampling) + extra
        sd0 = np.sqrt(np.maximum(np.diag(sampling), 0.0))
        safe = np.where(sd0 > 0, sd0, 1.0)
        R = sampling / np.outer(safe, safe)
        np.fill_diagonal(R, 1.0)
        D = np.sqrt(np.maximum(per_sample_var, 0.0))
        sampling = D[:, None] * R * D[None, :]
        ev = np.zeros(d)
    rounding = geo.step ** 2 * ev
    if geo.c2c_mode == "multiplicative":
        c2c = geo.sigma ** 2 * geo.spread ** 2 * geo.step ** 2 * pulses
    elif geo.c2c_mode == "additive":
        c2c = geo.sigma ** 2 * geo.spread ** 2 * geo.dw_cell ** 2 * pulses
    else:
        c2c = geo.sigma ** 2 * geo.span ** 2 * pulses
    indep = abar[:, None] * indep_grad * abar[None, :] + per_step * np.diag(rounding + c2c)
    return {"abs_g": abs_g, "mean_g": mean_g, "stein": stein, "J": J, "H": H, "b": X.T @ y / n, "grad": gbar,
            "sampling": sampling, "indep": indep, "pulses": pulses, "q_rounding": per_step * rounding,
            "q_c2c": per_step * c2c}


# ---------------------------------------------------------------------------- the weight covariance
def _block_variance(n: int, B: int) -> float:
    """Variance factor of the sum of ``B`` of ``n`` samples drawn without replacement: ``B (n - B)/(n - 1)``."""
    return B * (n - B) / (n - 1) if n > 1 else 0.0


def _regularise(eps: np.ndarray, N: int) -> np.ndarray:
    """Move decay rates with ``|N eps| < 1e-4`` to ``1e-4 / N`` (removable singularities below)."""
    small = np.abs(eps) * N < 1e-4
    return np.where(small, np.where(eps.real < 0, -1.0, 1.0) * 1e-4 / N, eps)


def _power(eps: np.ndarray, N: int) -> np.ndarray:
    """``(1 - eps)**N``, accurately for small real ``eps``."""
    if np.iscomplexobj(eps):
        return (1.0 - eps) ** N
    small = np.abs(eps) < 0.5
    return np.where(small, np.exp(N * np.log1p(-np.where(small, eps, 0.0))), (1.0 - eps) ** N)


def _covariance(drift: np.ndarray, sampling: np.ndarray, indep: np.ndarray, *, n: int, B: int, accumulate: bool,
                reshuffle: bool, owner: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    r"""Stationary jitter covariance of the linear recursion :math:`\delta_{k+1} = (I - D)\delta_k + \text{noise}`.

    ``drift`` is :math:`D = \eta B\,\mathrm{diag}(\bar a)(J + \Lambda)` per step (a batch), ``sampling``
    the per-sample gradient covariance already in weight units (:math:`\eta^2\bar a\Sigma\bar a`) and
    ``indep`` the per-step independent noise. Returns ``(C, P, L)``: the covariance averaged over the
    steps of an epoch, the covariance at epoch ends, and the reshuffling shift map (``None`` with
    replacement).

    *With replacement*: :math:`C = P` solves :math:`C = MCM^\top + vS + Q_{\rm ind}` with :math:`v = B`
    (per-sample events) or :math:`B(n-B)/(n-1)` (accumulated batches, drawn without replacement).

    *Reshuffling* (memsim's data order): the :math:`N = \lceil n/B\rceil` steps of an epoch are the blocks of
    a random permutation, so the block noises have variance :math:`vS`, :math:`v = B(n-B)/(n-1)`, and
    covariance :math:`cS`, :math:`c = -B^2/(n-1)`, and sum to zero over an epoch. Within an epoch
    :math:`\delta_k = M^k\delta_0 + W`-terms; in the eigenbasis of :math:`M = V\mathrm{diag}(\rho)V^{-1}` all
    sums over steps are geometric series:

    .. math::
        W_k = (v - c)\,G_k(S) + c\,S_kSS_k^\top + G_k(Q_{\rm ind}),\quad
        G_k(X) = \sum_{i<k}M^iXM^{i\top},\quad S_k = \sum_{i<k}M^i,\quad
        P = M^NPM^{N\top} + W_N,\quad C = \frac1N\sum_{k<N}\big(M^kPM^{k\top} + W_k\big).

    A sample read at step :math:`k` has not been used yet in this epoch, and the others' noises sum to
    minus its own: :math:`E[\delta_k\mid b] = \eta\,\frac{B}{n-1}S_k\,\mathrm{diag}(\bar a)\,\xi_b`
    (:math:`\xi_b = g_b - \bar g`), so its residual is larger by :math:`x_b^\top L\xi_b` with
    :math:`L = \eta\frac{B}{n-1}\bar S\,\mathrm{diag}(\bar a)`, :math:`\bar S = \frac1N\sum_k S_k` (per-sample
    events; for accumulated batches the batch gradient's deviation is amplified by :math:`I + HL` with
    :math:`L = \eta\frac{B^2}{n-B}\bar S\,\mathrm{diag}(\bar a)`). The caller applies ``L`` to
    :math:`\xi_b` *without* the factor :math:`\eta\bar a` (it is inside ``L``).
    """
    d = drift.shape[0]
    M = np.eye(d) - drift
    eps, V = np.linalg.eig(drift)
    radius = float(np.max(np.abs(1.0 - eps)))
    if not radius < 1.0:
        raise ConvergenceError(f"{owner}: the linearised weight dynamics are unstable (spectral radius "
                               f"{radius:.4g} >= 1): the learning rate is too large for a stationary state.")
    N = math.ceil(n / B)
    if not reshuffle or N <= 1:
        v = _block_variance(n, B) if accumulate else float(B)
        C = solve_discrete_lyapunov(M, v * sampling + indep)
        C = 0.5 * (C + C.T)
        return C, C, None
    v, c = _block_variance(n, B), -B * B / (n - 1)
    if np.all(np.abs(eps.imag) <= 1e-12 * np.maximum(np.abs(eps.real), 1e-300)):
        eps, V = eps.real, V.real
    Vi = np.linalg.inv(V)
    eps = _regularise(eps, N)
    ex = _regularise(eps[:, None] + eps[None, :] - eps[:, None] * eps[None, :], N)   # 1 - rho_p rho_q
    pN, xN = _power(eps, N), _power(ex, N)
    g_x = (1.0 - xN) / ex                                   # sum_{i<N} x^i
    s_N = (1.0 - pN) / eps                                  # sum_{i<N} rho^i
    h_x = g_x / N                                           # mean_{k<N} x^k
    h_p = s_N / N
    a_x = (1.0 - h_x) / ex                                  # mean_k sum_{i<k} x^i
    a_p = (1.0 - h_p) / eps                                 # mean_k sum_{i<k} rho^i
    a_ss = (1.0 - h_p[:, None] - h_p[None, :] + h_x) / (eps[:, None] * eps[None, :])  # mean_k s_k,p s_k,q
    S = Vi @ sampling @ Vi.T
    Qi = Vi @ indep @ Vi.T
    W_N = (v - c) * S * g_x + c * S * np.outer(s_N, s_N) + Qi * g_x
    P = W_N / (1.0 - xN)
    Ct = P * h_x + ((v - c) * S + Qi) * a_x + c * S * a_ss
    C = np.real(V @ Ct @ V.T)
    P = np.real(V @ P @ V.T)
    S_bar = np.real((V * a_p) @ Vi)
    return 0.5 * (C + C.T), 0.5 * (P + P.T), S_bar


def _nonlinear_terms(geo: WeightGeometry, m: np.ndarray, w_s: np.ndarray, slope: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Secant slope :math:`F(m)/(m - w_s)`, :math:`F'(m)` and :math:`F''(m)/2` of each weight's asymmetry function.

    The exact law :math:`E[\hat g] + E[|\hat g|F(w)] = 0` with :math:`E[|\hat g|F(w)] \approx E|\hat g|\,(F(m) +
    \tfrac12F''(m)C_{ii}) + F'(m)\,c` is solved as generalized Tikhonov with the secant slope (so it
    reduces to the linearised law when :math:`F` is linear). Central differences with step
    :math:`10^{-3}(w_{\max} - w_{\min})`; linear values where ``F`` is undefined or not given.
    """
    if geo.F is None:
        return slope, slope, np.zeros_like(slope)
    h = 1e-3 * geo.span
    lo, hi = geo.lower + 2 * h, geo.upper - 2 * h
    w = np.clip(m, np.minimum(lo, hi), np.maximum(lo, hi))
    with np.errstate(invalid="ignore", divide="ignore"):
        f0, fp, fm = geo.F(w), geo.F(w + h), geo.F(w - h)
        d1 = (fp - fm) / (2 * h)
        d2 = 0.5 * (fp - 2 * f0 + fm) / (h * h)
        far = np.abs(w - w_s) > 1e-2 * h
        sec = np.where(far, f0 / np.where(far, w - w_s, 1.0), slope)
    ok = np.isfinite(sec) & np.isfinite(d1) & np.isfinite(d2) & (slope > 0)
    return np.where(ok, sec, slope), np.where(ok, d1, slope), np.where(ok, d2, 0.0)


def _solve_mean(H, bvec, lam, w_s, slope, stein, bias, geo: WeightGeometry) -> np.ndarray:
    """``m = (H + Lambda)^{-1}(b + Lambda w_s - F' c - beta)`` with stuck weights held fixed."""
    rhs = bvec + lam * w_s - slope * stein - bias
    A = H + np.diag(lam)
    free = ~geo.fixed
    m = geo.fixed_value.copy()
    if free.any():
        rhs_f = rhs[free] - A[np.ix_(free, ~free)] @ geo.fixed_value[~free]
        m[free] = np.linalg.lstsq(A[np.ix_(free, free)], rhs_f, rcond=None)[0]
    return m


SAMPLING = ("reshuffle", "replacement")


def jitter_fixed_point(X: np.ndarray, y: np.ndarray, geo: WeightGeometry, *, lr: float, rule: Any,
                       batch_size: int, accumulate: bool, sampling: str = "reshuffle", max_iter: int = 500,
                       tol: float = 1e-9, owner: str = "predict_lambda_jitter") -> dict[str, Any]:
    """The joint fixed point of the mean law and the covariance equations (module docstring); validated inputs.

    Parameters
    ----------
    X : numpy.ndarray
        Training inputs (validated), shape (n, d).
    y : numpy.ndarray
        Training targets (validated), shape (n,).
    geo : WeightGeometry
        The device geometry of every weight.
    lr : float
        Per-sample learning rate :math:`\\eta`, > 0.
    rule : str or memsim.physics.updates.UpdateRule
        The update rule, as in :func:`predict_lambda_jitter`.
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).
    sampling : {'reshuffle', 'replacement'}
        The data order: a fresh permutation every epoch, or independent draws.
    max_iter : int
        Fixed-point iterations, >= 1.
    tol : float
        Convergence: relative change of :math:`m` below ``tol`` and of :math:`C` below ``sqrt(tol)``.
    owner : str
        Name used in error messages.

    Returns
    -------
    dict
        ``lambda_per_weight`` (d,), ``w`` (d,) the predicted mean weights, ``covariance`` and
        ``covariance_epoch_end`` (d, d), ``iterations`` and the diagnostics listed in
        :func:`predict_lambda_jitter` (under their names there).
    """
    spec = _rule_spec(owner, rule)
    if spec["kind"] == "pulse_coincidence" and accumulate and batch_size > 1:
        raise invalid(owner, "rule", "a pulse-count rule ('pulse_coincidence' is rank-1 only)", rule)
    n, d = X.shape
    B = batch_size
    acc = accumulate and B > 1
    reshuffle = sampling == "reshuffle"
    slope = np.where(np.isfinite(geo.slope), geo.slope, 0.0)
    w_s = np.where(np.isfinite(geo.w_s), geo.w_s, 0.0)
    free = (~geo.fixed).astype(float)
    rate = geo.abar * free                                  # a stuck weight does not move
    C, L = np.zeros((d, d)), None
    mom = _moments(X, y, np.zeros(d), C, None, geo, lr, spec, B, accumulate)
    m = _solve_mean(mom["H"], mom["b"], np.zeros(d), w_s, slope, np.zeros(d), np.zeros(d), geo)
    omega, last_change = 1.0, math.inf
    for iteration in range(1, max_iter + 1):
        mom = _moments(X, y, m, C, L, geo, lr, spec, B, accumulate)
        lam = slope * mom["abs_g"] * free
        sec, d1, half_d2 = _nonlinear_terms(geo, m, w_s, slope)
        bias = mom["mean_g"] - mom["grad"] + mom["abs_g"] * half_d2 * np.diag(C) * free
        m_new = _solve_mean(mom["H"], mom["b"], sec * mom["abs_g"] * free, w_s, d1, mom["stein"], bias, geo)
        drift = lr * B * rate[:, None] * (mom["J"] + np.diag(d1 * mom["abs_g"] * free))
        samp = lr ** 2 * rate[:, None] * mom["sampling"] * rate[None, :]
        indep = mom["indep"] * np.outer(free, free)
        C_new, P, S_bar = np.zeros((d, d)), np.zeros((d, d)), np.zeros((d, d))
        fr = np.ix_(~geo.fixed, ~geo.fixed)                 # stuck weights: no dynamics, no jitter
        parts = _covariance(drift[fr], samp[fr], indep[fr], n=n, B=B, accumulate=acc, reshuffle=reshuffle,
                            owner=owner) if (~geo.fixed).any() else (C_new[fr], P[fr], None)
        C_new[fr], P[fr] = parts[0], parts[1]
        if parts[2] is None:
            S_bar = None
        else:
            S_bar[fr] = parts[2]
        if S_bar is None:
            L_new = None
        else:
            factor = lr * (B * B / (n - B) if acc else B / (n - 1))
            L_new = factor * S_bar * rate[None, :]
        change_m = np.linalg.norm(m_new - m) / max(np.linalg.norm(m_new), 1e-300)
        change_c = np.linalg.norm(C_new - C) / max(np.linalg.norm(C_new), 1e-300)
        change = change_m + change_c
        if change > last_change and iteration > 2:
            omega = max(0.5 * omega, 0.05)
        last_change = change
        m = (1.0 - omega) * m + omega * m_new
        C = (1.0 - omega) * C + omega * C_new
        L = L_new if L is None or L_new is None else (1.0 - omega) * L + omega * L_new
        # C is only as precise as its geometric sums (~1e-8 relative for slow modes): a looser test.
        if change_m <= tol and change_c <= math.sqrt(tol):
            mom = _moments(X, y, m, C, L, geo, lr, spec, B, accumulate)
            lam = slope * mom["abs_g"] * free
            return {"lambda_per_weight": lam, "w": m, "covariance": C, "covariance_epoch_end": P,
                    "iterations": iteration, "expected_abs_grad": mom["abs_g"], "stein_covariance": mom["stein"],
                    "mean_grad_bias": mom["mean_g"] - mom["grad"], "pulses_per_event": mom["pulses"],
                    "q_gradient": (lr * geo.abar) ** 2 * np.diag(mom["sampling"]) * (_block_variance(n, B) if acc
                                                                                     else B),
                    "q_rounding": mom["q_rounding"], "q_c2c": mom["q_c2c"]}
    raise ConvergenceError(f"{owner}: the jitter fixed point (mean law + covariance equations) did not converge "
                           f"in {max_iter} iterations (tol={tol:g}, last relative change {last_change:.3g}).")


def predict_lambda_jitter(X: Any, y: Any, device: Any, *, lr: float, rule: Any = "stochastic_rounding",
                          batch_size: int = 1, accumulate: bool = False, sampling: str = "reshuffle",
                          max_iter: int = 500, tol: float = 1e-9) -> dict[str, Any]:
    r"""The penalty with the O(eta) jitter correction (module docstring; docs/theory.md, section '2a. Soft bounds').

    Self-consistent fixed point of

    .. math::
        m = (H + \Lambda)^{-1}\big(b + \Lambda w_s - F'(w_s)\,c - \beta\big),\quad
        \lambda_i = E|\hat g_i|\,F'(w_s),\quad C = MCM^\top + Q\ \text{(or its reshuffling form)},

    where :math:`E|\hat g_i|` and :math:`c_i = \mathrm{Cov}(|\hat g_i|, w_i)` are taken over the samples and
    the weight jitter. As ``lr -> 0``, :math:`C \to 0`, :math:`c \to 0`, and ``w_pred_jitter`` and
    ``lambda_pred_jitter_mean`` become ``w_tikhonov`` and ``lambda_pred`` of
    :func:`memsim.analysis.penalty.predict_lambda`.

    Which number to compare with ``lambda_fit``: ``lambda_fit`` is the ridge lambda whose solution is
    nearest the trained mean weights, so ``lambda_pred_jitter`` is the same estimator applied to the
    predicted mean, :func:`memsim.compare.ridge.fit_lambda` of ``w_pred_jitter``. It contains the Stein
    term :math:`c` (which the plain mean of :math:`\lambda_i` does not): on the exp_step example of the
    tests :math:`c` lowers the effective penalty by about 10 %, and ``lambda_pred_jitter_mean`` is
    correspondingly about 10 % above ``lambda_fit`` (as is the recorded ``lambda_plugin``).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    device : memsim.physics.devices.PulsedDevice
        Its nominal cell (a zero-shifted view is accepted); the pulse-count rule uses its ``dw_min``,
        its ``dw_min_std``/``c2c_mode`` give the cycle-to-cycle noise.
    lr : float
        The per-sample learning rate, > 0.
    rule : str or memsim.physics.updates.UpdateRule
        ``"stochastic_rounding"``, ``"deterministic"`` or ``"pulse_coincidence"`` (its BL settings
        are read from the object).
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).
    sampling : {"reshuffle", "replacement"}
        The data order: a fresh permutation every epoch (memsim's; the epoch's sampling noises sum to
        zero and a sample is always "unseen" when it is read) or independent draws.
    max_iter : int
        Fixed-point iterations, >= 1.
    tol : float
        Convergence: relative change of :math:`m` below ``tol`` and of :math:`C` below ``sqrt(tol)``, > 0.

    Returns
    -------
    dict
        ``lambda_pred_jitter`` (float, see above), ``lambda_pred_jitter_mean`` (float, mean of the
        :math:`\lambda_i`), ``lambda_pred_jitter_per_weight`` (d,), ``w_pred_jitter`` (d,) the predicted
        mean weights, ``covariance`` (d, d) the weight covariance :math:`C` averaged over an epoch,
        ``covariance_epoch_end`` (d, d) the covariance at epoch ends (what ``weights_var`` of a run
        measures), ``iterations``, and diagnostics: ``expected_abs_grad`` (d,), ``stein_covariance``
        (d,) (:math:`c`), ``mean_grad_bias`` (d,) (:math:`\beta`), ``pulses_per_event`` (d,), and the
        per-step noise variances ``q_gradient``, ``q_rounding``, ``q_c2c`` (d,). For a device without a
        symmetry point every value is NaN; for :math:`F' = 0` (constant step) :math:`\lambda_i = 0`.

    Raises
    ------
    ConvergenceError
        If the linearised dynamics are unstable (``lr`` too large) or the iteration does not converge.
    """
    owner = "predict_lambda_jitter"
    X, y = check_design(owner, X, y)
    n, d = X.shape
    lr = check_float(owner, "lr", lr, lo=0.0, lo_open=True)
    batch_size = check_int(owner, "batch_size", batch_size, 1, n)
    accumulate = check_bool(owner, "accumulate", accumulate)
    sampling = check_choice(owner, "sampling", sampling, SAMPLING)
    max_iter = check_int(owner, "max_iter", max_iter, lo=1)
    tol = check_float(owner, "tol", tol, lo=0.0, lo_open=True)
    _rule_spec(owner, rule)
    geo = nominal_geometry(device, d)
    if not (np.all(np.isfinite(geo.w_s)) and np.all(np.isfinite(geo.slope))):
        return nan_result(d)
    out = jitter_fixed_point(X, y, geo, lr=lr, rule=rule, batch_size=batch_size, accumulate=accumulate,
                             sampling=sampling, max_iter=max_iter, tol=tol, owner=owner)
    return _public(X, y, out)


def nan_result(d: int) -> dict[str, Any]:
    """The result of :func:`predict_lambda_jitter` when there is no prediction (all NaN).

    Parameters
    ----------
    d : int
        Number of weights.

    Returns
    -------
    dict
        The keys of :func:`predict_lambda_jitter`, every value NaN (``iterations`` 0).
    """
    nan = np.full(d, np.nan)
    return {"lambda_pred_jitter": math.nan, "lambda_pred_jitter_mean": math.nan,
            "lambda_pred_jitter_per_weight": nan, "w_pred_jitter": nan.copy(),
            "covariance": np.full((d, d), np.nan), "covariance_epoch_end": np.full((d, d), np.nan),
            "iterations": 0}


def _public(X: np.ndarray, y: np.ndarray, out: dict[str, Any]) -> dict[str, Any]:
    lam = out.pop("lambda_per_weight")
    w = out.pop("w")
    return {"lambda_pred_jitter": fit_lambda(w, X, y)[0], "lambda_pred_jitter_mean": float(np.mean(lam)),
            "lambda_pred_jitter_per_weight": lam, "w_pred_jitter": w, **out}
