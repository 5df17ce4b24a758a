"""``soft_bounds``: steps shrink linearly towards each bound (aihwkit SoftBounds).

See docs/theory.md, section '2a. Soft bounds'.
"""

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
    exactly and ``lambda_eff = E|g| / w_max``. Symmetry point (docs/theory.md, section
    '2d. Up/down asymmetry, device-to-device variation, zero-shifting'):
    ``w_s = 2 beta / ((1+beta)/w_max - (1-beta)/w_min)``.

    Parameters
    ----------
    dw_min : float
        Nominal step of one pulse at the reference state, in weight units; in (0, w_max - w_min].
    w_max : float
        Upper weight bound (dimensionless device weight).
    w_min : float or None
        Lower weight bound; ``None`` means ``-w_max``.
    up_down : float
        Up/down asymmetry beta: up steps x(1 + beta), down steps x(1 - beta); in (-1, 1).
    dw_min_std : float
        Cycle-to-cycle noise sigma (meaning set by ``c2c_mode``); >= 0.
    c2c_mode : str
        'multiplicative', 'additive' or 'neurosim' (module docstring).
    dw_min_dtod : float
        Relative device-to-device spread of ``dw_min``; >= 0.
    w_max_dtod : float
        Relative device-to-device spread of ``w_max``; >= 0.
    w_min_dtod : float
        Relative device-to-device spread of ``w_min``; >= 0.
    up_down_dtod : float
        Absolute device-to-device spread of ``up_down``; >= 0.
    stuck_prob : float
        Probability that a cell is stuck (drawn once per cell from the seed); in [0, 1].
    stuck_at : str
        Value of a stuck cell: 'w_min', 'w_max' (the cell's own bounds) or 'initial' (its state when the tile
        is created, 0 clipped to the bounds). A stuck cell receives its pulses (they are counted) but does not
        move, and ``Tile.program`` leaves it where it is.
    """

    kind = "soft_bounds"
    needs_zero_inside = True

    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max):
        bound = w_max if up else w_min
        inv = 1.0 / bound if bound != 0.0 else 0.0  # loop-invariant: compilers hoist it out of a pulse train
        return dw_min * max(1.0 - w * inv, 0.0) if bound != 0.0 else 0.0

    def symmetry_point(self) -> float:
        """Closed form ``2 beta / ((1+beta)/w_max - (1-beta)/w_min)`` (0 for beta = 0).

        Returns
        -------
        float
            The symmetry point :math:`w_s` (NaN if there is none).
        """
        b = self.up_down
        return 2.0 * b / ((1.0 + b) / self.w_max - (1.0 - b) / self.w_min)
