"""Crossbar periphery: DAC and ADC resolution and bounds, output (read) noise, weight read noise.

Each part is a small frozen dataclass that is off by default; :class:`Periphery` groups them. A read
(``Tile.forward`` or, with ``backward=True``, ``Tile.backward``) of a batch ``x`` computes

.. math::
    y = \\mathrm{ADC}\\Big( \\big(W \\odot (1 + \\sigma_w \\Xi)\\big)\\, \\mathrm{DAC}(x) + \\sigma_y \\xi \\Big)

with fresh standard normals ``Xi`` (one per cell and sample, stream ``STREAM_WEIGHT_READ``) and ``xi``
(one per output and sample, stream ``STREAM_READ``), keyed by the tile's read counter.

Quantiser with ``bits`` and ``bound`` (DAC and ADC alike): values are clipped to ``[-bound, bound]``
and rounded (halves away from zero) to the nearest of the ``2**bits - 1`` levels
``k * bound / (2**(bits-1) - 1)``, ``|k| <= 2**(bits-1) - 1`` (a symmetric grid with a zero level).
``bits = None`` means no rounding; ``bound = None`` means no clipping.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..params import MAX_MAGNITUDE, check_bool, check_float, check_int, check_keys, invalid

__all__ = ["Quantizer", "Periphery", "quantize"]


@dataclass(frozen=True)
class Quantizer:
    """A DAC or ADC: clipping to ``[-bound, bound]`` and ``2**bits - 1`` symmetric levels.

    Parameters
    ----------
    bits : int or None
        Resolution in bits (2..32); ``None``: no rounding.
    bound : float or None
        Clipping bound, in (0, 1e150]; ``None``: no clipping.
    """

    bits: int | None = None
    """Resolution in bits (2..32); ``None``: no rounding."""
    bound: float | None = None
    """Clipping bound, in (0, 1e150]; ``None``: no clipping."""

    def __post_init__(self) -> None:
        if self.bits is not None:
            object.__setattr__(self, "bits", check_int("Quantizer", "bits", self.bits, 2, 32))
            if self.bound is None:
                raise invalid("Quantizer", "bound", "a float in (0, inf) when 'bits' is set", None)
        if self.bound is not None:
            object.__setattr__(self, "bound", check_float("Quantizer", "bound", self.bound, 0.0, MAX_MAGNITUDE,
                                                          lo_open=True))

    @property
    def active(self) -> bool:
        """Whether it changes anything."""
        return self.bits is not None or self.bound is not None

    @property
    def step(self) -> float | None:
        """Distance between levels (``None`` without rounding)."""
        return None if self.bits is None else self.bound / (2 ** (self.bits - 1) - 1)


def quantize(v, q: Quantizer, xp=np):
    """Apply quantiser ``q`` to an array (any array namespace ``xp``).

    Parameters
    ----------
    v : array_like
        The values (inputs or outputs of a read).
    q : Quantizer
        The quantiser.
    xp : module
        The array namespace (``numpy`` or ``cupy``).

    Returns
    -------
    array_like
        ``v`` clipped to ``[-bound, bound]`` and rounded to the nearest level (unchanged where ``q`` is off).
    """
    if q.bound is not None:
        v = xp.clip(v, -q.bound, q.bound)
    if q.bits is not None:
        step = q.step
        v = xp.sign(v) * xp.floor(xp.abs(v) / step + 0.5) * step
    return v


@dataclass(frozen=True)
class Periphery:
    """DAC, ADC and read noise of a tile (all off by default: the exact VMM).

    Parameters
    ----------
    dac : Quantizer
        Input quantiser.
    adc : Quantizer
        Output quantiser.
    output_noise : float
        Standard deviation of additive Gaussian noise on every output of a read; >= 0.
    weight_noise : float
        Relative standard deviation of multiplicative Gaussian weight noise per read; >= 0.
    backward : bool
        Apply the same periphery to the backward read ``W^T d``.
    """

    dac: Quantizer = field(default_factory=Quantizer)
    """Input quantiser."""
    adc: Quantizer = field(default_factory=Quantizer)
    """Output quantiser."""
    output_noise: float = 0.0
    """Standard deviation of additive Gaussian noise on every output of a read; >= 0."""
    weight_noise: float = 0.0
    """Relative standard deviation of multiplicative Gaussian weight noise per read; >= 0."""
    backward: bool = True
    """Apply the same periphery to the backward read ``W^T d``."""

    def __post_init__(self) -> None:
        for name in ("dac", "adc"):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, _quantizer_from_dict(name, value))
            elif not isinstance(value, Quantizer):
                raise invalid("Periphery", name, "a Quantizer or a table with 'bits' and 'bound'", value)
        for name in ("output_noise", "weight_noise"):
            object.__setattr__(self, name, check_float("Periphery", name, getattr(self, name), 0.0, MAX_MAGNITUDE))
        check_bool("Periphery", "backward", self.backward)

    @property
    def active(self) -> bool:
        """Whether a read differs from the exact VMM."""
        return self.dac.active or self.adc.active or self.output_noise > 0 or self.weight_noise > 0

    def to_dict(self) -> dict[str, Any]:
        """All settings as plain values.

        Returns
        -------
        dict
            Every setting as plain values (``dac`` and ``adc`` as tables).
        """
        return {"dac": dataclasses.asdict(self.dac), "adc": dataclasses.asdict(self.adc),
                "output_noise": self.output_noise, "weight_noise": self.weight_noise, "backward": self.backward}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Periphery":
        """Build from a config table; unknown keys raise naming the key.

        Parameters
        ----------
        data : dict
            The ``[periphery]`` table.
        """
        check_keys("periphery", data, (f.name for f in dataclasses.fields(cls)))
        return cls(**data)


def _quantizer_from_dict(name: str, data: dict[str, Any]) -> Quantizer:
    """The ``dac`` or ``adc`` table; errors name ``dac.bits`` etc. (so a config names ``periphery.dac.bits``)."""
    for key in data:
        if key not in ("bits", "bound"):
            raise invalid("Periphery", f"{name}.{key}", "absent (allowed keys: bits, bound)", data[key])
    try:
        return Quantizer(**data)
    except ConfigError as exc:
        text = str(exc)
        key = text.split("'")[1] if text.count("'") >= 2 else "?"
        raise ConfigError(text.replace(f"The '{key}' parameter of Quantizer",
                                       f"The '{name}.{key}' parameter of Periphery", 1)) from None
