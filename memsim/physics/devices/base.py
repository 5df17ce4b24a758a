"""The pulsed-device pattern: parameters as a frozen dataclass, physics as one small pure formula.

A device model subclasses :class:`PulsedDevice` and provides

* its extra physical parameters as dataclass fields (the common ones are inherited);
* ``cell_parameters``: the ordered names of the per-cell parameters its formula reads;
* ``mean_step(w, up, dw_min, w_min, w_max, *extra)``: the magnitude (>= 0) of the mean step
  of one pulse from state ``w`` before the up/down asymmetry factor, written in the formula
  subset (arithmetic, comparisons, ``a if c else b``, ``min``/``max``/``abs``,
  ``math.exp/log/sqrt/tanh/pow/floor``, local names, one ``return``); the backends compile it inline.

Generic pulse physics (shared by every model, applied by every backend)
------------------------------------------------------------------------
For one pulse in direction ``up`` (potentiation) or down, on a cell with per-cell parameters::

    q      = mean_step(w, up, dw_min, w_min, w_max, ...) * (1 + up_down if up else 1 - up_down)
    "multiplicative":  w <- w + s * q * (1 + dw_min_std * r * xi)      (s = +1 up, -1 down)
    "additive":        w <- w + s * q + dw_min * dw_min_std * r * xi
    "neurosim":        w <- w + s * q;   after the n pulses of one programming event:
                       w <- w + dw_min_std * (w_max - w_min) * sqrt(n) * xi
    w <- min(max(w, w_min), w_max)                                     (after every pulse)

where ``r = step_spread(w, up, ...)`` is 1 except for measured devices, with a fresh
``xi ~ N(0, 1)`` per pulse (per event for ``"neurosim"``) from the Philox stream
``STREAM_C2C``. These equations are written once, as code, in :mod:`memsim.physics.pulse_law`
(``up_down_factor``, ``one_pulse``, ``event_noise``, ``cell_moves``), which every backend runs.

Device-to-device variation (drawn once per cell at tile creation, stream ``STREAM_D2D``)
-----------------------------------------------------------------------------------------
Relative parameters: ``p_cell = p * max(1 + p_dtod * xi, 0)`` (a relative draw can shrink a
parameter to zero but never flip its sign). ``up_down`` is absolute:
``up_down_cell = clip(up_down + up_down_dtod * xi, -1, 1)``. Finally ``w_min_cell`` is capped at
``w_max_cell`` so every cell has a non-empty range.

Stuck-at faults: a cell is stuck with probability ``stuck_prob`` (a Philox uniform of stream
``STREAM_FAULTS``); it stays at ``stuck_at`` whatever pulses it receives.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ... import rng
from ...params import check_choice, check_float, check_keys, invalid
from .formula import formula_source

__all__ = ["PulsedDevice", "C2C_MODES", "C2C_MODE_CODES", "STUCK_AT"]

C2C_MODES = ("multiplicative", "additive", "neurosim")
#: Integer code of each c2c mode that the kernels dispatch on (generated into both kernel
#: templates as ``C2C_<MODE>`` / ``MS_C2C_<MODE>`` by the code generators).
C2C_MODE_CODES = {mode: code for code, mode in enumerate(C2C_MODES)}
STUCK_AT = ("w_min", "w_max", "initial")


@functools.lru_cache(maxsize=None)
def _class_formula_sources(cls) -> tuple[tuple[str, str], ...]:
    """Formula sources of a model class (cached: reading source text is slow)."""
    sources = {"mean_step": formula_source(cls.mean_step)}
    if cls.step_spread is not PulsedDevice.step_spread:
        sources["step_spread"] = formula_source(cls.step_spread)
    else:
        args = ", ".join(("w", "up") + cls.cell_parameters)
        sources["step_spread"] = f"def step_spread({args}):\n    return 1.0\n"
    return tuple(sources.items())


@dataclass(frozen=True)
class PulsedDevice:
    """Common parameters of every pulsed device model (see the module docstring for the physics).

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

    dw_min: float = 0.001
    """Nominal step of one pulse at the reference state, in weight units; in (0, w_max - w_min]."""
    w_max: float = 1.0
    """Upper weight bound (dimensionless device weight)."""
    w_min: float | None = None
    """Lower weight bound; ``None`` means ``-w_max``."""
    up_down: float = 0.0
    """Up/down asymmetry beta: up steps x(1 + beta), down steps x(1 - beta); in (-1, 1)."""
    dw_min_std: float = 0.0
    """Cycle-to-cycle noise sigma (meaning set by ``c2c_mode``); >= 0."""
    c2c_mode: str = "multiplicative"
    """'multiplicative', 'additive' or 'neurosim' (module docstring)."""
    dw_min_dtod: float = 0.0
    """Relative device-to-device spread of ``dw_min``; >= 0."""
    w_max_dtod: float = 0.0
    """Relative device-to-device spread of ``w_max``; >= 0."""
    w_min_dtod: float = 0.0
    """Relative device-to-device spread of ``w_min``; >= 0."""
    up_down_dtod: float = 0.0
    """Absolute device-to-device spread of ``up_down``; >= 0."""
    stuck_prob: float = 0.0
    """Probability that a cell is stuck (drawn once per cell from the seed); in [0, 1]."""
    stuck_at: str = "w_min"
    """Value of a stuck cell: 'w_min', 'w_max' (the cell's own bounds) or 'initial' (its state when
    the tile is created, 0 clipped to the bounds). A stuck cell receives its pulses (they are
    counted) but does not move, and ``Tile.program`` leaves it where it is."""

    kind: ClassVar[str] = ""
    #: Ordered names of the per-cell parameters passed to ``mean_step`` after ``w, up``.
    cell_parameters: ClassVar[tuple[str, ...]] = ("dw_min", "w_min", "w_max")
    #: per-cell parameter -> (dtod field, "relative" | "absolute")
    dtod_parameters: ClassVar[dict[str, tuple[str, str]]] = {
        "dw_min": ("dw_min_dtod", "relative"),
        "w_min": ("w_min_dtod", "relative"),
        "w_max": ("w_max_dtod", "relative"),
        "up_down": ("up_down_dtod", "absolute"),
    }
    #: Whether the model needs w_min < 0 < w_max (state-dependent models divide by the bounds).
    needs_zero_inside: ClassVar[bool] = False

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        owner = type(self).__name__
        w_max = check_float(owner, "w_max", self.w_max, lo=0.0 if self.needs_zero_inside else -math.inf,
                            lo_open=True)
        object.__setattr__(self, "w_max", w_max)
        w_min = -w_max if self.w_min is None else self.w_min
        w_min = check_float(owner, "w_min", w_min, hi=0.0 if self.needs_zero_inside else w_max, hi_open=True)
        object.__setattr__(self, "w_min", w_min)
        object.__setattr__(self, "dw_min", check_float(owner, "dw_min", self.dw_min, 0.0, w_max - w_min,
                                                       lo_open=True))
        object.__setattr__(self, "up_down", check_float(owner, "up_down", self.up_down, -1.0, 1.0,
                                                        lo_open=True, hi_open=True))
        object.__setattr__(self, "dw_min_std", check_float(owner, "dw_min_std", self.dw_min_std, 0.0))
        check_choice(owner, "c2c_mode", self.c2c_mode, C2C_MODES)
        object.__setattr__(self, "stuck_prob", check_float(owner, "stuck_prob", self.stuck_prob, 0.0, 1.0))
        check_choice(owner, "stuck_at", self.stuck_at, STUCK_AT)
        for name, (dtod, _) in self.dtod_parameters.items():
            object.__setattr__(self, dtod, check_float(owner, dtod, getattr(self, dtod), 0.0))
        self._validate()

    def _validate(self) -> None:
        """Model-specific validation (override)."""

    # ------------------------------------------------------------------ the physics
    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max):  # pragma: no cover - abstract
        """Magnitude of the mean step of one pulse (override in a model).

        Parameters
        ----------
        w : float
            The cell's state (weight).
        up : bool
            Whether the pulse is potentiating.
        dw_min : float
            The cell's ``dw_min``.
        w_min : float
            The cell's lower bound.
        w_max : float
            The cell's upper bound.
        """
        raise NotImplementedError

    @staticmethod
    def step_spread(w, up, dw_min, w_min, w_max):
        """Relative cycle-to-cycle spread of a pulse at state ``w`` (multiplies ``dw_min_std``).

        1 for every standard model; a measured (``table``) device returns its interpolated
        ``std / mean`` so the noise follows the measurement.

        Parameters
        ----------
        w : float
            The cell's state (weight).
        up : bool
            Whether the pulse is potentiating.
        dw_min : float
            The cell's ``dw_min``.
        w_min : float
            The cell's lower bound.
        w_max : float
            The cell's upper bound.

        Returns
        -------
        float
            The relative spread :math:`r(w)`.
        """
        return 1.0

    #: Names of the formula functions the backends compile, in this order.
    FORMULAS: ClassVar[tuple[str, ...]] = ("mean_step", "step_spread")

    def formula_sources(self) -> dict[str, str]:
        """Source text of each formula (``FORMULAS``), in the formula subset.

        Taken from the class's static methods (the default ``step_spread``, which returns 1, is
        written out with the model's own arguments); a model whose formulas depend on data (a
        measured table) generates them per instance and overrides this.

        Returns
        -------
        dict of {str: str}
            Formula name -> source text.
        """
        return dict(_class_formula_sources(type(self)))

    @property
    def has_step_spread(self) -> bool:
        """Whether the model's cycle-to-cycle spread depends on the state (``step_spread`` overridden)."""
        return type(self).step_spread is not PulsedDevice.step_spread

    @property
    def c2c_code(self) -> int:
        """Integer code of ``c2c_mode`` used by the kernels (``C2C_MODE_CODES``)."""
        return C2C_MODE_CODES[self.c2c_mode]

    @property
    def all_cell_parameters(self) -> tuple[str, ...]:
        """Rows of the per-cell parameter array: ``cell_parameters + ("up_down", "stuck")``.

        ``stuck`` is 1.0 for a stuck cell and 0.0 otherwise.
        """
        return self.cell_parameters + ("up_down", "stuck")

    def sample_cell_parameters(self, rows: int, cols: int, seed: int, compact: bool = False):
        """Draw the per-cell parameters of a ``rows x cols`` tile (module docstring rules).

        A parameter without device-to-device spread takes its nominal value without a random draw;
        with ``stuck_prob = 0`` no fault is drawn either (no uniform can be below 0, so nothing
        drawn with ``stuck_prob > 0`` or with a spread changes).

        Parameters
        ----------
        rows, cols : int
            Tile shape.
        seed : int
            Run seed (Philox key of the streams ``STREAM_D2D`` and ``STREAM_FAULTS``).
        compact : bool
            Return one array per parameter, of shape ``(1, 1)`` where every cell has the same value
            (no spread of that parameter, no stuck cell) and ``(rows, cols)`` where it varies: what a
            tile holds (``memsim.backends.base.pack_cell_parameters``).

        Returns
        -------
        numpy.ndarray or tuple of numpy.ndarray
            Float64, shape ``(n_parameters, rows, cols)``, whose row ``k`` holds
            ``all_cell_parameters[k]``; with ``compact``, a tuple of the ``n_parameters`` rows, each
            ``(1, 1)`` or ``(rows, cols)``.
        """
        names = self.all_cell_parameters
        cells = None
        drawn = {}
        for k, name in enumerate(names):
            if name == "stuck":
                if self.stuck_prob == 0.0:  # u < 0 never holds: no draw needed
                    continue
                if cells is None:
                    cells = np.arange(rows * cols)
                u = rng.uniforms(seed, 0, rng.STREAM_FAULTS, cells, 0).reshape(rows, cols)
                drawn[name] = (u < self.stuck_prob).astype(np.float64)
                continue
            value = float(getattr(self, name))
            dtod_name, how = self.dtod_parameters.get(name, (None, None))
            spread = float(getattr(self, dtod_name)) if dtod_name else 0.0
            if spread == 0.0:
                continue
            if cells is None:
                cells = np.arange(rows * cols)
            xi = rng.normals(seed, k, rng.STREAM_D2D, cells, 0).reshape(rows, cols)
            if how == "absolute":
                lo, hi = self._absolute_range(name)
                drawn[name] = np.clip(value + spread * xi, lo, hi)
            else:
                drawn[name] = value * np.maximum(1.0 + spread * xi, 0.0)
        out = [drawn[name] if name in drawn else np.full((1, 1), 0.0 if name == "stuck" else float(getattr(self, name)))
               for name in names]
        i_min, i_max = names.index("w_min"), names.index("w_max")
        out[i_min] = np.minimum(out[i_min], out[i_max])  # (1, 1) unless either bound varies
        if not compact:
            return np.array([np.broadcast_to(a, (rows, cols)) for a in out], dtype=np.float64)
        # drawn, but every cell came out the same (e.g. no fault drawn): held once
        return tuple(np.ascontiguousarray(a[:1, :1]) if a.size > 1 and np.all(a == a.flat[0]) else a for a in out)

    @staticmethod
    def _absolute_range(name: str) -> tuple[float, float]:
        if name == "up_down":
            return -1.0, 1.0
        raise KeyError(name)  # pragma: no cover

    # ------------------------------------------------------------------ analysis helpers
    def _cell_args(self) -> tuple[float, ...]:
        return tuple(float(getattr(self, n)) for n in self.cell_parameters)

    def step_up(self, w):
        """Mean potentiation step ``q_+(w) * dw`` of one pulse (including ``1 + up_down``), nominal cell.

        Parameters
        ----------
        w : float or array_like
            Weights.

        Returns
        -------
        float or numpy.ndarray
            The mean up step, shaped like ``w``.
        """
        f = np.vectorize(lambda v: self.mean_step(float(v), 1, *self._cell_args()), otypes=[np.float64])
        return (1.0 + self.up_down) * f(w)

    def step_down(self, w):
        """Mean depression step magnitude (including ``1 - up_down``) of one pulse, nominal cell.

        Parameters
        ----------
        w : float or array_like
            Weights.

        Returns
        -------
        float or numpy.ndarray
            The mean down step magnitude, shaped like ``w``.
        """
        f = np.vectorize(lambda v: self.mean_step(float(v), 0, *self._cell_args()), otypes=[np.float64])
        return (1.0 - self.up_down) * f(w)

    def asymmetry_function(self, w):
        """``F(w) = (q_-(w) - q_+(w)) / (q_+(w) + q_-(w))``, vectorised.

        See docs/theory.md, section '2.0 The drift formula'.

        Returns NaN where both steps vanish.

        Parameters
        ----------
        w : float or array_like
            Weights (device coordinates).

        Returns
        -------
        float or numpy.ndarray
            :math:`F(w)`, shaped like ``w``.
        """
        up, down = self.step_up(w), self.step_down(w)
        total = up + down
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (down - up) / np.where(total > 0, total, 1.0), np.nan)

    def symmetry_point(self) -> float:
        """The weight ``w_s`` where ``F(w_s) = 0`` (up and down steps equal); NaN if there is none.

        Generic numerical version (bisection on ``F`` over the bounds); models override with a
        closed form where one exists.

        Returns
        -------
        float
            The symmetry point :math:`w_s` (NaN if there is none).
        """
        from scipy.optimize import brentq

        lo, hi = float(self.w_min), float(self.w_max)
        eps = 1e-9 * (hi - lo)
        f_lo, f_hi = float(self.asymmetry_function(lo + eps)), float(self.asymmetry_function(hi - eps))
        if not (np.isfinite(f_lo) and np.isfinite(f_hi)) or f_lo * f_hi > 0 or (f_lo == 0 and f_hi == 0):
            return math.nan
        return float(brentq(lambda v: float(self.asymmetry_function(v)), lo + eps, hi - eps, xtol=1e-14))

    def cell_symmetry_points(self, cell_params: dict[str, np.ndarray]) -> np.ndarray:
        """Symmetry point of every cell from its own parameters (after device-to-device variation).

        Cells with identical parameters are evaluated once. A cell without a symmetry point, or
        whose drawn parameters a nominal device would reject (e.g. a step floored at 0), gets the
        nominal one (or 0 if that is undefined too).

        Parameters
        ----------
        cell_params : dict of {str: numpy.ndarray}
            Per-cell parameters by name (``Tile.cell_parameters``); arrays that broadcast together (a
            tile's compact ``(1, 1)`` parameters beside per-cell ones).

        Returns
        -------
        numpy.ndarray
            The symmetry point of every cell, in the broadcast shape (NaN where there is none).
        """
        names = self.cell_parameters + ("up_down",)
        fields = {f.name for f in dataclasses.fields(self)}
        # a compact (1, 1) parameter beside per-cell ones: broadcast
        arrays = np.broadcast_arrays(*(np.asarray(cell_params[n], dtype=np.float64) for n in names))
        shape = arrays[0].shape
        table = np.stack([np.ravel(a) for a in arrays], axis=1)
        unique, inverse = np.unique(table, axis=0, return_inverse=True)
        nominal = self.symmetry_point()
        nominal = nominal if np.isfinite(nominal) else 0.0
        no_spread = {dtod: 0.0 for dtod, _ in self.dtod_parameters.values()}
        values = np.empty(len(unique))
        for k, row in enumerate(unique):
            try:
                cell = {n: float(v) for n, v in zip(names, row) if n in fields}  # derived values are not fields
                ws = dataclasses.replace(self, **no_spread, **cell).symmetry_point()
            except (ValueError, TypeError):
                ws = nominal
            values[k] = ws if np.isfinite(ws) else nominal
        return values[np.ravel(inverse)].reshape(shape)

    def asymmetry_slope(self, w: float | None = None) -> float:
        """``F'(w)`` by a central difference (default at the symmetry point); NaN if undefined.

        ``lambda_eff = E|g| * F'(w_s)`` (docs/theory.md, section '2.0 The drift formula').

        Parameters
        ----------
        w : float or None
            Where to evaluate the slope; ``None``: at the symmetry point.

        Returns
        -------
        float
            :math:`F'(w)` (NaN if undefined).
        """
        w = self.symmetry_point() if w is None else float(w)
        if not np.isfinite(w):
            return math.nan
        h = 1e-5 * (self.w_max - self.w_min)
        return float((self.asymmetry_function(w + h) - self.asymmetry_function(w - h)) / (2 * h))

    # ------------------------------------------------------------------ config round trip
    def to_dict(self) -> dict[str, Any]:
        """All parameters (resolved) plus ``kind``.

        Returns
        -------
        dict
            Every parameter (resolved) plus ``kind``.
        """
        out = {"kind": self.kind}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PulsedDevice":
        """Build from ``to_dict`` output; unknown keys raise ``ConfigError`` naming the key.

        Parameters
        ----------
        data : dict
            The ``[device]`` table (``kind`` is ignored here).
        """
        data = dict(data)
        kind = data.pop("kind", cls.kind)
        if kind != cls.kind:
            raise invalid(cls.__name__, "kind", repr(cls.kind), kind)
        check_keys(cls.__name__, data, (f.name for f in dataclasses.fields(cls)))
        return cls(**data)

    @classmethod
    def invalid_examples(cls) -> dict[str, list[Any]]:
        """Parameter -> values that must be rejected (used by ``memsim.testing.check_device_model``)."""
        return {
            "dw_min": [0.0, -0.1, float("nan"), 10.0],
            "w_max": [float("inf"), "1"],
            "up_down": [1.0, -1.5],
            "dw_min_std": [-0.1],
            "c2c_mode": ["gaussian"],
            "dw_min_dtod": [-1.0],
            "w_max_dtod": [-0.5],
            "w_min_dtod": [-0.5],
            "up_down_dtod": [-0.2],
            "stuck_prob": [1.5, -0.1],
            "stuck_at": ["middle"],
        }
