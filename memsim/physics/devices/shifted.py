"""A device seen through zero-shifting: the effective weight is ``w - w_s``.

See docs/theory.md, section '2d. Up/down asymmetry, device-to-device variation, zero-shifting'.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["ZeroShifted"]


class ZeroShifted:
    """Read-only view of a device whose cells are referenced at the symmetry point ``w_s``.

    In effective coordinates ``v = w - w_s``: ``F_eff(v) = F(v + w_s)``, the symmetry point is 0 and
    the bounds are shifted by ``-w_s``. The analysis uses it exactly like a device; the device's
    other attributes are passed through.

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice
        The device seen through the view.
    """

    def __init__(self, device: Any):
        self.device = device
        ws = device.symmetry_point()
        self.shift = ws if math.isfinite(ws) else 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.device, name)

    @property
    def w_max(self) -> float:
        """Upper bound in effective coordinates."""
        return self.device.w_max - self.shift

    @property
    def w_min(self) -> float:
        """Lower bound in effective coordinates."""
        return self.device.w_min - self.shift

    def asymmetry_function(self, v):
        """``F(v + w_s)``.

        Parameters
        ----------
        v : float or array_like
            Effective weights :math:`v = w - w_s`.

        Returns
        -------
        float or numpy.ndarray
            :math:`F(v + w_s)`, shaped like ``v``.
        """
        return self.device.asymmetry_function(np.asarray(v, dtype=np.float64) + self.shift)

    def symmetry_point(self) -> float:
        """0 (NaN if the device has none).

        Returns
        -------
        float
            0, or NaN if the device has no symmetry point.
        """
        return 0.0 if math.isfinite(self.device.symmetry_point()) else math.nan

    def asymmetry_slope(self, v: float | None = None) -> float:
        """``F'(v + w_s)`` (default at ``v = 0``).

        Parameters
        ----------
        v : float or None
            Effective weight; ``None``: 0.

        Returns
        -------
        float
            :math:`F'(v + w_s)`.
        """
        return self.device.asymmetry_slope(None if v is None else float(v) + self.shift)

    def __repr__(self) -> str:
        return f"ZeroShifted({self.device!r})"
