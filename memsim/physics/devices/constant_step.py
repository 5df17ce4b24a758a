"""``constant_step``: every pulse moves the weight by the same amount; hard bounds."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .base import PulsedDevice
from .registry import register


@register
@dataclass(frozen=True)
class ConstantStep(PulsedDevice):
    r"""A device with a state-independent step and hard bounds.

    One pulse (before the generic noise and clipping of :mod:`memsim.physics.devices.base`):

    .. math::  w \leftarrow w \pm \Delta w_{\min} (1 \pm \beta), \qquad w \in [w_{\min}, w_{\max}]

    ``q_+ = 1 + beta``, ``q_- = 1 - beta``: ``F(w) = -beta`` everywhere, so there is no symmetry
    point unless ``beta = 0`` (then ``F = 0`` and the device adds no penalty: ``lambda_eff = 0``).
    """

    kind = "constant_step"

    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max):
        return dw_min

    def symmetry_point(self) -> float:
        """NaN: the step does not depend on the state (``F`` is constant)."""
        return math.nan

    def asymmetry_slope(self, w: float | None = None) -> float:
        """``F'(w) = 0`` everywhere."""
        return 0.0
