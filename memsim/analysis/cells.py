r"""Per-cell analysis: device-to-device variation makes the penalty generalized Tikhonov towards a RANDOM point.

With device-to-device variation every weight has its own device parameters (docs/theory.md, section
'2d. Up/down asymmetry, device-to-device variation, zero-shifting'):
its own symmetry point :math:`w_{s,i}` (moved by ``up_down_dtod``; bound variation alone does not
move it for soft bounds) and its own slope :math:`F_i'(w_{s,i})` (changed by ``w_max_dtod``,
``w_min_dtod``, ``up_down_dtod``; ``dw_min_dtod`` only rescales the learning rate). The stationary law
is then, per weight,

.. math::  E[g_i(w)] + E|g_i(w)|\,F_i(w_i) = 0 ,

whose linearisation is generalized Tikhonov towards the vector :math:`w_s = (w_{s,i})`:

.. math::
    m = (X^\top X + n\Lambda)^{-1}(X^\top y + n\Lambda w_s),\qquad \lambda_i = E|g_i(m)|\,F_i'(w_{s,i}).

The per-cell parameters are those a tile drew (``Tile.cell_parameters``: one array per name in
``device.all_cell_parameters``; the caller passes them, this module never builds a tile). Each cell's
:math:`F_i` is evaluated from the device's own pure formula ``mean_step`` with the cell's parameters,
:math:`q_\pm = (1 \pm \beta_i)\,` ``mean_step(w, up, *cell)``, so every model (including measured tables)
is covered without closed forms. Stuck cells do not move: they are held at their stuck value
(``w_min``/``w_max`` of the cell, or the initial state) and excluded from every penalty.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import brentq, root

from ..compare.ridge import generalized_tikhonov
from ..errors import ConvergenceError
from ..params import check_bool, check_choice, check_design, check_float, check_int, invalid
from .jitter import SAMPLING, WeightGeometry, _public, _rule_spec, jitter_fixed_point
from .penalty import expected_abs_grad

__all__ = ["cell_table", "cell_geometry", "predict_lambda_cells", "has_device_variation", "summary_predictions"]


def has_device_variation(device: Any) -> bool:
    """Whether any ``*_dtod`` spread of ``device`` is non-zero (or cells can be stuck).

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice
        The device model.

    Returns
    -------
    bool
        True when a device-to-device spread is non-zero or cells can be stuck.
    """
    spreads = [float(getattr(device, dtod)) for dtod, _ in device.dtod_parameters.values()]
    return any(s > 0 for s in spreads) or float(getattr(device, "stuck_prob", 0.0)) > 0


def _cell_arrays(owner: str, device: Any, cell_params: Any, d: int) -> dict[str, np.ndarray]:
    names = tuple(device.all_cell_parameters)
    if not isinstance(cell_params, dict):
        raise invalid(owner, "cell_params", "a dict of per-cell arrays (Tile.cell_parameters)", cell_params)
    out = {}
    for name in names:
        if name not in cell_params:
            raise invalid(owner, "cell_params", f"a dict with the keys {names} (missing {name!r})",
                          sorted(cell_params))
        a = np.ravel(np.asarray(cell_params[name], dtype=np.float64))
        if a.size != d or not np.all(np.isfinite(a)):
            raise invalid(owner, f"cell_params[{name!r}]", f"a finite array with {d} entries (one per weight)",
                          f"<array of shape {np.shape(cell_params[name])}>")
        out[name] = a
    return out


def _cell_functions(device: Any, args: tuple[float, ...], beta: float):
    """``(F, q_up)`` of one cell: the asymmetry function and the mean up step (weight units)."""
    step = device.mean_step

    def q(w: float) -> tuple[float, float]:
        return (1.0 + beta) * step(w, 1, *args), (1.0 - beta) * step(w, 0, *args)

    def F(w: float) -> float:
        up, down = q(w)
        total = up + down
        return (down - up) / total if total > 0 else math.nan

    return F, lambda w: q(w)[0]


def cell_table(device: Any, cell_params: dict[str, Any], *, zero_shift: bool = False) -> dict[str, np.ndarray]:
    r"""Per-cell symmetry points, slopes, steps and stuck values (arrays of shape (d,)).

    Parameters
    ----------
    device : memsim.physics.devices.PulsedDevice
        The nominal device (its formulas are evaluated with each cell's parameters).
    cell_params : dict of array_like
        ``Tile.cell_parameters`` (or the entries of one output row): every name of
        ``device.all_cell_parameters``, each with one value per weight (any shape, flattened).
    zero_shift : bool
        Report in effective coordinates :math:`v = w - w_{s,i}` (a zero-shifted tile): symmetry
        points 0, stuck values shifted.

    Returns
    -------
    dict
        ``w_s`` (NaN where a cell has no symmetry point: :math:`F_i` does not change sign inside the
        cell's range), ``slope`` :math:`F_i'(w_{s,i})`, ``step`` (mean pulse step at :math:`w_{s,i}`),
        ``spread`` (relative c2c spread there), ``dw_cell``, ``span``, ``stuck`` (bool),
        ``stuck_value``, ``reference`` (the symmetry point in device coordinates, 0 where undefined).
    """
    owner = "cell_table"
    d = int(np.size(next(iter(cell_params.values())))) if isinstance(cell_params, dict) and cell_params else 0
    cells = _cell_arrays(owner, device, cell_params, d)
    names = tuple(device.cell_parameters)
    table = np.stack([cells[n] for n in names + ("up_down",)], axis=1)
    unique, inverse = np.unique(table, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    spread_fn = device.step_spread if getattr(device, "has_step_spread", False) else None
    i_min, i_max = names.index("w_min"), names.index("w_max")
    rows = np.full((len(unique), 4), np.nan)               # w_s, slope, step, spread
    for k, row in enumerate(unique):
        args, beta = tuple(float(v) for v in row[:-1]), float(row[-1])
        lo, hi = args[i_min], args[i_max]
        F, q_up = _cell_functions(device, args, beta)
        eps = 1e-9 * (hi - lo)
        if not hi > lo:
            continue
        f_lo, f_hi = F(lo + eps), F(hi - eps)
        if not (math.isfinite(f_lo) and math.isfinite(f_hi)) or f_lo * f_hi > 0 or (f_lo == 0 and f_hi == 0):
            ws = math.nan
        elif f_lo == 0:
            ws = lo + eps
        elif f_hi == 0:
            ws = hi - eps
        else:
            ws = brentq(F, lo + eps, hi - eps, xtol=1e-14 * max(1.0, abs(hi - lo)))
        w_eval = ws if math.isfinite(ws) else min(max(0.0, lo), hi)
        h = 1e-6 * (hi - lo)
        w_eval = min(max(w_eval, lo + h), hi - h)
        slope = (F(w_eval + h) - F(w_eval - h)) / (2 * h) if math.isfinite(ws) else math.nan
        spread = float(spread_fn(w_eval, 1, *args)) if spread_fn is not None else 1.0
        rows[k] = (ws, slope, q_up(w_eval), spread)
    w_s, slope, step, spread = (rows[inverse, j] for j in range(4))
    w_min, w_max = cells["w_min"], cells["w_max"]
    reference = np.where(np.isfinite(w_s), w_s, 0.0)
    stuck = cells["stuck"] != 0.0
    if device.stuck_at == "w_min":
        stuck_value = w_min.copy()
    elif device.stuck_at == "w_max":
        stuck_value = w_max.copy()
    else:                                                    # the state at tile creation
        stuck_value = np.clip(reference if zero_shift else np.zeros(d), w_min, w_max)
    if zero_shift:
        stuck_value = stuck_value - reference
        w_s = np.where(np.isfinite(w_s), 0.0, np.nan)
    return {"w_s": w_s, "slope": slope, "step": step, "spread": spread, "dw_cell": cells["dw_min"].copy(),
            "span": w_max - w_min, "stuck": stuck, "stuck_value": np.where(stuck, stuck_value, 0.0),
            "reference": reference}


def cell_geometry(device: Any, cell_params: dict[str, Any], *, zero_shift: bool = False) -> WeightGeometry:
    """The :class:`~memsim.analysis.jitter.WeightGeometry` of the drawn cells (for the jitter model).

    Cells without a symmetry point get no penalty (slope 0, reference 0).

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice
        The nominal device of the tile.
    cell_params : dict of array_like
        One value per weight for every cell parameter (``Tile.cell_parameters``).
    zero_shift : bool
        Whether the tile references each cell at its symmetry point.

    Returns
    -------
    memsim.analysis.jitter.WeightGeometry
        The geometry of every cell.
    """
    t = cell_table(device, cell_params, zero_shift=zero_shift)
    ok = np.isfinite(t["w_s"]) & np.isfinite(t["slope"])
    funcs, shift = _cell_asymmetry(device, cell_params, t, zero_shift)
    lower = np.ravel(np.asarray(cell_params["w_min"], dtype=np.float64)) - shift
    upper = np.ravel(np.asarray(cell_params["w_max"], dtype=np.float64)) - shift

    def F(w: np.ndarray) -> np.ndarray:
        return np.array([f(float(w[i]) + shift[i]) for i, f in enumerate(funcs)])

    return WeightGeometry(w_s=np.where(ok, t["w_s"], 0.0), slope=np.where(ok, np.maximum(t["slope"], 0.0), 0.0),
                          step=np.where(t["step"] > 0, t["step"], float(device.dw_min)), dw_cell=t["dw_cell"],
                          span=t["span"], spread=t["spread"], dw_nominal=float(device.dw_min),
                          sigma=float(device.dw_min_std), c2c_mode=str(device.c2c_mode), fixed=t["stuck"],
                          fixed_value=t["stuck_value"], F=F, lower=lower, upper=upper)


def _cell_asymmetry(device, cell_params, t, zero_shift):
    """Per-cell asymmetry functions (device coordinates) and the coordinate shift of each cell."""
    names = tuple(device.cell_parameters)
    cells = {k: np.ravel(np.asarray(v, dtype=np.float64)) for k, v in cell_params.items()}
    d = t["w_s"].size
    funcs = [_cell_functions(device, tuple(float(cells[nm][i]) for nm in names), float(cells["up_down"][i]))[0]
             for i in range(d)]
    return funcs, (t["reference"] if zero_shift else np.zeros(d))


def _tikhonov_fixed(X, y, lam, w_s, fixed, value):
    """Generalized Tikhonov with the ``fixed`` weights held at ``value``."""
    free = ~fixed
    m = np.where(fixed, value, 0.0)
    if free.any():
        m[free] = generalized_tikhonov(X[:, free], y - X[:, fixed] @ value[fixed], lam[free], w_s[free])
    return m


def predict_lambda_cells(X: Any, y: Any, device: Any, cell_params: dict[str, Any], *, batch_size: int = 1,
                         accumulate: bool = False, zero_shift: bool = False, lr: float | None = None,
                         rule: Any = "stochastic_rounding", sampling: str = "reshuffle", max_iter: int = 200,
                         tol: float = 1e-12) -> dict[str, Any]:
    r"""The per-cell (device-to-device) prediction: generalized Tikhonov towards the cells' symmetry points.

    Fixed point (docs/theory.md, sections '2.0 The drift formula' and '2d. Up/down asymmetry,
    device-to-device variation, zero-shifting'), iterated from :math:`m_0 = w_{\rm OLS}` like
    :func:`memsim.analysis.penalty.predict_lambda`:

    .. math::
        m = (X^\top X + n\Lambda)^{-1}(X^\top y + n\Lambda w_s),\qquad \lambda_i = E|g_i(m)|\,F_i'(w_{s,i}),

    with :math:`w_{s,i}`, :math:`F_i'` from :func:`cell_table`; stuck cells are held at their value
    (:math:`\lambda_i = 0`); a cell without a symmetry point gets :math:`\lambda_i = 0`. Also the root of
    the exact per-weight law :math:`E[g_i] + E|g_i|F_i(w_i) = 0` (``w_pred_cells``), and, with ``lr``,
    the O(eta) jitter correction of :mod:`memsim.analysis.jitter` on the same cells.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs (design matrix), one row per sample.
    y : array_like, shape (n,)
        Training targets.
    device : memsim.physics.devices.PulsedDevice
        The nominal device of the tile.
    cell_params : dict of array_like
        ``Tile.cell_parameters`` restricted to the weights of ``X`` (one value per column of ``X``).
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).
    zero_shift : bool
        The tile references each cell at its symmetry point (effective weight :math:`w - w_{s,i}`):
        the reference vector is then 0.
    lr : float, optional
        Per-sample learning rate; when given, ``*_jitter_cells`` outputs are added.
    rule : str or memsim.physics.updates.UpdateRule
        For the jitter correction, as in :func:`memsim.analysis.jitter.predict_lambda_jitter`.
    sampling : {'reshuffle', 'replacement'}
        For the jitter correction, as in :func:`memsim.analysis.jitter.predict_lambda_jitter`.
    max_iter : int
        Maximum fixed-point iterations, as in :func:`memsim.analysis.penalty.predict_lambda`.
    tol : float
        As in :func:`memsim.analysis.penalty.predict_lambda`.

    Returns
    -------
    dict
        ``lambda_pred_cells`` (float, mean), ``lambda_pred_cells_per_weight`` (d,),
        ``w_s_cells`` (d,) (the reference vector), ``slope_cells`` (d,), ``w_tikhonov_cells`` (d,),
        ``w_pred_cells`` (d,) (exact law; NaN if the root finder fails), ``stuck_cells`` (int),
        ``cells_without_symmetry_point`` (int), ``iterations``; with ``lr``: ``lambda_pred_jitter_cells``
        (ridge lambda nearest the predicted mean), ``lambda_pred_jitter_cells_mean``,
        ``w_pred_jitter_cells``.

    Raises
    ------
    ConvergenceError
        If the fixed point does not converge.
    """
    owner = "predict_lambda_cells"
    X, y = check_design(owner, X, y)
    n, d = X.shape
    batch_size = check_int(owner, "batch_size", batch_size, 1, n)
    accumulate = check_bool(owner, "accumulate", accumulate)
    zero_shift = check_bool(owner, "zero_shift", zero_shift)
    max_iter = check_int(owner, "max_iter", max_iter, lo=1)
    tol = check_float(owner, "tol", tol, lo=0.0, lo_open=True)
    if lr is not None:
        lr = check_float(owner, "lr", lr, lo=0.0, lo_open=True)
        sampling = check_choice(owner, "sampling", sampling, SAMPLING)
        _rule_spec(owner, rule)
    _cell_arrays(owner, device, cell_params, d)
    t = cell_table(device, cell_params, zero_shift=zero_shift)
    ok = np.isfinite(t["w_s"]) & np.isfinite(t["slope"])
    w_s = np.where(ok, t["w_s"], 0.0)
    slope = np.where(ok, np.maximum(t["slope"], 0.0), 0.0)
    fixed, value = t["stuck"], t["stuck_value"]
    active = (~fixed).astype(float)
    scheme = {"batch_size": batch_size, "accumulate": accumulate}
    m = _tikhonov_fixed(X, y, np.zeros(d), w_s, fixed, value)
    for iteration in range(1, max_iter + 1):
        lam = slope * expected_abs_grad(X, y, m, **scheme) * active
        m_next = _tikhonov_fixed(X, y, lam, w_s, fixed, value)
        converged = np.linalg.norm(m_next - m) <= tol * max(np.linalg.norm(m_next), 1e-300)
        m = m_next
        if converged:
            break
    else:
        raise ConvergenceError(f"{owner}: the per-cell fixed point did not converge in {max_iter} iterations "
                               f"(tol={tol:g}); raise max_iter or tol.")
    out = {"lambda_pred_cells": float(np.mean(lam[~fixed])) if (~fixed).any() else math.nan,
           "lambda_pred_cells_per_weight": lam, "w_s_cells": w_s, "slope_cells": slope, "w_tikhonov_cells": m,
           "w_pred_cells": _exact_root(X, y, device, cell_params, t, m, zero_shift, scheme),
           "stuck_cells": int(fixed.sum()), "cells_without_symmetry_point": int((~ok & ~fixed).sum()),
           "iterations": iteration}
    if lr is not None:
        geo = cell_geometry(device, cell_params, zero_shift=zero_shift)
        res = _public(X, y, jitter_fixed_point(X, y, geo, lr=lr, rule=rule, batch_size=batch_size,
                                               accumulate=accumulate, sampling=sampling, owner=owner))
        out.update({"lambda_pred_jitter_cells": res["lambda_pred_jitter"],
                    "lambda_pred_jitter_cells_mean": res["lambda_pred_jitter_mean"],
                    "w_pred_jitter_cells": res["w_pred_jitter"]})
    return out


def _exact_root(X, y, device, cell_params, t, start, zero_shift, scheme) -> np.ndarray:
    """Root of ``E[g_i] + E|g_i| F_i(w_i) = 0`` over the free cells (NaN if it fails)."""
    d = X.shape[1]
    funcs, shift = _cell_asymmetry(device, cell_params, t, zero_shift)
    ok = np.isfinite(t["w_s"]) & np.isfinite(t["slope"])
    free = ~t["stuck"]
    n = X.shape[0]

    def residual(v_free: np.ndarray) -> np.ndarray:
        w = np.where(free, 0.0, t["stuck_value"])
        w[free] = v_free
        Fw = np.array([f(w[i] + shift[i]) if ok[i] else 0.0 for i, f in enumerate(funcs)])
        r = X.T @ (X @ w - y) / n + expected_abs_grad(X, y, w, **scheme) * np.nan_to_num(Fw)
        return r[free]

    if not free.any():
        return t["stuck_value"].copy()
    sol = root(residual, start[free], method="hybr", options={"xtol": 1e-12, "maxfev": 200 * (d + 1)})
    r = residual(sol.x)
    scale = float(np.max(np.abs(X.T @ y)) / n) or 1.0
    if not (np.all(np.isfinite(r)) and np.max(np.abs(r)) <= 1e-8 * scale):
        return np.full(d, np.nan)
    w = t["stuck_value"].copy()
    w[free] = sol.x
    return w


def summary_predictions(X: Any, y: Any, weights_mean: Any, device: Any, cell_params: dict[str, Any] | None, *,
                        lr: float, rule: Any, batch_size: int = 1, accumulate: bool = False, bias: bool = False,
                        zero_shift: bool = False) -> dict[str, Any]:
    r"""The jitter-corrected and per-cell predictions of one linear run, as summary entries.

    ``X`` and ``weights_mean`` include the bias column/entry when ``bias`` (it is dropped here, like
    :func:`memsim.analysis.penalty.summarize` does); ``cell_params`` holds one value per column of ``X``
    (``None``: the nominal cells). Nothing raises for a prediction that does not exist: its values are
    NaN and a ``no_prediction: ...`` line is returned in ``regime_warnings_extra``.

    Keys: ``lambda_pred_jitter``, ``lambda_pred_jitter_mean``, ``lambda_pred_jitter_per_weight``,
    ``w_pred_jitter``, ``tikhonov_pred_jitter_distance`` (:math:`\|m - w_{\rm pred,jitter}\| / \|m - w_{\rm OLS}\|`),
    ``weights_var_pred`` (predicted epoch-end weight variance, comparable to ``weights_var``);
    ``lambda_pred_cells``, ``lambda_pred_cells_per_weight``, ``w_s_cells``, ``w_pred_cells``,
    ``tikhonov_pred_distance_cells``, ``lambda_pred_jitter_cells``, ``w_pred_jitter_cells``,
    ``tikhonov_pred_jitter_distance_cells`` (the last three only computed with device-to-device
    variation, else NaN); ``regime_warnings_extra`` (list of str).

    Parameters
    ----------
    X : array_like
        Training inputs, shape (n, d), with the bias column when ``bias``.
    y : array_like
        Training targets, shape (n,).
    weights_mean : array_like
        Time-averaged weights, shape (d,), with the bias entry when ``bias``.
    device : memsim.physics.devices.base.PulsedDevice
        The nominal device of the tile.
    cell_params : dict of array_like or None
        One value per column of ``X`` for every cell parameter; ``None``: the nominal cells.
    lr : float
        Per-sample learning rate :math:`\eta`.
    rule : str or memsim.physics.updates.UpdateRule
        The update rule.
    batch_size : int
        Mini-batch size :math:`B` of the update scheme, in [1, n].
    accumulate : bool
        Whether the gradients of a mini-batch are summed into one programming event (True) or applied sample
        by sample (False).
    bias : bool
        Whether the last column of ``X`` and entry of ``weights_mean`` are a bias (dropped here).
    zero_shift : bool
        Whether the tile references each cell at its symmetry point (effective weight :math:`w - w_{s,i}`).

    Returns
    -------
    dict
        The keys listed above.
    """
    from .jitter import predict_lambda_jitter
    from ..compare.ridge import ols, relative_distance

    X, y = check_design("summary_predictions", X, y)
    keep = slice(0, X.shape[1] - 1 if bias else X.shape[1])
    X = X[:, keep]
    d = X.shape[1]
    m = np.ravel(np.asarray(weights_mean, dtype=np.float64))[keep]
    w_ols = ols(X, y)
    nan_vec = np.full(d, np.nan)
    warnings: list[str] = []

    def dist(w: np.ndarray) -> float:
        return relative_distance(float(np.linalg.norm(m - w)), m, w_ols) if np.all(np.isfinite(w)) else math.nan

    nominal = device
    if zero_shift:
        from ..physics.devices.shifted import ZeroShifted

        nominal = ZeroShifted(device)
    scheme = {"batch_size": batch_size, "accumulate": accumulate}
    out: dict[str, Any] = {}
    try:
        j = predict_lambda_jitter(X, y, nominal, lr=lr, rule=rule, **scheme)
        var = np.diag(j["covariance_epoch_end"]).copy()
    except ConvergenceError as error:
        warnings.append(f"no_prediction: {error}")
        j, var = {"lambda_pred_jitter": math.nan, "lambda_pred_jitter_mean": math.nan,
                  "lambda_pred_jitter_per_weight": nan_vec, "w_pred_jitter": nan_vec}, nan_vec
    out.update({"lambda_pred_jitter": j["lambda_pred_jitter"], "lambda_pred_jitter_mean": j["lambda_pred_jitter_mean"],
                "lambda_pred_jitter_per_weight": j["lambda_pred_jitter_per_weight"],
                "w_pred_jitter": j["w_pred_jitter"], "tikhonov_pred_jitter_distance": dist(j["w_pred_jitter"]),
                "weights_var_pred": var})
    cells = {"lambda_pred_cells": math.nan, "lambda_pred_cells_per_weight": nan_vec, "w_s_cells": nan_vec,
             "w_pred_cells": nan_vec, "lambda_pred_jitter_cells": math.nan, "w_pred_jitter_cells": nan_vec}
    if cell_params is not None:
        cp = {k: np.ravel(np.asarray(v, dtype=np.float64))[keep] for k, v in cell_params.items()}
        varied = has_device_variation(device)
        try:
            c = predict_lambda_cells(X, y, device, cp, zero_shift=zero_shift, **scheme)
            cells.update({k: c[k] for k in ("lambda_pred_cells", "lambda_pred_cells_per_weight", "w_pred_cells")})
            cells["w_s_cells"] = c["w_s_cells"]
            if varied:
                g = cell_geometry(device, cp, zero_shift=zero_shift)
                res = _public(X, y, jitter_fixed_point(X, y, g, lr=lr, rule=rule, owner="summary_predictions",
                                                       sampling="reshuffle", **scheme))
                cells.update({"lambda_pred_jitter_cells": res["lambda_pred_jitter"],
                              "w_pred_jitter_cells": res["w_pred_jitter"]})
        except ConvergenceError as error:
            warnings.append(f"no_prediction: {error}")
    out.update(cells)
    out["tikhonov_pred_distance_cells"] = dist(cells["w_pred_cells"])
    out["tikhonov_pred_jitter_distance_cells"] = dist(cells["w_pred_jitter_cells"])
    out["regime_warnings_extra"] = warnings
    return out
