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

    kind = "constant_step"

    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max):
        return dw_min

    def symmetry_point(self) -> float:
        """NaN: the step does not depend on the state (``F`` is constant).

        Returns
        -------
        float
            NaN.
        """
        return math.nan

    def asymmetry_slope(self, w: float | None = None) -> float:
        """``F'(w) = 0`` everywhere.

        Parameters
        ----------
        w : float or None
            Ignored (the slope is 0 everywhere).

        Returns
        -------
        float
            0.
        """
        return 0.0
