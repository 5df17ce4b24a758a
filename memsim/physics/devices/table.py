"""``table``: a device given by its measured pulse response (mean step and spread at sampled states)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...params import check_float, invalid
from .base import PulsedDevice
from .formula import compile_formula
from .registry import register

__all__ = ["TableDevice", "load_table_csv", "EXAMPLE_TABLE"]

#: A synthetic example table shipped with memsim (see its header for how it was made).
EXAMPLE_TABLE = Path(__file__).resolve().parents[2] / "data" / "measured" / "example_reram.csv"
COLUMNS = ("state", "up_mean", "up_std", "down_mean", "down_std")


def _chain(states: tuple[float, ...], values: tuple[float, ...]) -> str:
    """``np.interp`` (constant beyond the ends) as nested conditional expressions with exact constants."""
    k = len(states)
    expr = repr(float(values[-1]))
    for i in range(k - 2, -1, -1):
        slope = (values[i + 1] - values[i]) / (states[i + 1] - states[i])
        expr = (f"({values[i]!r} + (w - {states[i]!r}) * {slope!r} if w < {states[i + 1]!r} else {expr})")
    return f"({values[0]!r} if w <= {states[0]!r} else {expr})"


@register
@dataclass(frozen=True)
class TableDevice(PulsedDevice):
    r"""A measured device: mean up/down step and its spread at sampled states, interpolated linearly.

    With :math:`\mu_\pm(w)` and :math:`s_\pm(w)` the piecewise-linear interpolants of the table
    (constant beyond its ends), one pulse is

    .. math:: w \leftarrow w \pm \frac{\Delta w_{\min,\rm cell}}{\Delta w_{\min}}\,(1 \pm \beta)\,\mu_\pm(w)\,
              \big(1 + \sigma\, r_\pm(w)\, \xi\big), \qquad r_\pm = s_\pm / \mu_\pm

    (multiplicative mode), so with ``dw_min_std = sigma = 1`` (the default here) the cycle-to-cycle
    spread is the measured one at every state. ``dw_min`` is the nominal step the pulse-count rule
    assumes; by default the mean of the up and down steps at ``w = 0`` (or the table's midpoint when 0
    is outside it). ``w_min``/``w_max`` default to the table's first and last state. The formulas are
    generated from the table (exact float constants), so every backend runs the same arithmetic.

    Parameters
    ----------
    states : sequence of float
        Sampled states, strictly increasing (at least 2).
    up_mean : sequence of float
        Mean weight increase of one up pulse at each state; >= 0.
    down_mean : sequence of float
        Mean weight decrease (magnitude) of one down pulse at each state; >= 0.
    up_std : sequence of float or None
        Standard deviation of the up step at each state; ``None``: 30 % of the mean.
    down_std : sequence of float or None
        Standard deviation of the down step at each state; ``None``: 30 % of the mean.
    dw_min : float or None
        Nominal step the pulse-count rule assumes; ``None``: the mean of the up and down steps at ``w = 0``
        (or at the table's midpoint when 0 is outside it).
    w_max : float or None
        Upper weight bound; ``None``: the last state.
    w_min : float or None
        Lower weight bound; ``None``: the first state.
    dw_min_std : float
        Cycle-to-cycle noise scale :math:`\sigma`; 1 reproduces the measured spread.
    **common
        Any other parameter of :class:`~memsim.physics.devices.base.PulsedDevice` (``up_down``, ``c2c_mode``,
        the ``*_dtod`` spreads, ``stuck_prob``, ``stuck_at``).
    """

    states: tuple[float, ...] = (-1.0, 0.0, 1.0)
    """Sampled states, strictly increasing (at least 2)."""
    up_mean: tuple[float, ...] = (0.002, 0.001, 0.0002)
    """Mean weight increase of one up pulse at each state; >= 0."""
    up_std: tuple[float, ...] = (0.0006, 0.0003, 0.00006)
    """Standard deviation of the up step at each state (default: 30 % of the mean); >= 0."""
    down_mean: tuple[float, ...] = (0.0002, 0.001, 0.002)
    """Mean weight decrease (magnitude) of one down pulse at each state; >= 0."""
    down_std: tuple[float, ...] = (0.00006, 0.0003, 0.0006)
    """Standard deviation of the down step at each state (default: 30 % of the mean); >= 0."""

    kind = "table"
    FORMULAS: ClassVar[tuple[str, ...]] = ("mean_step", "step_spread")

    def __init__(self, *, states=(-1.0, 0.0, 1.0), up_mean=(0.002, 0.001, 0.0002),
                 down_mean=(0.0002, 0.001, 0.002), up_std=None, down_std=None, dw_min=None, w_max=None,
                 w_min=None, dw_min_std=1.0, **common: Any):
        """Build from the table columns (defaults: a small soft-bounds-like three-point table)."""
        owner = "TableDevice"
        table = {"states": states, "up_mean": up_mean, "down_mean": down_mean,
                 "up_std": up_std if up_std is not None else [0.3 * m for m in up_mean],
                 "down_std": down_std if down_std is not None else [0.3 * m for m in down_mean]}
        for name, values in table.items():
            if not isinstance(values, (list, tuple, np.ndarray)) or len(values) != len(states) or len(states) < 2:
                raise invalid(owner, name, "a list of as many floats as 'states' (at least 2)", values)
            lo = -math.inf if name == "states" else 0.0
            table[name] = tuple(check_float(owner, name, v, lo) for v in values)
        if any(b <= a for a, b in zip(table["states"], table["states"][1:])):
            raise invalid(owner, "states", "strictly increasing floats", list(table["states"]))
        for name, value in table.items():
            object.__setattr__(self, name, value)
        s = table["states"]
        w_max = s[-1] if w_max is None else w_max
        w_min = s[0] if w_min is None else w_min
        if dw_min is None:
            at = 0.0 if s[0] <= 0.0 <= s[-1] else 0.5 * (s[0] + s[-1])
            dw_min = 0.5 * (np.interp(at, s, table["up_mean"]) + np.interp(at, s, table["down_mean"]))
            if dw_min <= 0:
                raise invalid(owner, "dw_min", "given explicitly: the table's steps at w = 0 are zero", None)
        super().__init__(dw_min=float(dw_min), w_max=w_max, w_min=w_min, dw_min_std=dw_min_std, **common)

    def _validate(self) -> None:
        ratio = lambda std, mean: tuple((sd / m if m > 0 else 0.0) for sd, m in zip(std, mean))  # noqa: E731
        dw0 = repr(float(self.dw_min))
        args = "w, up, dw_min, w_min, w_max"
        mean_src = (f"def mean_step({args}):\n"
                    f"    scale = dw_min / {dw0}\n"
                    f"    return scale * ({_chain(self.states, self.up_mean)} if up else "
                    f"{_chain(self.states, self.down_mean)})\n")
        spread_src = (f"def step_spread({args}):\n"
                      f"    return {_chain(self.states, ratio(self.up_std, self.up_mean))} if up else "
                      f"{_chain(self.states, ratio(self.down_std, self.down_mean))}\n")
        object.__setattr__(self, "_sources", {"mean_step": mean_src, "step_spread": spread_src})
        object.__setattr__(self, "mean_step", compile_formula(mean_src))
        object.__setattr__(self, "step_spread", compile_formula(spread_src))

    # class-level placeholders (valid formulas) so the registry can check the class
    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max):  # noqa: D102 - replaced per instance
        return dw_min

    @staticmethod
    def step_spread(w, up, dw_min, w_min, w_max):  # noqa: D102 - replaced per instance
        return 0.0

    def formula_sources(self) -> dict[str, str]:
        """The formulas generated from this table.

        Returns
        -------
        dict of {str: str}
            Formula name (``mean_step``, ``step_spread``) -> source text.
        """
        return dict(self._sources)

    @property
    def has_step_spread(self) -> bool:
        """A table always carries its own spread."""
        return True

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in self.to_dict().items())))

    def to_dict(self) -> dict[str, Any]:
        """All parameters (tables as lists) plus ``kind``.

        Returns
        -------
        dict
            Every parameter (tables as lists) plus ``kind``.
        """
        out = super().to_dict()
        for name in COLUMNS[1:] + ("states",):
            out[name] = list(getattr(self, name))
        out.pop("mean_step", None)
        out.pop("step_spread", None)
        return out

    @classmethod
    def from_csv(cls, path: str | Path, **parameters: Any) -> "TableDevice":
        """Build from a CSV with columns ``state, up_mean, up_std, down_mean, down_std``.

        Parameters
        ----------
        path : str or pathlib.Path
            The CSV file (:func:`load_table_csv`).
        **parameters
            Further keyword arguments of :class:`TableDevice`.
        """
        return cls(**load_table_csv(path), **parameters)

    @classmethod
    def invalid_examples(cls) -> dict[str, list[Any]]:  # the common battery builds from defaults
        return {"dw_min_std": [-0.1], "up_down": [1.0], "c2c_mode": ["gaussian"], "stuck_prob": [2.0]}


def load_table_csv(path: str | Path) -> dict[str, list[float]]:
    """Read a measured pulse-response table (lines starting with '#' are comments).

    Returns the keyword arguments of :class:`TableDevice`: ``states``, ``up_mean``, ``up_std``,
    ``down_mean``, ``down_std``, sorted by state.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file, with columns ``state, up_mean, up_std, down_mean, down_std``.

    Returns
    -------
    dict of {str: list of float}
        The keyword arguments of :class:`TableDevice`: ``states``, ``up_mean``, ``up_std``, ``down_mean``,
        ``down_std``, sorted by state.
    """
    path = Path(path)
    with open(path, newline="") as fh:
        rows = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(rows)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise invalid("load_table_csv", "path", f"a CSV with columns {', '.join(COLUMNS)} (missing: "
                      f"{', '.join(missing)})", str(path))
    data = sorted((tuple(float(r[c]) for c in COLUMNS) for r in reader), key=lambda t: t[0])
    columns = list(zip(*data))
    return {"states": list(columns[0]), "up_mean": list(columns[1]), "up_std": list(columns[2]),
            "down_mean": list(columns[3]), "down_std": list(columns[4])}
