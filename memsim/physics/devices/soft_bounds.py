"""``soft_bounds``: steps shrink linearly towards each bound (aihwkit SoftBounds, THEORY.md section 2a)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import PulsedDevice
from .registry import register


@register
@dataclass(frozen=True)
class SoftBounds(PulsedDevice):
    r"""Soft-bounds device: the step vanishes linearly at each bound.

    One pulse (before the generic noise and clipping of :mod:`memsim.physics.devices.base`):

    .. math::
        \text{up:}\ w \leftarrow w + \Delta w_{\min}(1+\beta)\Big(1 - \frac{w}{w_{\max}}\Big), \qquad
        \text{down:}\ w \leftarrow w - \Delta w_{\min}(1-\beta)\Big(1 - \frac{w}{w_{\min}}\Big)

    with ``w_min < 0 < w_max``. Hence ``q_+ = (1+beta)(1 - w/w_max)``,
    ``q_- = (1-beta)(1 - w/w_min)``; for symmetric bounds and ``beta = 0``, ``F(w) = w/w_max``
    exactly and ``lambda_eff = E|g| / w_max``. Symmetry point (THEORY.md section 2d):
    ``w_s = 2 beta / ((1+beta)/w_max - (1-beta)/w_min)``.
    """

    kind = "soft_bounds"
    needs_zero_inside = True

    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max):
        bound = w_max if up else w_min
        inv = 1.0 / bound if bound != 0.0 else 0.0  # loop-invariant: compilers hoist it out of a pulse train
        return dw_min * max(1.0 - w * inv, 0.0) if bound != 0.0 else 0.0

    def symmetry_point(self) -> float:
        """Closed form ``2 beta / ((1+beta)/w_max - (1-beta)/w_min)`` (0 for beta = 0)."""
        b = self.up_down
        return 2.0 * b / ((1.0 + b) / self.w_max - (1.0 - b) / self.w_min)
