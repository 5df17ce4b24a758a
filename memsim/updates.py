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
write, and the cap keeps extreme inputs from running unbounded loops.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from .params import check_int, invalid

__all__ = ["UpdateRule", "StochasticRounding", "Deterministic", "UPDATE_RULES", "update_from_dict"]


@dataclass(frozen=True)
class UpdateRule:
    """Base class of the pulse-count rules (see the module docstring)."""

    max_pulses: int = 65535
    """Largest number of pulses of one programming event; in [1, 2**31 - 1]."""

    kind: ClassVar[str] = ""
    code: ClassVar[int] = -1  #: integer the kernels dispatch on

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_pulses", check_int(type(self).__name__, "max_pulses",
                                                         self.max_pulses, 1, 2 ** 31 - 1))

    def to_dict(self) -> dict[str, Any]:
        """All parameters plus ``kind``."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UpdateRule":
        """Build from a config table; unknown keys raise naming the key."""
        data = {k: v for k, v in data.items() if k != "kind"}
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise invalid(cls.__name__, key, "absent (unknown key; allowed keys: "
                              + ", ".join(sorted(names)) + ")", data[key])
        return cls(**data)


@dataclass(frozen=True)
class StochasticRounding(UpdateRule):
    """``n = floor(|Delta|/dw_min)`` plus one with probability equal to the remainder."""

    kind: ClassVar[str] = "stochastic_rounding"
    code: ClassVar[int] = 0


@dataclass(frozen=True)
class Deterministic(UpdateRule):
    """NeuroSim's rule: ``n = round(|Delta|/dw_min)``, halves rounded away from zero."""

    kind: ClassVar[str] = "deterministic"
    code: ClassVar[int] = 1


UPDATE_RULES: dict[str, type[UpdateRule]] = {c.kind: c for c in (StochasticRounding, Deterministic)}


def update_from_dict(data: dict[str, Any]) -> UpdateRule:
    """Build an update rule from a config table with a ``kind`` key."""
    kind = data.get("kind")
    if kind not in UPDATE_RULES:
        raise invalid("update", "kind", "one of " + ", ".join(repr(k) for k in UPDATE_RULES), kind)
    return UPDATE_RULES[kind].from_dict(data)
