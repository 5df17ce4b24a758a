"""Update rules: how a requested weight change becomes a number of programming pulses.

A programming event on cell ``(j, i)`` requests ``Delta = -lr * d[j] * x[i]`` (``d = dL/dy``) and is
realised by ``n`` pulses of the device in the direction ``sign(Delta)``; ``dw_min`` below is the
device's *nominal* step (the periphery does not know a cell's own step):

``stochastic_rounding``
    ``n = floor(|Delta| / dw_min)`` plus one with probability equal to the remainder
    ``|Delta|/dw_min - floor(|Delta|/dw_min)`` (a Philox uniform from ``STREAM_ROUNDING``, lane 0 of
    block 0 of the cell's (step, stream) sub-sequence). Unbiased: ``E[n] dw_min = |Delta|``.
``deterministic``
    NeuroSim's rule: ``n = round(|Delta| / dw_min)`` with halves rounded away from zero,
    i.e. ``floor(|Delta|/dw_min + 0.5)``. Requests below ``dw_min / 2`` are lost (a dead zone).

Both cap ``n`` at ``max_pulses`` (default 65535): a request larger than that is a saturating
write, and the cap keeps extreme inputs from running unbounded loops. A capped event is never silent:
every backend counts it per cell (``Tile.statistics()``: ``events_truncated``, and ``pulses_lost``,
the requested minus the applied pulses), and
:func:`memsim.analysis.penalty.truncation_warning` reports it. The request is bounded at ``2**53``
pulses before any integer conversion (:func:`memsim.physics.pulse_law.pulse_magnitude`), so an
enormous finite request (``|Delta| >= 2**63 dw_min``) applies ``max_pulses`` pulses on every backend
instead of overflowing.

``pulse_coincidence``
    Stochastic bit streams (Gokmen & Vlasov 2016; aihwkit's ``StochasticCompressed`` pulse type with
    its update and bit-length management). Only for rank-1 (per-sample) events. Per sample, with
    ``x_max = max_i |x_i|``, ``d_max = max_j |d_j|`` and the nominal ``dw_min``:

    * bit length: ``BL = desired_bl``; with ``update_bl_management``
      ``BL = min(max(ceil(lr * x_max * d_max / dw_min), 1), desired_bl)`` (just enough slots for
      the largest request); ``BL = 0`` (no pulses) if ``x_max``, ``d_max`` or ``lr`` is 0;
    * scales: ``base = sqrt(lr / (BL * dw_min))``; with ``update_management``
      ``A = base * sqrt(d_max / x_max)`` and ``B = base * sqrt(x_max / d_max)`` (so the largest input
      and error probabilities are equal), else ``A = B = base``;
    * probabilities ``p_i = min(A |x_i|, 1)`` and ``q_j = min(B |d_j|, 1)``: **a probability that
      would exceed 1 is clipped to 1** (the line fires in every slot), and the expected update then
      falls short of the request;
    * slot ``k < BL`` of input line ``i`` fires if uniform ``k`` of Philox sub-sequence
      (step, ``STREAM_COINCIDENCE``, cell index ``i``) is below ``p_i``; error line ``j`` likewise with
      index ``cols + j`` and ``q_j``; the streams are bit-packed, 64 slots per machine word;
    * cell ``(j, i)`` receives ``n_ij = popcount(bits_i & bits_j)`` pulses in the direction of
      ``-d_j x_i``; so ``n_ij ~ Binomial(BL, p_i q_j)`` and, while nothing is clipped,
      ``E[n_ij] dw_min = BL A B |x_i d_j| dw_min = lr |x_i d_j|``: the mean update is the request.

    Every pulse is then applied exactly (state-dependent step, its own cycle-to-cycle draw).
    ``max_pulses`` does not apply to this rule: ``n_ij <= BL <= desired_bl``, so nothing is truncated.

The rounding rules are written once, as code, in :mod:`memsim.physics.pulse_law`
(``pulse_magnitude``, ``pulse_direction``, ``pulse_count_stochastic``, ``pulse_count_deterministic``),
which every backend runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ..params import check_bool, check_int, check_keys, invalid

__all__ = ["UpdateRule", "StochasticRounding", "Deterministic", "PulseCoincidence", "UPDATE_RULES",
           "RULE_CODES", "update_from_dict"]

#: Integer code of each rule that the kernels dispatch on (``UpdateRule.code``; generated into both
#: kernel templates as ``RULE_<KIND>`` / ``MS_RULE_<KIND>`` by the code generators).
RULE_CODES = {"stochastic_rounding": 0, "deterministic": 1, "pulse_coincidence": 2}


@dataclass(frozen=True)
class UpdateRule:
    """Base class of the pulse-count rules (see the module docstring).

    Parameters
    ----------
    max_pulses : int
        Largest number of pulses of one programming event; in [1, 2**31 - 1].
    """

    max_pulses: int = 65535
    """Largest number of pulses of one programming event; in [1, 2**31 - 1]."""

    kind: ClassVar[str] = ""
    code: ClassVar[int] = -1  #: integer the kernels dispatch on

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_pulses", check_int(type(self).__name__, "max_pulses",
                                                         self.max_pulses, 1, 2 ** 31 - 1))

    def to_dict(self) -> dict[str, Any]:
        """All parameters plus ``kind``.

        Returns
        -------
        dict
            Every parameter plus ``kind``.
        """
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UpdateRule":
        """Build from a config table; unknown keys raise naming the key.

        Parameters
        ----------
        data : dict
            The ``[update]`` table (``kind`` is ignored here).
        """
        data = {k: v for k, v in data.items() if k != "kind"}
        check_keys(cls.__name__, data, (f.name for f in dataclasses.fields(cls)))
        return cls(**data)


@dataclass(frozen=True)
class StochasticRounding(UpdateRule):
    """``n = floor(|Delta|/dw_min)`` plus one with probability equal to the remainder.

    Parameters
    ----------
    max_pulses : int
        Largest number of pulses of one programming event; in [1, 2**31 - 1].
    """

    kind: ClassVar[str] = "stochastic_rounding"
    code: ClassVar[int] = RULE_CODES[kind]


@dataclass(frozen=True)
class Deterministic(UpdateRule):
    """NeuroSim's rule: ``n = round(|Delta|/dw_min)``, halves rounded away from zero.

    Parameters
    ----------
    max_pulses : int
        Largest number of pulses of one programming event; in [1, 2**31 - 1].
    """

    kind: ClassVar[str] = "deterministic"
    code: ClassVar[int] = RULE_CODES[kind]


@dataclass(frozen=True)
class PulseCoincidence(UpdateRule):
    """Stochastic pulse coincidence with aihwkit's update and bit-length management (module docstring).

    Parameters
    ----------
    max_pulses : int
        Largest number of pulses of one programming event; in [1, 2**31 - 1].
    desired_bl : int
        Bit length (slots per stream), the maximum with BL management; in [1, 4096].
    update_management : bool
        Balance the input and error probabilities (``A``, ``B`` in the module docstring).
    update_bl_management : bool
        Use only as many slots as the largest request needs.
    """

    desired_bl: int = 31
    """Bit length (slots per stream), the maximum with BL management; in [1, 4096]."""
    update_management: bool = True
    """Balance the input and error probabilities (``A``, ``B`` in the module docstring)."""
    update_bl_management: bool = True
    """Use only as many slots as the largest request needs."""

    kind: ClassVar[str] = "pulse_coincidence"
    code: ClassVar[int] = RULE_CODES[kind]

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = type(self).__name__
        object.__setattr__(self, "desired_bl", check_int(owner, "desired_bl", self.desired_bl, 1, 4096))
        check_bool(owner, "update_management", self.update_management)
        check_bool(owner, "update_bl_management", self.update_bl_management)

    @property
    def words(self) -> int:
        """Machine words (64 slots each) of one bit-packed stream."""
        return (self.desired_bl + 63) // 64


UPDATE_RULES: dict[str, type[UpdateRule]] = {c.kind: c for c in (StochasticRounding, Deterministic,
                                                                     PulseCoincidence)}


def update_from_dict(data: dict[str, Any]) -> UpdateRule:
    """Build an update rule from a config table with a ``kind`` key.

    Parameters
    ----------
    data : dict
        The ``[update]`` table, with a ``kind`` key.

    Returns
    -------
    UpdateRule
        The rule of that kind.
    """
    kind = data.get("kind")
    if kind not in UPDATE_RULES:
        raise invalid("update", "kind", "one of " + ", ".join(repr(k) for k in UPDATE_RULES), kind)
    return UPDATE_RULES[kind].from_dict(data)
