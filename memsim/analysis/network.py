r"""One run of a network (classifier or MLP): train in place, train the digital baselines, compare, summarise.

:func:`memsim.workflows.run.run_summary` hands every trained model that is not a one-layer MSE
regression here (the linear theory of :mod:`memsim.analysis.penalty` covers that one). The comparison follows
docs/theory.md
(section 'What a study can check', item 7): per weight, the
device's drift towards its symmetry point :math:`w_s` acts as the
explicit penalty :math:`\frac12\lambda_i (w_i - w_s)^2` with the plug-in strength

.. math::  \lambda_i = \overline{|g_i|}\;F'(w_s)

(:math:`\overline{|g_i|}` the recorded mean of :math:`|\Delta_i|/\eta` over the averaging window,
divided by the batch size for accumulated updates; :math:`F'(w_s)` =
``device.asymmetry_slope()``), so the trained network's time-averaged weights :math:`m` should be
close to those of the digital network trained with that per-weight decay (same data order, initial
weights and learning rates, :func:`~memsim.compare.digital.train_digital`). Distances are
Euclidean over all non-bias weights of all layers:

* ``weight_distance_to_per_weight_digital`` :math:`= \|m - m_{\rm pw}\|`,
* ``weight_distance_to_plain_digital`` :math:`= \|m - m_0\|` (no decay),
* ``per_weight_relative_distance`` :math:`= \|m - m_{\rm pw}\| / \|m - m_0\|` (0: the per-weight
  penalty explains the whole shift from the undecayed network; 1: it explains nothing),
* ``weight_distance_to_global_digital`` and ``global_relative_distance``: the same for the single
  global weight decay ``global_weight_decay_fit`` fitted to :math:`m` in weight space
  (:func:`~memsim.compare.digital.fit_weight_decay`, towards :math:`w_s`, bias unpenalised), for contrast.

Weight space is the natural space for the penalty, but a hidden layer has nearly flat directions
(redundant hidden units) along which time averages wander without changing the function, so the
same comparisons are also made in function space: ``output_distance_to_*`` is the RMS distance
:math:`\sqrt{\frac{1}{n_{\rm test}}\sum_b\|o_m(x_b) - o(x_b)\|^2}` of the test-set outputs (logits) of
the time-averaged networks, and ``per_weight_relative_output_distance`` /
``global_relative_output_distance`` their ratios to the distance from the undecayed network.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..compare.digital import (fit_weight_decay, flat_weights, logistic_regression, softmax_regression,
                               train_digital)
from ..errors import ConvergenceError, DivergenceError
from ..network_math import evaluate, get_loss, loss_and_gradients, mlp_forward
from ..physics.devices.shifted import ZeroShifted
from .penalty import constant_drift, few_states_warning, large_step_warning, near_bound_warning, symmetry

__all__ = ["compare_network", "GLOBAL_FIT_EVALS"]

#: Evaluations of the global weight-decay fit (each trains one digital network).
GLOBAL_FIT_EVALS = 12


def _nonbias(a: np.ndarray, bias: bool) -> np.ndarray:
    return np.asarray(a)[:, :-1] if bias else np.asarray(a)


def _layer_summary(k: int, stats: dict[str, Any], lam: np.ndarray, grad: np.ndarray, lam_term: np.ndarray,
                   bias: bool, n_tiles: int) -> dict[str, Any]:
    g, gw = _nonbias(stats["mean_abs_grad"], bias), _nonbias(stats["mean_abs_grad_w"], bias)
    m, lam_nb = _nonbias(stats["weights_mean"], bias), _nonbias(lam, bias)
    gnorm = float(np.linalg.norm(_nonbias(grad, bias)))
    resid = float(np.linalg.norm(_nonbias(grad + lam_term, bias)))
    return {
        "shape": list(np.shape(stats["weights_mean"])),
        "tiles": n_tiles,
        "events": int(stats["events"]),
        "lambda_plugin_mean": float(np.mean(lam_nb)),
        "lambda_plugin_median": float(np.median(lam_nb)),
        "lambda_plugin_min": float(np.min(lam_nb)),
        "lambda_plugin_max": float(np.max(lam_nb)),
        "mean_abs_grad_mean": float(np.mean(g)),
        "mean_abs_grad_w_mean": float(np.mean(gw)),
        "weights_mean_rms": float(np.sqrt(np.mean(m * m))),
        "gradient_norm": gnorm,
        "stationarity_ratio": resid / gnorm if gnorm > 0 else math.nan,
        "pulses_up": int(np.sum(stats["pulses_up"])),
        "pulses_down": int(np.sum(stats["pulses_down"])),
    }


def _warnings(config: Any, dev: Any, stats: list[dict[str, Any]], n_train: int, n_params: int,
              bias: bool) -> list[str]:
    """The ``large_step``, ``few_states``, ``near_bound`` and ``interpolation`` warnings, per layer."""
    tr = config.train
    half = (float(dev.w_max) - float(dev.w_min)) / 2.0
    out = []
    for k, s in enumerate(stats):
        jitter = tr.lr * float(np.max(_nonbias(s["mean_abs_grad"], bias))) / half
        out += large_step_warning(jitter, where=f"layer {k}: ")
    out += few_states_warning(dev)
    for k, s in enumerate(stats):
        out += near_bound_warning(_nonbias(s["weights_mean"], bias), dev, where=f"layer {k}: ")
    if n_train <= n_params:
        out.append(f"interpolation: n_train = {n_train} <= {n_params} weights: per-sample gradients may vanish at "
                   "interpolating solutions, so lambda may be meaningless")
    return out


def _exact_classifier(loss: str, X: np.ndarray, y: np.ndarray, n_classes: int, lam: np.ndarray | None,
                      w_s: float, bias: bool) -> tuple[np.ndarray, bool]:
    """The exact (L-BFGS) optimum of a linear classifier as an ``(out, in + bias)`` matrix, and ``converged``."""
    if loss == "logistic":
        lam_w = 0.0 if lam is None else _nonbias(lam, bias)[0]
        r = logistic_regression(X, y, lam_w, w_s=w_s, bias=bias, strict=False)
        W = np.append(r["coef"], r["intercept"])[None, :] if bias else r["coef"][None, :]
    else:
        lam_w = 0.0 if lam is None else _nonbias(lam, bias)
        r = softmax_regression(X, y, lam_w, n_classes=n_classes, w_s=w_s, bias=bias, strict=False)
        W = np.hstack([r["coef"], r["intercept"][:, None]]) if bias else r["coef"]
    return W, bool(r["converged"])


def compare_network(config: Any, data: Any, result: Any, n_tiles: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compare a network trained in place with digital networks trained with explicit penalties.

    Parameters
    ----------
    config : memsim.workflows.config.RunConfig
        The run's configuration (device, train, model sections are read).
    data : memsim.tasks.registry.Dataset
        The run's data set (training and test split).
    result : memsim.models.train.TrainResult
        What in-place training produced (weights, statistics, data order, learning rates).
    n_tiles : list of int
        Tiles per layer (reported per layer).

    Returns
    -------
    summary : dict
        The summary (described below).
    arrays : dict
        The arrays (described below).

    Notes
    -----
    Summary keys (JSON-able through :func:`memsim.workflows.io.to_jsonable`): ``layer_sizes``, ``loss``,
    ``test_loss_final``, ``test_loss_mean_weights``, ``test_accuracy_final``,
    ``test_accuracy_mean_weights`` (and the ``train_*`` counterparts) of the analog network (exact
    evaluation of the final and of the time-averaged weights); ``digital_test_loss`` /
    ``digital_test_accuracy`` (digital network, no decay), ``digital_per_weight_test_loss`` /
    ``digital_per_weight_test_accuracy`` (per-weight decay :math:`\\lambda_i`),
    ``digital_global_test_loss`` / ``digital_global_test_accuracy`` (fitted global decay), all of
    the time-averaged digital weights; ``lambda_plugin_mean`` (over all non-bias weights),
    ``global_weight_decay_fit``; the weight- and output-space distances of the module docstring and ``per_weight_shift``
    :math:`= \\|m_{\\rm pw} - m_0\\|`; for a network without hidden layers and a softmax/logistic loss
    also ``exact_weight_distance_to_per_weight`` and ``exact_weight_distance_to_plain`` (to the
    exact L-BFGS optima, NaN where the unpenalised one does not exist); ``per_layer``
    (``layer0``, ``layer1``, ...: plug-in penalty statistics, ``mean_abs_grad_mean``,
    ``mean_abs_grad_w_mean``, ``stationarity_ratio`` :math:`= \\|\\nabla L(m) + \\lambda\\odot(m - w_s)\\|
    / \\|\\nabla L(m)\\|`, pulses, ...); ``curves`` (per epoch, plus ``test_loss_digital`` and
    ``test_accuracy_digital`` of the undecayed digital network); ``regime_warnings`` (``large_step``,
    ``few_states``, ``near_bound``, ``interpolation`` as for linear runs, per layer;
    ``no_symmetry_point``; ``separable``; ``digital_diverged`` / ``no_fit`` below); ``failures``.

    A digital network that diverges (:class:`~memsim.errors.DivergenceError` from
    :func:`~memsim.compare.digital.train_digital`) or a global fit that does not converge
    (:class:`~memsim.errors.ConvergenceError`) does not fail the run (docs/design.md, section 'Failures'): every
    quantity that needs it is NaN (``null`` in ``summary.json``), listed in ``failures`` as
    ``{"quantity", "reason"}`` and named in a ``regime_warnings`` line; the digital curves are NaN.
    A global-fit candidate whose network diverges is skipped (infinite distance).

    The global fit trains up to ``GLOBAL_FIT_EVALS + 1`` digital networks; with the plain and the
    per-weight one these dominate the run time for small tiles.

    ``arrays`` holds the per-layer weight matrices (analog final and mean, digital plain and
    per-weight means, plug-in :math:`\\lambda_i`, recorded statistics) and the data.
    """
    mc, tr = config.model, config.train
    loss = mc.loss
    lf = get_loss(loss)
    y, yt, n_classes = np.asarray(data.y_train), np.asarray(data.y_test), getattr(data, "n_classes", None)
    X, Xt = np.asarray(data.X_train, dtype=np.float64), np.asarray(data.X_test, dtype=np.float64)
    sizes = [X.shape[1], *mc.hidden, lf.n_outputs(n_classes, y)]
    bias, act = mc.bias, mc.activation

    def ev(W, XX, yy):
        return evaluate(W, XX, yy, lf, act, bias, n_classes)

    common = dict(loss=loss, activation=act, bias=bias, n_classes=n_classes, lrs=result.lrs,
                  permutations=result.orders, batch_size=tr.batch_size, accumulate=tr.accumulate,
                  average_from=tr.average_from)

    def digital(weight_decay, w_s, curves=False):
        extra = dict(X_test=Xt, y_test=yt) if curves else {}
        return train_digital(result.initial_weights, X, y, weight_decay=weight_decay, w_s=w_s, **common, **extra)

    warnings: list[str] = []
    failures: list[dict[str, str]] = []

    def fail(what: str, quantities: tuple[str, ...], error: Exception) -> None:
        """A comparison-side quantity that cannot be computed: NaN/null, its reason in failures and warnings."""
        failures.extend({"quantity": q, "reason": str(error)} for q in quantities)
        tag = "digital_diverged" if isinstance(error, DivergenceError) else "no_fit"
        warnings.append(f"{tag}: {what}: {error} Null: {', '.join(quantities)}; the in-place results are kept")

    stats = result.statistics
    m = result.weights_mean
    m_flat = flat_weights(m, bias)
    per_event = tr.batch_size if tr.accumulate else 1
    device = ZeroShifted(config.device) if mc.zero_shift else config.device  # effective-weight view
    w_s, slope = (math.nan, math.nan) if constant_drift(device) else symmetry(device)
    if not math.isfinite(slope) or slope < 0 or not math.isfinite(w_s):
        warnings.append(f"no_symmetry_point: the device has no restoring symmetry point (F'(w_s) = {slope:.3g}): "
                        "no per-weight Tikhonov form, the per-weight comparison is skipped")
        lam = [np.full(W.shape, math.nan) for W in m]
    else:
        lam = [slope * s["mean_abs_grad"] / per_event for s in stats]

    nan_pair = (math.nan, math.nan)
    try:
        plain = digital(0.0, 0.0, curves=True)
        d_plain = float(np.linalg.norm(m_flat - flat_weights(plain["weights_mean"], bias)))
    except DivergenceError as error:
        plain, d_plain = None, math.nan
        fail("the plain digital network (no decay)", (
            "digital_test_loss", "digital_test_accuracy", "weight_distance_to_plain_digital",
            "output_distance_to_plain_digital", "per_weight_relative_distance", "global_relative_distance",
            "per_weight_shift", "per_weight_relative_output_distance", "global_relative_output_distance"), error)
    pw, d_pw, pw_eval, shift = None, math.nan, nan_pair, math.nan
    if all(np.all(np.isfinite(L)) for L in lam):
        try:
            pw = digital(lam, [np.full(W.shape, w_s) for W in m])
        except DivergenceError as error:
            fail("the per-weight digital network", (
                "digital_per_weight_test_loss", "digital_per_weight_test_accuracy",
                "weight_distance_to_per_weight_digital", "output_distance_to_per_weight_digital"), error)
    if pw is not None:
        d_pw = float(np.linalg.norm(m_flat - flat_weights(pw["weights_mean"], bias)))
        pw_eval = ev(pw["weights_mean"], Xt, yt)
        if plain is not None:
            shift = float(np.linalg.norm(flat_weights(pw["weights_mean"], bias)
                                         - flat_weights(plain["weights_mean"], bias)))

    # A single global weight decay, fitted to m, for contrast (towards w_s; bias unpenalised).
    lam_nb = np.concatenate([_nonbias(L, bias).ravel() for L in lam])
    half = (float(device.w_max) - float(device.w_min)) / 2.0
    g_all = np.concatenate([_nonbias(s["mean_abs_grad"], bias).ravel() for s in stats]) / per_event
    if np.all(np.isfinite(lam_nb)) and np.mean(lam_nb) > 0:
        scale = float(np.mean(lam_nb))
    else:  # no plug-in penalty: the soft-bounds scale E|g| / w_max
        scale = float(np.mean(g_all)) / half
    glob_cache: dict[float, dict[str, Any]] = {}

    glob_diverged: list[DivergenceError] = []

    def glob_distance(value: float) -> float:
        try:
            glob_cache[value] = digital(value, w_s if math.isfinite(w_s) else 0.0)
        except DivergenceError as error:  # too large a decay (lr * lambda > 2) or lr: not a candidate
            glob_diverged.append(error)
            return math.inf
        return float(np.linalg.norm(m_flat - flat_weights(glob_cache[value]["weights_mean"], bias)))

    lam_glob, d_glob, glob_eval = math.nan, math.nan, nan_pair
    glob_quantities = ("global_weight_decay_fit", "digital_global_test_loss", "digital_global_test_accuracy",
                       "weight_distance_to_global_digital", "output_distance_to_global_digital",
                       "global_relative_distance", "global_relative_output_distance")
    if scale > 0 and math.isfinite(scale):
        try:
            with np.errstate(invalid="ignore", over="ignore"):  # infinite distances of diverged candidates
                lam_glob, d_glob = fit_weight_decay(glob_distance, scale, max_evals=GLOBAL_FIT_EVALS)
            if not (lam_glob in glob_cache and math.isfinite(d_glob)):
                raise glob_diverged[-1] if glob_diverged else ConvergenceError("fit_weight_decay: no finite candidate")
            glob_eval = ev(glob_cache[lam_glob]["weights_mean"], Xt, yt)
        except (ConvergenceError, DivergenceError) as error:
            lam_glob, d_glob, glob_eval = math.nan, math.nan, nan_pair
            fail("the global weight-decay fit" + (" (every candidate diverged)" if isinstance(error, DivergenceError)
                                                  else ""), glob_quantities, error)

    # Exact optima of a linear classifier (no hidden layer), where they exist.
    exact = {}
    if len(sizes) == 2 and loss in ("softmax", "logistic"):
        W0, ok0 = _exact_classifier(loss, X, y, n_classes, None, 0.0, bias)
        if not ok0:
            warnings.append("separable: the unpenalised exact optimum does not exist (L-BFGS did not converge; the "
                            "classes are probably separable): exact_weight_distance_to_plain is NaN")
        exact["exact_weight_distance_to_plain"] = (float(np.linalg.norm(m_flat - flat_weights([W0], bias)))
                                                   if ok0 else math.nan)
        if all(np.all(np.isfinite(L)) for L in lam):
            Wpw, okpw = _exact_classifier(loss, X, y, n_classes, lam[0], w_s, bias)
            exact["exact_weight_distance_to_per_weight"] = (float(np.linalg.norm(m_flat - flat_weights([Wpw], bias)))
                                                            if okpw else math.nan)
        else:
            exact["exact_weight_distance_to_per_weight"] = math.nan

    # Per-layer statistics and the stationarity check of m under the per-weight penalty.
    T = lf.targets(y, n_classes)
    _, grads = loss_and_gradients(m, X, T, lf, act, bias)
    per_layer = {}
    for k, (s, L, G, W) in enumerate(zip(stats, lam, grads, m)):
        per_layer[f"layer{k}"] = _layer_summary(k, s, L, G, L * (W - w_s), bias, n_tiles[k])
    n_params = int(m_flat.size)
    warnings += _warnings(config, device, stats, X.shape[0], n_params, bias)

    # Function space: RMS distance of the test-set outputs (logits) of the time-averaged networks.
    out_m = mlp_forward(m, Xt, act, bias)[0]

    def out_distance(W):
        return float(np.sqrt(np.mean(np.sum((out_m - mlp_forward(W, Xt, act, bias)[0]) ** 2, axis=1))))

    o_plain = out_distance(plain["weights_mean"]) if plain is not None else math.nan
    o_pw = out_distance(pw["weights_mean"]) if pw is not None else math.nan
    o_glob = out_distance(glob_cache[lam_glob]["weights_mean"]) if lam_glob in glob_cache else math.nan

    final_tr, final_te = ev(result.weights_final, X, y), ev(result.weights_final, Xt, yt)
    mean_tr, mean_te = ev(m, X, y), ev(m, Xt, yt)
    plain_te = ev(plain["weights_mean"], Xt, yt) if plain is not None else nan_pair
    nan_curve = [math.nan] * len(result.orders)
    summary = {
        "layer_sizes": sizes,
        "loss": loss,
        "test_loss_final": final_te[0],
        "test_loss_mean_weights": mean_te[0],
        "test_accuracy_final": final_te[1],
        "test_accuracy_mean_weights": mean_te[1],
        "train_loss_final": final_tr[0],
        "train_loss_mean_weights": mean_tr[0],
        "train_accuracy_final": final_tr[1],
        "train_accuracy_mean_weights": mean_tr[1],
        "digital_test_loss": plain_te[0],
        "digital_test_accuracy": plain_te[1],
        "digital_per_weight_test_loss": pw_eval[0],
        "digital_per_weight_test_accuracy": pw_eval[1],
        "digital_global_test_loss": glob_eval[0],
        "digital_global_test_accuracy": glob_eval[1],
        "lambda_plugin_mean": float(np.mean(lam_nb)),
        "global_weight_decay_fit": lam_glob,
        "weight_distance_to_per_weight_digital": d_pw,
        "weight_distance_to_plain_digital": d_plain,
        "weight_distance_to_global_digital": d_glob,
        "per_weight_relative_distance": d_pw / d_plain if d_plain > 0 else math.nan,
        "global_relative_distance": d_glob / d_plain if d_plain > 0 else math.nan,
        "per_weight_shift": shift,
        "output_distance_to_per_weight_digital": o_pw,
        "output_distance_to_plain_digital": o_plain,
        "output_distance_to_global_digital": o_glob,
        "per_weight_relative_output_distance": o_pw / o_plain if o_plain > 0 else math.nan,
        "global_relative_output_distance": o_glob / o_plain if o_plain > 0 else math.nan,
        **exact,
        "per_layer": per_layer,
        "curves": {**result.curves,
                   "test_loss_digital": list(plain["curves"]["test_loss"]) if plain is not None else nan_curve,
                   "test_accuracy_digital": (list(plain["curves"]["test_accuracy"]) if plain is not None
                                             else nan_curve)},
        "regime_warnings": warnings,
        "failures": failures,
    }
    arrays = {
        "data": data,
        "weights_final": result.weights_final,
        "weights_mean": m,
        "initial_weights": result.initial_weights,
        "lambda_plugin": lam,
        "mean_abs_grad": [s["mean_abs_grad"] for s in stats],
        "mean_abs_grad_w": [s["mean_abs_grad_w"] for s in stats],
        "digital_weights_mean": plain["weights_mean"] if plain is not None else None,
        "digital_per_weight_weights_mean": pw["weights_mean"] if pw is not None else None,
        "w_s": w_s,
    }
    return summary, arrays
