r"""From a torch model to its analog version and back: conversion, the implicit penalty, the digital twin.

Theory (docs/theory.md, section '2.0 The drift formula'): a device with asymmetry function :math:`F` (``F(w_s)
= 0``) turns a
requested step :math:`-\eta g` into, on average, :math:`-\eta g - \eta |g| F(w)`; linearised
around the symmetry point this is SGD with the generalized Tikhonov penalty

.. math::
    \lambda_i = \overline{|g_i|}\;F'(w_s), \qquad
    L_{\rm twin} = L + \tfrac12 \sum_i \lambda_i\,(w_i - w_{s,i})^2 .

Here :math:`\overline{|g_i|}` is the recorded :math:`\sum|\Delta_i|/\eta` of the averaging window per
optimizer step (:func:`implicit_penalty`): with per-sample programming a step of a mean-reduced loss
over :math:`B` samples makes :math:`B` events of :math:`|d_n x_{ni}|` each carrying its :math:`1/B`,
whose sum is the batch's :math:`\frac1B\sum_n |g_{ni}|`, so :math:`\lambda` is in the units of torch's
loss and learning rate and does not depend on the batch size at a fixed per-sample step. With
``accumulate=True`` one event per step gives :math:`|\frac1B \sum_n g_{n i}|`.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from ..analysis.penalty import symmetry
from ..models.layers import tile_seed
from ..params import check_choice, check_float, invalid
from .layers import AnalogConv2d, AnalogLayer, AnalogLinear
from .optim import TikhonovSGD, analog_layers

__all__ = ["convert_to_analog", "implicit_penalty", "PenaltyReport", "digital_twin"]


# ---------------------------------------------------------------------------- conversion
def _conv_args(m: nn.Conv2d, name: str) -> dict[str, Any]:
    if m.groups != 1 or m.padding_mode != "zeros":
        raise invalid("convert_to_analog", name, "a Conv2d with groups=1 and padding_mode='zeros'",
                      f"groups={m.groups}, padding_mode={m.padding_mode!r}")
    return dict(stride=m.stride, padding=m.padding, dilation=m.dilation)


def convert_to_analog(module: nn.Module, *, device, update=None, periphery=None, backend="numba",
                      dtype="float64", seed: int = 0) -> nn.Module:
    """A deep copy of ``module`` with every ``nn.Linear`` / ``nn.Conv2d`` on a crossbar tile.

    Layers of exactly these two types (not subclasses) become :class:`~memsim.torch.AnalogLinear` /
    :class:`~memsim.torch.AnalogConv2d` with the same weights and bias programmed into the tile
    (clipped to each cell's ``[w_min, w_max]``); everything else is deep-copied unchanged (and stays
    digital). The ``k``-th converted layer (``named_modules`` order, a shared layer once) gets the
    tile seed :func:`memsim.models.layers.tile_seed` ``(seed, k)``.

    Parameters
    ----------
    module : torch.nn.Module
        The model to convert (left unchanged).
    device : memsim.physics.devices.base.PulsedDevice
        Device model of every cell (see :class:`~memsim.torch.AnalogLinear`).
    update : memsim.physics.updates.UpdateRule, optional
        Pulse-count rule of every tile.
    periphery : memsim.physics.periphery.Periphery, optional
        Periphery of every tile.
    backend : str
        Backend of every tile.
    dtype : {"float64", "float32"}
        Storage dtype of every tile.
    seed : int
        Run seed.

    Returns
    -------
    torch.nn.Module
        The converted deep copy.

    Warns
    -----
    UserWarning
        Per layer with clipped weights, naming it and the clipped fraction.
    """
    memo: dict[int, Any] = {}
    k = 0
    for name, m in module.named_modules():
        if type(m) not in (nn.Linear, nn.Conv2d):
            continue
        label = name or type(m).__name__
        common = dict(device=device, update=update, periphery=periphery, backend=backend, dtype=dtype,
                      seed=tile_seed(seed, k), torch_dtype=m.weight.dtype)
        bias = m.bias is not None
        with torch.random.fork_rng(devices=[]):  # the layers' default init must not advance torch's RNG
            if type(m) is nn.Linear:
                analog: AnalogLayer = AnalogLinear(m.in_features, m.out_features, bias, **common)
            else:
                analog = AnalogConv2d(m.in_channels, m.out_channels, m.kernel_size, bias=bias,
                                      **_conv_args(m, label), **common)
        analog.train(m.training)
        clipped = analog.program_weights(m.weight.detach(), m.bias.detach() if bias else None)
        if clipped > 0:
            lo, hi = device.w_min, device.w_max
            warnings.warn(f"convert_to_analog: layer '{label}' ({type(m).__name__}): {clipped:.1%} of its weights "
                          f"were clipped to the device range [{lo:g}, {hi:g}]", UserWarning, stacklevel=2)
        memo[id(m)] = analog
        k += 1
    return copy.deepcopy(module, memo)


# ---------------------------------------------------------------------------- penalty
class PenaltyReport(dict):
    """``layer name -> dict`` (see :func:`implicit_penalty`), plus :attr:`global_mean`."""

    global_mean: float
    """Mean of :math:`\\lambda_i` over every cell of every analog layer (bias columns included)."""


def implicit_penalty(model: nn.Module) -> PenaltyReport:
    r"""The plug-in penalty of every analog layer from its recorded statistics.

    .. math::
        \lambda_i = \overline{|g_i|}\;F'(w_s), \qquad
        \overline{|g_i|} = \frac{1}{S}\sum_{\rm events\ in\ window} \frac{|\Delta_i|}{\eta}

    with :math:`S` the optimizer steps in the window (``recorded_steps``), :math:`F'(w_s)` the
    nominal device's slope at its symmetry point (:func:`memsim.analysis.penalty.symmetry`) and
    :math:`w_{s,i}` every cell's own symmetry point (``device.cell_symmetry_points``, after
    device-to-device variation). Open the window with :func:`memsim.torch.start_recording` or
    ``AnalogSGD(..., record_from=k)``.

    Parameters
    ----------
    model : torch.nn.Module
        A model with analog layers and a recorded window.

    Returns
    -------
    PenaltyReport
        ``name -> dict`` with, in the tile's layout ``(out, in + bias)`` (split with
        ``layer.split``): ``lambda``, ``symmetry_points``, ``abs_grad`` (:math:`\overline{|g_i|}`
        per step), ``mean_abs_grad`` (per event, as recorded), ``weights_mean``; and the scalars
        ``lambda_mean``, ``slope``, ``w_s`` (nominal), ``events``, ``steps``. The report's
        ``global_mean`` is the mean :math:`\lambda` over all analog cells.

    Raises
    ------
    ValueError
        When a layer recorded no step.
    """
    report = PenaltyReport()
    total, count = 0.0, 0
    for name, layer in analog_layers(model):
        stats = layer.tile.statistics()
        if stats["events"] == 0 or layer.recorded_steps == 0:
            raise invalid("implicit_penalty", "model", "analog layers with recorded steps (call "
                          "memsim.torch.start_recording(model) or AnalogSGD(..., record_from=k) first)",
                          f"layer '{name}' recorded none")
        device = layer.tile.device
        ws, slope = symmetry(device, "implicit_penalty")
        abs_grad = stats["sum_abs_grad"] / layer.recorded_steps
        lam = slope * abs_grad
        centers = (device.cell_symmetry_points(layer.tile.cell_parameters) if slope != 0.0
                   else np.zeros_like(lam))
        report[name] = {
            "lambda": lam, "symmetry_points": centers, "abs_grad": abs_grad,
            "mean_abs_grad": stats["mean_abs_grad"], "weights_mean": stats["weights_mean"],
            "lambda_mean": float(np.mean(lam)), "slope": float(slope), "w_s": float(ws),
            "events": int(stats["events"]), "steps": int(layer.recorded_steps),
        }
        total += float(np.sum(lam))
        count += lam.size
    report.global_mean = total / count if count else float("nan")
    return report


# ---------------------------------------------------------------------------- digital twin
def _digital_copy(layer: AnalogLayer) -> nn.Module:
    w, b = layer.split(layer.tile.weights)
    kw = dict(bias=layer.use_bias, dtype=layer.torch_dtype)
    if isinstance(layer, AnalogConv2d):
        out: nn.Module = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                   padding=layer.padding, dilation=layer.dilation, **kw)
    else:
        out = nn.Linear(layer.in_features, layer.out_features, **kw)
    with torch.no_grad():
        out.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
        if b is not None:
            out.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
    out.train(layer.training)
    return out


def digital_twin(model: nn.Module, *, lr: float, decay: str = "per_weight",
                 penalty: PenaltyReport | None = None) -> tuple[nn.Module, TikhonovSGD]:
    r"""A plain torch copy of ``model`` with the analog weights, and its Tikhonov SGD optimizer.

    The twin has the same architecture with every analog layer replaced by ``nn.Linear`` /
    ``nn.Conv2d`` holding the tile's present weights (dtype: the layer's ``torch_dtype``); digital
    modules are deep copies. The optimizer (:class:`~memsim.torch.optim.TikhonovSGD`) takes

    .. math::  w \leftarrow w - \eta\,\big(\nabla_w L + \lambda \odot (w - w_s)\big)

    on every former analog weight and bias, and plain SGD on the digital parameters.

    Parameters
    ----------
    model : torch.nn.Module
        A model with analog layers.
    lr : float
        Learning rate :math:`\eta`.
    decay : {"per_weight", "global", "none"}
        ``"per_weight"``: :math:`\lambda_i` of :func:`implicit_penalty`; ``"global"``: one
        :math:`\lambda` for every analog cell, the report's ``global_mean``; both towards the
        cells' symmetry points. ``"none"``: plain SGD (no penalty needed).
    penalty : PenaltyReport, optional
        Default: ``implicit_penalty(model)`` (needs a recorded window unless ``decay="none"``).

    Returns
    -------
    twin : torch.nn.Module
        The digital copy of the model.
    optimizer : TikhonovSGD
        Its optimizer with the penalty.
    """
    lr = check_float("digital_twin", "lr", lr, 0.0)
    decay = check_choice("digital_twin", "decay", decay, ("per_weight", "global", "none"))
    found = analog_layers(model)
    if not found:
        raise invalid("digital_twin", "model", "a model with analog layers", type(model).__name__)
    if decay != "none" and penalty is None:
        penalty = implicit_penalty(model)
    memo = {id(layer): _digital_copy(layer) for _, layer in found}
    twin = copy.deepcopy(model, memo)
    decayed: set[int] = set()
    groups: list[dict[str, Any]] = []
    for name, layer in found:
        digital = memo[id(layer)]
        if decay == "none":
            continue
        entry = penalty[name]
        lam = entry["lambda"] if decay == "per_weight" else np.full_like(entry["lambda"], penalty.global_mean)
        (lw, lb), (cw, cb) = layer.split(lam), layer.split(entry["symmetry_points"])
        params = [(digital.weight, lw, cw)] + ([(digital.bias, lb, cb)] if layer.use_bias else [])
        for p, lam_p, c_p in params:
            groups.append({"params": [p], "decay": torch.as_tensor(np.ascontiguousarray(lam_p), dtype=p.dtype),
                           "center": torch.as_tensor(np.ascontiguousarray(c_p), dtype=p.dtype)})
            decayed.add(id(p))
    rest = [p for p in twin.parameters() if id(p) not in decayed]
    if rest:
        groups.append({"params": rest})
    return twin, TikhonovSGD(groups, lr=lr)
