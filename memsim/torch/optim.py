r"""Optimizers: :class:`AnalogSGD` (in-place SGD on the tiles), :class:`TikhonovSGD` (per-weight decay).

:class:`AnalogSGD` requests, for every analog layer, exactly the step ``torch.optim.SGD`` would take:

.. math::
    \Delta W = -\eta\,\frac{\partial L}{\partial W} = -\eta \sum_n d_n\,[x_n; 1]^\top,
    \qquad d_n = \frac{\partial L}{\partial y_n}

where the sum runs over the kept rows (samples, or a convolution's patches) of every backward pass
since the last ``zero_grad``. The loss's reduction is inside :math:`d_n` (a mean-reduced loss gives
every row its :math:`1/B` share), so the learning rate is torch's. Per-sample programming
(default, ``accumulate=False``) programs every row as its own rank-1 event in order,
``Tile.update(X, D, lr)``; ``accumulate=True`` sums :math:`\sum_n d_n [x_n;1]^\top` digitally and
programs one event. Digital parameters get plain SGD, :math:`p \leftarrow p - \eta\,\nabla_p L`.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from ..params import check_bool, check_float, check_int, invalid
from .layers import AnalogLayer

__all__ = ["AnalogSGD", "TikhonovSGD", "analog_layers", "start_recording", "stop_recording"]


def analog_layers(model: nn.Module) -> list[tuple[str, AnalogLayer]]:
    """``(name, layer)`` of every analog layer of ``model`` (``named_modules`` order, shared ones once).

    Parameters
    ----------
    model : torch.nn.Module
        A model with analog layers.

    Returns
    -------
    list of (str, AnalogLayer)
        The name and the layer of every analog layer.
    """
    return [(name, m) for name, m in model.named_modules() if isinstance(m, AnalogLayer)]


def start_recording(model: nn.Module, reset: bool = True) -> None:
    """Open the averaging window of every analog layer's tile.

    From now on every programming event adds ``|Delta|/lr`` (and ``|Delta|/lr * w``, ``w``) to the
    tile's sums (``Tile.statistics``), and every :meth:`AnalogSGD.step` counts one recorded step;
    :func:`memsim.torch.implicit_penalty` reads them. ``reset`` (default) zeroes earlier sums first.

    Parameters
    ----------
    model : torch.nn.Module
        A model with analog layers.
    reset : bool
        Zero the earlier sums (and recorded steps) first.
    """
    for _, layer in analog_layers(model):
        if reset:
            layer.tile.reset_statistics()
            layer.recorded_steps = 0
        layer.tile.start_recording()


def stop_recording(model: nn.Module) -> None:
    """Close the averaging window of every analog layer (the sums are kept).

    Parameters
    ----------
    model : torch.nn.Module
        A model with analog layers.
    """
    for _, layer in analog_layers(model):
        layer.tile.stop_recording()


class AnalogSGD(torch.optim.Optimizer):
    r"""SGD that programs the analog layers in place and updates digital parameters digitally.

    Parameters
    ----------
    params_or_model : torch.nn.Module or iterable
        The model (its analog layers and its digital ``parameters()``), or an iterable of digital
        parameters, analog layers and param-group dicts (whose ``"params"`` may hold both).
    lr : float
        Learning rate :math:`\eta` (as ``torch.optim.SGD``'s; a param group's ``lr`` applies to its
        analog layers too, so torch's learning-rate schedulers work).
    accumulate : bool
        ``False`` (hardware-faithful default): one rank-1 programming event per kept row (sample or
        patch). ``True``: the summed gradient is programmed as one event per layer and step.
    record_from : int, optional
        Open the averaging window (:func:`start_recording`, statistics reset) of every analog layer
        at this step index (0 = the first ``step()``); ``None``: never automatically.

    Notes
    -----
    A step programs what backward passes kept since the last :meth:`zero_grad`, like torch
    accumulates ``.grad``; :meth:`zero_grad` also clears the kept tensors. There is no momentum or
    weight decay (a device update is one programming event per request).
    """

    def __init__(self, params_or_model, lr: float, accumulate: bool = False, record_from: int | None = None):
        lr = check_float("AnalogSGD", "lr", lr, 0.0)
        accumulate = check_bool("AnalogSGD", "accumulate", accumulate)
        self.record_from = None if record_from is None else check_int("AnalogSGD", "record_from", record_from, 0)
        self._layers: dict[int, AnalogLayer] = {}
        if isinstance(params_or_model, nn.Module):
            found = [m for _, m in analog_layers(params_or_model)]
            self._layers = {id(m.analog_ctx): m for m in found}
            groups: Any = [{"params": list(params_or_model.parameters()) + [m.analog_ctx for m in found]}]
        else:
            groups = []
            for item in list(params_or_model):
                if isinstance(item, dict):
                    groups.append({**item, "params": self._flatten(item["params"])})
                else:
                    if not groups or "_loose" not in groups[-1]:
                        groups.append({"params": [], "_loose": True})
                    groups[-1]["params"] += self._flatten([item])
            for g in groups:
                g.pop("_loose", None)
        if not self._layers:
            raise invalid("AnalogSGD", "params_or_model", "a model (or an iterable) with at least one analog layer "
                          "(pass the model itself: its analog weights are not torch Parameters)", params_or_model)
        super().__init__(groups, {"lr": lr, "accumulate": accumulate})
        self.steps = 0

    def _flatten(self, items) -> list[torch.Tensor]:
        out = []
        for item in ([items] if isinstance(items, (torch.Tensor, nn.Module)) else items):
            if isinstance(item, nn.Module):
                layers = [m for _, m in analog_layers(item)]
                if not layers:
                    raise invalid("AnalogSGD", "params", "parameters or analog layers", item)
                for m in layers:
                    self._layers[id(m.analog_ctx)] = m
                    out.append(m.analog_ctx)
            else:
                out.append(item)
        return out

    @property
    def analog_layers(self) -> list[AnalogLayer]:
        """The analog layers this optimizer programs."""
        return list(self._layers.values())

    @torch.no_grad()
    def step(self, closure=None):
        """Program every analog layer with its kept rows; SGD on the digital parameters.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss.

        Returns
        -------
        torch.Tensor or None
            The closure's loss, if a closure was given.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.record_from is not None and self.steps == self.record_from:
            for layer in self._layers.values():
                layer.tile.reset_statistics()
                layer.recorded_steps = 0
                layer.tile.start_recording()
        for group in self.param_groups:
            lr, accumulate = group["lr"], group["accumulate"]
            for p in group["params"]:
                layer = self._layers.get(id(p))
                if layer is not None:
                    _program(layer, lr, accumulate)
                elif p.grad is not None:
                    p.add_(p.grad, alpha=-lr)
        self.steps += 1
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the digital gradients and forget the analog layers' kept tensors.

        Parameters
        ----------
        set_to_none : bool
            Set the digital gradients to ``None`` instead of zero.
        """
        super().zero_grad(set_to_none=set_to_none)
        for layer in self._layers.values():
            layer.clear_kept()


def _program(layer: AnalogLayer, lr: float, accumulate: bool) -> None:
    """``Tile.update`` with every kept row, in the order of the backward passes."""
    if not layer.kept:
        return
    X = np.concatenate([a for a, _ in layer.kept]) if len(layer.kept) > 1 else layer.kept[0][0]
    D = np.concatenate([d for _, d in layer.kept]) if len(layer.kept) > 1 else layer.kept[0][1]
    layer.tile.update(X, D, lr, accumulate=accumulate)
    if layer.tile.recording:
        layer.recorded_steps += 1


class TikhonovSGD(torch.optim.Optimizer):
    r"""SGD with a per-weight decay towards per-weight centres (generalized Tikhonov).

    .. math::
        w \leftarrow w - \eta\,\big(\nabla_w L + \lambda \odot (w - w_s)\big)

    i.e. SGD on :math:`L + \tfrac12 \sum_i \lambda_i (w_i - w_{s,i})^2`. ``decay`` (:math:`\lambda`)
    and ``center`` (:math:`w_s`) are per param group: a float, or a tensor broadcastable to every
    parameter of the group (give per-weight tensors a group of their own parameter).

    Parameters
    ----------
    params : iterable
        Parameters or param-group dicts (keys ``params``, ``lr``, ``decay``, ``center``).
    lr : float
        Learning rate :math:`\eta` (>= 0).
    decay : float or torch.Tensor
        Default :math:`\lambda` (>= 0).
    center : float or torch.Tensor
        Default :math:`w_s`.
    """

    def __init__(self, params: Iterable, lr: float, decay: Any = 0.0, center: Any = 0.0):
        lr = check_float("TikhonovSGD", "lr", lr, 0.0)
        super().__init__(params, {"lr": lr, "decay": decay, "center": center})

    @torch.no_grad()
    def step(self, closure=None):
        """One step of :math:`w \\leftarrow w - \\eta(\\nabla L + \\lambda (w - w_s))`.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss.

        Returns
        -------
        torch.Tensor or None
            The closure's loss, if a closure was given.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, decay, center = group["lr"], group["decay"], group["center"]
            plain = not isinstance(decay, torch.Tensor) and decay == 0
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if plain else p.grad + decay * (p - center)
                p.add_(g, alpha=-lr)
        return loss
