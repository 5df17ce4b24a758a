"""``linear_step``: steps scale linearly with the state, separate slopes up and down (aihwkit LinearStepDevice)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ...params import check_float
from .base import PulsedDevice
from .registry import register


@register
@dataclass(frozen=True)
class LinearStep(PulsedDevice):
    r"""Linear-step device with independent slopes for potentiation and depression.

    One pulse (before the generic noise and clipping of :mod:`memsim.physics.devices.base`):

    .. math::
        \text{up:}\ w \leftarrow w + \Delta w_{\min}(1+\beta)\max\Big(1 - \gamma_{\uparrow}\frac{w}{w_{\max}}, 0\Big),
        \qquad
        \text{down:}\ w \leftarrow w - \Delta w_{\min}(1-\beta)\max\Big(1 - \gamma_{\downarrow}\frac{w}{w_{\min}}, 0\Big)

    As in aihwkit's ``LinearStepDevice`` the slopes are scaled by the bounds, so
    ``gamma_up = gamma_down = 1`` is exactly :class:`SoftBounds` and ``0`` is :class:`ConstantStep`
    (the ``max(., 0)`` is aihwkit's default ``allow_increasing = False``). Device-to-device spread
    of the slopes is relative (``gamma_up_dtod``, ``gamma_down_dtod``). Symmetry point:
    ``w_s = 2 beta / ((1+beta) gamma_up / w_max - (1-beta) gamma_down / w_min)``.

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
    gamma_up : float
        Slope of the up step relative to ``1/w_max``; >= 0.
    gamma_down : float
        Slope of the down step relative to ``1/|w_min|``; >= 0.
    gamma_up_dtod : float
        Relative device-to-device spread of ``gamma_up``; >= 0.
    gamma_down_dtod : float
        Relative device-to-device spread of ``gamma_down``; >= 0.
    """

    gamma_up: float = 0.5
    """Slope of the up step relative to ``1/w_max``; >= 0."""
    gamma_down: float = 0.5
    """Slope of the down step relative to ``1/|w_min|``; >= 0."""
    gamma_up_dtod: float = 0.0
    """Relative device-to-device spread of ``gamma_up``; >= 0."""
    gamma_down_dtod: float = 0.0
    """Relative device-to-device spread of ``gamma_down``; >= 0."""

    kind = "linear_step"
    needs_zero_inside = True
    cell_parameters: ClassVar[tuple[str, ...]] = ("dw_min", "w_min", "w_max", "gamma_up", "gamma_down")
    dtod_parameters: ClassVar[dict[str, tuple[str, str]]] = {
        **PulsedDevice.dtod_parameters,
        "gamma_up": ("gamma_up_dtod", "relative"),
        "gamma_down": ("gamma_down_dtod", "relative"),
    }

    def _validate(self) -> None:
        owner = type(self).__name__
        for name in ("gamma_up", "gamma_down"):
            object.__setattr__(self, name, check_float(owner, name, getattr(self, name), 0.0))

    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max, gamma_up, gamma_down):
        bound = w_max if up else w_min
        slope = (gamma_up if up else gamma_down) / bound if bound != 0.0 else 0.0  # hoisted out of a pulse train
        return dw_min * max(1.0 - slope * w, 0.0) if bound != 0.0 else 0.0

    def symmetry_point(self) -> float:
        """Closed form (class docstring); NaN when both slopes vanish (a constant-step device).

        Returns
        -------
        float
            The symmetry point :math:`w_s` (NaN if there is none).
        """
        b = self.up_down
        denom = (1.0 + b) * self.gamma_up / self.w_max - (1.0 - b) * self.gamma_down / self.w_min
        if denom == 0.0:
            return math.nan
        return 2.0 * b / denom

    @classmethod
    def invalid_examples(cls) -> dict[str, list[Any]]:
        return {**super().invalid_examples(), "gamma_up": [-0.1], "gamma_down": [float("nan")],
                "gamma_up_dtod": [-1.0]}
