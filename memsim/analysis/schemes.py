r"""What a compound scheme leaves: plug-in penalties of its arrays and the predictions of docs/residual_learning.md.

Pure functions of the recorded statistics (:meth:`memsim.models.compound.CompoundTile.statistics`,
assembled per layer) and of the devices' formulas (``asymmetry_function``, ``asymmetry_slope``,
``symmetry_point``); nothing here runs or imports the simulator.

* Analog SGD on an array with recorded :math:`E|g|`: :math:`\lambda = E|g|\,F'(w_s)`.
* TTv1 with ``A`` referenced at its symmetry point (:func:`lambda_tiki_taka`):
  :math:`\lambda_{TT} = E|g|\,F_A'\,E|A - r|\,F_C'`.
* TTv1 with ``A``'s reference off its symmetry point (:func:`offset_shift`): the stationary weights move by
  :math:`-H^{-1}\,\mathrm{diag}(E|g|)\,F_A(r)`.
* Mixed precision (:func:`lambda_mixed_precision`): :math:`\lambda = E|\Delta_C|\,F_C'/\eta`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..params import check_array, check_float, invalid

__all__ = ["slope", "lambda_tiki_taka", "lambda_mixed_precision", "offset_shift", "scheme_summary",
           "TT_REGIME_TRANSFER_EVERY", "TT_REGIME_RATE_RATIO",
           "MP_REGIME_PULSES"]

#: Largest ``transfer_every`` of the lambda_TT law's regime (docs/residual_learning.md).
TT_REGIME_TRANSFER_EVERY = 1.0
#: Smallest ratio of A's learning rate to the transfer rate in the law's regime (docs/residual_learning.md).
TT_REGIME_RATE_RATIO = 10.0
#: Largest number of pulses of one mixed-precision write in the lambda_MP law's regime.
MP_REGIME_PULSES = 10.0


def slope(device: Any) -> float:
    """``F'(w_s)`` of a device.

    Parameters
    ----------
    device : memsim.physics.devices.PulsedDevice
        The device.

    Returns
    -------
    float
        The slope of the asymmetry function at the symmetry point (NaN without one).
    """
    return float(device.asymmetry_slope())


def lambda_tiki_taka(mean_abs_grad: Any, fast_mean_abs_dev: Any, fast_device: Any, slow_device: Any) -> np.ndarray:
    r"""Per weight :math:`\lambda_{TT} = E|g|\,F_A'(w_{s,A})\,E|A - r|\,F_C'(w_{s,C})` (docs/residual_learning.md).

    Parameters
    ----------
    mean_abs_grad : array_like
        Recorded :math:`E|g|` per weight.
    fast_mean_abs_dev : array_like
        Recorded :math:`E|A - r|` per weight (same size).
    fast_device : memsim.physics.devices.PulsedDevice
        Device of ``A``.
    slow_device : memsim.physics.devices.PulsedDevice
        Device of ``C``.

    Returns
    -------
    numpy.ndarray
        :math:`\lambda_{TT}` per weight (flattened).
    """
    g = check_array("lambda_tiki_taka", "mean_abs_grad", np.ravel(mean_abs_grad), ("d",))
    a = check_array("lambda_tiki_taka", "fast_mean_abs_dev", np.ravel(fast_mean_abs_dev), (g.size,))
    return g * slope(fast_device) * a * slope(slow_device)


def lambda_mixed_precision(slow_mean_abs_delta: Any, slow_device: Any, lr: float) -> np.ndarray:
    r"""Per weight :math:`\lambda = E|\Delta_C|\,F_C'(w_s)/\eta`, with :math:`E|\Delta_C|` per gradient event.

    Parameters
    ----------
    slow_mean_abs_delta : array_like
        Recorded mean magnitude of the writes to ``C`` per gradient event.
    slow_device : memsim.physics.devices.PulsedDevice
        Device of ``C``.
    lr : float
        The run's learning rate (> 0).

    Returns
    -------
    numpy.ndarray
        The penalty per weight (flattened).
    """
    lr = check_float("lambda_mixed_precision", "lr", lr, 0.0, lo_open=True)
    dc = check_array("lambda_mixed_precision", "slow_mean_abs_delta", np.ravel(slow_mean_abs_delta), ("d",))
    return dc * slope(slow_device) / lr


def offset_shift(X: Any, mean_abs_grad: Any, reference: Any, fast_device: Any) -> np.ndarray:
    r"""First-order shift of TTv1's stationary weights by A's reference ``r``: :math:`-H^{-1}\mathrm{diag}(E|g|)F_A(r)`.

    Parameters
    ----------
    X : array_like
        Design of the least-squares problem, shape (n, d) (with the bias column if the model has
        one); :math:`H = X^\top X / n`.
    mean_abs_grad : array_like
        Recorded :math:`E|g|` per weight, shape (d,).
    reference : array_like
        A's reference per weight, shape (d,).
    fast_device : memsim.physics.devices.PulsedDevice
        Device of ``A`` (its ``asymmetry_function``).

    Returns
    -------
    numpy.ndarray
        The predicted shift of the stationary weights, shape (d,).
    """
    X = check_array("offset_shift", "X", X, ("n", "d"))
    d = X.shape[1]
    g = check_array("offset_shift", "mean_abs_grad", np.ravel(mean_abs_grad), (d,))
    r = check_array("offset_shift", "reference", np.ravel(reference), (d,))
    H = X.T @ X / X.shape[0]
    return -np.linalg.solve(H, g * np.asarray(fast_device.asymmetry_function(r), dtype=float))


def _layer(stats: Any) -> dict[str, Any]:
    if isinstance(stats, (list, tuple)):
        if not stats:
            raise invalid("scheme_summary", "stats", "a non-empty list of per-layer statistics", stats)
        return stats[0]
    return stats


def scheme_summary(scheme: Any, device: Any, stats: Any, *, lr: float, batch_size: int = 1,
                   accumulate: bool = False, bias: bool = False, lambda_fit: float | None = None,
                   X: Any = None) -> dict[str, Any]:
    """The summary fields of a compound run (first layer; one output row for the linear theory).

    Parameters
    ----------
    scheme : memsim.physics.schemes.Scheme
        The run's scheme.
    device : memsim.physics.devices.PulsedDevice
        The run's device (of ``C``).
    stats : dict or list of dict
        Recorded statistics (:meth:`CompoundTile.statistics` assembled per layer; the first layer is read).
    lr : float
        The run's (last) learning rate (> 0).
    batch_size : int
        Mini-batch size.
    accumulate : bool
        Whether a batch was one programming event (the recorded ``|g|`` is then divided by ``batch_size``).
    bias : bool
        Whether the last column is a bias (left out of the means).
    lambda_fit : float or None
        The fitted penalty of the run, for ``lambda_fit_over_pred``.
    X : array_like or None
        The training design (bias column included) for ``offset_shift_pred``.

    Returns
    -------
    dict
        ``kind``, ``reference``, ``reference_offset`` (mean of ``r - w_s,A``), ``lambda_plugin_fast``
        (``E|g| F_A'``: what Analog SGD on ``A`` would leave), ``lambda_plugin_slow``
        (``E|Delta_C| F_C'/lr``), ``lambda_tt_pred`` (TT family) or ``lambda_mp_pred`` (mixed
        precision) with their per-weight arrays, ``lambda_scheme_pred`` (the scheme's prediction),
        ``lambda_fit_over_pred``, ``fast_mean_abs_dev`` (mean ``E|A - r|``), ``transfer_reads``,
        ``transfer_writes``, ``slow_pulses``, ``slow_events_truncated``, ``fast_events_truncated``,
        ``buffer_occupancy`` (mean ``|H|/threshold``), ``offset_shift_pred`` (with ``X``) and
        ``regime_warnings``.
    """
    lr = check_float("scheme_summary", "lr", lr, 0.0, lo_open=True)
    s = _layer(stats)
    per_event = batch_size if accumulate else 1
    row = (lambda a: np.asarray(a, dtype=float)[0])
    keep = slice(0, -1) if bias else slice(None)
    warnings: list[str] = []
    transfer = scheme.kind != "mixed_precision"
    fast_device = (scheme.fast_device or device) if transfer else None
    out: dict[str, Any] = {"kind": scheme.kind, "reference": getattr(scheme, "reference", None)}
    for name in ("transfer_reads", "transfer_writes"):
        out[name] = int(np.ravel(s[name])[0])
    out["slow_pulses"] = int(np.sum(s["slow_pulses"]))
    out["slow_events_truncated"] = int(np.sum(s["slow_events_truncated"]))
    out["fast_events_truncated"] = int(np.sum(s.get("fast_events_truncated", 0)))
    occ = s.get("buffer_occupancy")
    out["buffer_occupancy"] = float(np.mean(occ)) if occ is not None else math.nan
    nan = math.nan
    if s.get("events", 0) == 0 or "mean_abs_grad" not in s:
        warnings.append("scheme_no_window: no recorded events; the scheme's predictions are null")
        return {**out, "lambda_scheme_pred": nan, "regime_warnings": warnings}
    g = row(s["mean_abs_grad"])[keep] / per_event
    dslow = row(s["slow_mean_abs_delta"])[keep]
    lam_slow = lambda_mixed_precision(dslow, device, lr)
    out["lambda_plugin_slow"] = float(np.mean(lam_slow))
    if transfer:
        ws = float(fast_device.symmetry_point())
        ref = row(s["reference"])
        out["reference_offset"] = float(np.mean(ref[keep] - ws)) if math.isfinite(ws) else nan
        out["lambda_plugin_fast"] = float(np.mean(g * slope(fast_device)))
        a = row(s["fast_mean_abs_dev"])[keep]
        out["fast_mean_abs_dev"] = float(np.mean(a))
        tt = lambda_tiki_taka(g, a, fast_device, device)
        out["lambda_tt_pred"] = float(np.mean(tt))
        out["lambda_tt_pred_per_weight"] = tt
        out["lambda_scheme_pred"] = out["lambda_tt_pred"]
        if X is not None:
            out["offset_shift_pred"] = offset_shift(X, row(s["mean_abs_grad"]) / per_event, ref, fast_device)
        # the regime of the lambda_TT law (docs/residual_learning.md)
        if getattr(scheme, "reference", "symmetry") != "symmetry":
            warnings.append("scheme_reference_offset: A's reference is not at its symmetry point; lambda_tt_pred "
                            "is not the penalty (the weights shift instead: offset_shift_pred)")
        if scheme.kind != "tiki_taka":
            warnings.append(f"scheme_no_law: lambda_tt_pred is TTv1's law; {scheme.kind} transfers whole pulses "
                            "from a digital buffer and is not covered by it")
        fast_rate, transfer_rate = scheme.fast_rate(lr), scheme.transfer_rate(lr)
        if fast_rate < TT_REGIME_RATE_RATIO * transfer_rate * (1 - 1e-9):
            warnings.append(f"scheme_outside_regime: the fast rate {fast_rate:g} is below {TT_REGIME_RATE_RATIO:g} "
                            f"times the transfer rate {transfer_rate:g}: A is not fast against C and lambda_fit "
                            "exceeds lambda_tt_pred (measured about 3 times at a ratio of 1)")
        pulses_per_write = float(np.sum(s["slow_pulses"])) / max(out["transfer_writes"], 1) / max(
            s["slow_pulses"].shape[0], 1)
        out["slow_pulses_per_write"] = pulses_per_write
        if scheme.transfer_every > TT_REGIME_TRANSFER_EVERY:
            warnings.append(f"scheme_outside_regime: transfer_every = {scheme.transfer_every:g} (> "
                            f"{TT_REGIME_TRANSFER_EVERY:g}): A's excursions between transfers and C's rarer, larger "
                            "writes add to lambda_tt_pred (measured 2-3 times it at transfer_every = 5)")
    else:
        pulses = scheme.transfer_lr * scheme.epsilon(float(device.dw_min)) / float(device.dw_min)
        if pulses > MP_REGIME_PULSES * (1 + 1e-9):
            warnings.append(f"scheme_outside_regime: mixed-precision writes of {pulses:g} pulses (> "
                            f"{MP_REGIME_PULSES:g}): the state-dependent step changes during a write and "
                            "lambda_fit exceeds lambda_mp_pred (measured 24 % at 50 pulses)")
        out["lambda_mp_pred"] = out["lambda_plugin_slow"]
        out["lambda_mp_pred_per_weight"] = lam_slow
        out["lambda_scheme_pred"] = out["lambda_mp_pred"]
    pred = out["lambda_scheme_pred"]
    out["lambda_fit_over_pred"] = (float(lambda_fit) / pred if lambda_fit is not None and pred
                                   and math.isfinite(pred) and math.isfinite(float(lambda_fit)) else nan)
    out["regime_warnings"] = warnings
    return out
