"""``pow_step``: the step is a power of the distance to the far bound (aihwkit PowStepDevice).

See docs/theory.md, section '2c. Power-law steps and noise on the pulse axis'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...params import check_float
from .base import PulsedDevice
from .registry import register

__all__ = ["PowStep"]


@register
@dataclass(frozen=True)
class PowStep(PulsedDevice):
    r"""Power-step device (a shifted Fusi & Abbott 2007 synapse; aihwkit's ``PowStepDevice``).

    With :math:`\omega = (w_{\max} - w)/(w_{\max} - w_{\min})`, the relative distance to the upper
    bound, one pulse (before the generic noise and clipping of :mod:`memsim.physics.devices.base`) is

    .. math::
        \text{up:}\ w \leftarrow w + \Delta w_{\min}(1+\beta)\,\omega^{\gamma_+}, \qquad
        \text{down:}\ w \leftarrow w - \Delta w_{\min}(1-\beta)\,(1-\omega)^{\gamma_-},
        \qquad \gamma_\pm = \gamma\,(1 \pm \beta_\gamma),

    ``gamma`` = ``pow_gamma``, ``beta_gamma`` = ``pow_up_down``, ``beta`` = ``up_down``. There is no
    normalisation: at the centre of the range the step is ``dw_min 2**-gamma``, and ``gamma = 1``
    is :class:`SoftBounds` with half the ``dw_min`` (same ``F``); ``gamma = 0`` is a constant step.
    Symmetric case (``w_min = -w_max = -W``, ``beta = beta_gamma = 0``), docs/theory.md, section
    '2c. Power-law steps and noise on the pulse axis':
    ``F(w) = tanh(gamma artanh(w/W))``, ``w_s = 0``, ``F'(0) = gamma/W``.

    Device-to-device variation (drawn once per cell): ``pow_gamma`` relative,
    ``gamma_cell = gamma max(1 + pow_gamma_dtod xi, 0)``; ``pow_up_down`` absolute,
    ``beta_gamma_cell = clip(beta_gamma + pow_up_down_dtod xi', -1, 1)`` (``pow_up_down_dtod`` in units
    of ``gamma``, as in aihwkit).

    Differences from aihwkit, stated:

    * aihwkit's docs give ``gamma_+- = gamma (1 +- beta_gamma)``, implemented here. Its C++
      (``rpu_powstep_device.cpp``) lowers only one exponent: ``gamma_up = gamma`` and
      ``gamma_down = gamma (1 - beta_gamma)`` for ``beta_gamma > 0``, ``gamma_up = gamma (1 +
      beta_gamma)`` and ``gamma_down = gamma`` for ``beta_gamma < 0``; so its exponent difference is
      half of the documented one. The same pattern holds for ``up_down`` (DESIGN "Definitions").
    * aihwkit adds the d2d terms, ``gamma (1 +- beta_gamma + sigma_gamma xi +- r)``, and takes
      ``|.|``; memsim multiplies ``gamma_cell (1 +- beta_gamma_cell)`` and clips to the valid ranges.
    * aihwkit's default ``pow_gamma_dtod`` is 0.1; memsim's is 0 like every ``*_dtod``.

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
    pow_gamma : float
        Exponent gamma of the step's dependence on the distance to the far bound; >= 0.
    pow_gamma_dtod : float
        Relative device-to-device spread of ``pow_gamma``; >= 0.
    pow_up_down : float
        Up/down bias of the exponent: ``gamma_+- = gamma (1 +- pow_up_down)``; in [-1, 1].
    pow_up_down_dtod : float
        Absolute device-to-device spread of ``pow_up_down``; >= 0.
    """

    pow_gamma: float = 1.0
    """Exponent gamma of the step's dependence on the distance to the far bound; >= 0."""
    pow_gamma_dtod: float = 0.0
    """Relative device-to-device spread of ``pow_gamma``; >= 0."""
    pow_up_down: float = 0.0
    """Up/down bias of the exponent: ``gamma_+- = gamma (1 +- pow_up_down)``; in [-1, 1]."""
    pow_up_down_dtod: float = 0.0
    """Absolute device-to-device spread of ``pow_up_down``; >= 0."""

    kind = "pow_step"
    cell_parameters: ClassVar[tuple[str, ...]] = ("dw_min", "w_min", "w_max", "pow_gamma", "pow_up_down")
    dtod_parameters: ClassVar[dict[str, tuple[str, str]]] = {
        **PulsedDevice.dtod_parameters,
        "pow_gamma": ("pow_gamma_dtod", "relative"),
        "pow_up_down": ("pow_up_down_dtod", "absolute"),
    }

    def _validate(self) -> None:
        owner = type(self).__name__
        object.__setattr__(self, "pow_gamma", check_float(owner, "pow_gamma", self.pow_gamma, 0.0))
        object.__setattr__(self, "pow_up_down", check_float(owner, "pow_up_down", self.pow_up_down, -1.0, 1.0))

    @staticmethod
    def _absolute_range(name: str) -> tuple[float, float]:
        if name == "pow_up_down":
            return -1.0, 1.0
        return PulsedDevice._absolute_range(name)

    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max, pow_gamma, pow_up_down):
        span = w_max - w_min
        omega = (w_max - w) / span if span > 0.0 else 0.0
        base = max(omega if up else 1.0 - omega, 0.0)
        gamma = max(pow_gamma * (1.0 + pow_up_down if up else 1.0 - pow_up_down), 0.0)
        return dw_min * math.pow(base, gamma)

    # ------------------------------------------------------------------ closed forms (nominal cell)
    def _exponents(self) -> tuple[float, float]:
        return (max(self.pow_gamma * (1.0 + self.pow_up_down), 0.0),
                max(self.pow_gamma * (1.0 - self.pow_up_down), 0.0))

    def asymmetry_function(self, w):
        """``F(w)`` in closed form, vectorised; ``tanh(gamma artanh(w/W))`` in the symmetric case.

        Parameters
        ----------
        w : float or array_like
            Weights (device coordinates).

        Returns
        -------
        float or numpy.ndarray
            :math:`F(w)`, shaped like ``w``.
        """
        g_up, g_down = self._exponents()
        omega = np.clip((self.w_max - np.asarray(w, dtype=np.float64)) / (self.w_max - self.w_min), 0.0, 1.0)
        q_up = (1.0 + self.up_down) * omega ** g_up
        q_down = (1.0 - self.up_down) * (1.0 - omega) ** g_down
        total = q_up + q_down
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (q_down - q_up) / np.where(total > 0, total, 1.0), np.nan)

    def symmetry_point(self) -> float:
        """Closed form for ``pow_up_down = 0``: ``(1-omega)/omega = ((1+beta)/(1-beta))**(1/gamma)``.

        Numerical root of ``F`` otherwise; NaN for ``gamma = 0`` (a constant step).

        Returns
        -------
        float
            The symmetry point :math:`w_s` (NaN if there is none).
        """
        if self.pow_gamma == 0.0:
            return math.nan
        if self.pow_up_down != 0.0:
            return super().symmetry_point()
        ratio = ((1.0 + self.up_down) / (1.0 - self.up_down)) ** (1.0 / self.pow_gamma)
        omega = 1.0 / (1.0 + ratio)
        return float(self.w_max - omega * (self.w_max - self.w_min))

    def asymmetry_slope(self, w: float | None = None) -> float:
        """``F'(w)``; at the symmetry point in closed form, ``(gamma_-/(1-omega) + gamma_+/omega) / (2 span)``.

        Parameters
        ----------
        w : float or None
            Where to evaluate the slope; ``None``: at the symmetry point.

        Returns
        -------
        float
            :math:`F'(w)` (NaN if undefined).
        """
        if w is not None:
            return super().asymmetry_slope(w)
        w_s = self.symmetry_point()
        if not np.isfinite(w_s):
            return math.nan
        g_up, g_down = self._exponents()
        span = self.w_max - self.w_min
        omega = (self.w_max - w_s) / span
        return float((g_down / (1.0 - omega) + g_up / omega) / (2.0 * span))

    @classmethod
    def invalid_examples(cls) -> dict[str, list[Any]]:
        return {**super().invalid_examples(), "pow_gamma": [-0.5, float("nan")], "pow_up_down": [1.5, -1.01],
                "pow_gamma_dtod": [-0.1], "pow_up_down_dtod": [-1.0]}
