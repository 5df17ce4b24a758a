"""``exp_step``: NeuroSim's exponential LTP/LTD device, labels or normalised A.

See docs/theory.md, section '2b. NeuroSim's exponential device'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...params import check_float, invalid
from .base import PulsedDevice
from .neurosim import MAX_LABEL, label_from_norm_a, norm_a_from_label
from .registry import register

__all__ = ["ExpStep"]

#: Largest allowed per-pulse exponent ``1 / (|norm_a| * states)``: one pulse may change the step by
#: at most ``e**50``. The formula clamps at this value so it never overflows.
MAX_PULSE_EXPONENT = 50.0
#: ``|1/norm_a|`` below this is a linear branch (the exact curve differs from a line by < 1e-12).
LINEAR_CURVATURE = 1e-12
_DEFAULT_STATES = 100.0
_DEFAULT_LABELS = (1.0, -1.0)


@register
@dataclass(frozen=True)
class ExpStep(PulsedDevice):
    r"""NeuroSim's exponential device: separate LTP and LTD branches of one curve ``G(x)``.

    The normalised conductance ``G = (w - w_min) / (w_max - w_min)`` in ``[0, 1]`` (``w_min``,
    ``w_max``: the weights of ``Gmin``, ``Gmax``; DESIGN "Definitions") follows, in the pulse
    coordinate ``x`` of each branch,

    .. math::
        G(x) = B\,(1 - e^{-x/A}), \qquad B = \frac{1}{1 - e^{-P/A}} = \frac{1}{1 - e^{-1/a}},
        \qquad A = a P,

    with ``P`` = ``states_ltp`` (``states_ltd``) pulses from ``Gmin`` to ``Gmax`` (``Gmax`` to
    ``Gmin``) and ``a`` the signed normalised A of the branch (``norm_a_*``, or from NeuroSim's
    nonlinearity label ``nl_*`` by :func:`~memsim.physics.devices.neurosim.norm_a_from_label`). LTP moves
    ``x -> x + 1``, LTD ``x -> x - 1`` on its own branch. Since ``G(x \pm 1) - B = (G - B) e^{\mp 1/A}``,
    one pulse from state ``G`` is exactly (both label signs, ``s = +1`` up, ``-1`` down)

    .. math::
        \Delta G = \big(1 - e^{-s/A}\big)\,(B - G):\qquad
        \Delta G_\uparrow = (1 - e^{-1/A_p})(B_p - G),\quad
        \Delta G_\downarrow = -(e^{1/A_d} - 1)(B_d - G).

    * ``nl > 0`` (``A > 0``, ``B > 1``): the branch is concave; LTP steps are largest at ``Gmin``
      and shrink towards the virtual bound ``B_p`` above ``Gmax``; a *positive LTD label* (GST PCM
      2.4, HZO FeFET 1.46) gives LTD steps that grow towards ``Gmin``.
    * ``nl < 0`` (``A < 0``, ``B < 0``): the curve turned 180 degrees about the centre; the usual LTD
      shape ``\Delta G_\downarrow = -(1 - e^{-1/|A_d|})(G - B_d)``: large steps near ``Gmax``,
      vanishing towards ``B_d < 0``. An LTP branch with a negative label steps hardest near ``Gmax``.
    * ``nl = 0``: a linear branch, ``|\Delta G| = 1/P`` (the limit ``a -> inf``).

    Either way each step is linear in ``G``: the device is a soft-bounds device whose virtual bounds
    lie outside the clipping range (docs/theory.md, section '2b. NeuroSim's exponential
    device'). In weight units the mean step of one pulse (before
    the generic ``1 +- up_down``, noise and clipping of :mod:`memsim.physics.devices.base`) is

    .. math::  |\Delta w| = \Delta w_{\min}\, P_{\rm ltp}\, |\Delta G|,

    which is ``(w_max - w_min) |\Delta G|`` for the nominal cell, because **the nominal step is not
    free**: NeuroSim converts a request ``\Delta`` into ``n = round(P \Delta / (w_max - w_min))``
    pulses as if the device were linear, so ``dw_min = (w_max - w_min) / states_ltp``.
    ``dw_min`` and ``states_ltp`` are one parameter: give either (or both, consistent to 1e-9).
    A cell's ``dw_min_dtod`` draw rescales its steps; ``w_max_dtod``/``w_min_dtod`` move its
    ``Gmin``/``Gmax`` (its ``G`` is normalised to its own range).

    Symmetric labels (``nl_ltd = -nl_ltp``, equal states, ``up_down = 0``): ``F(w) = (w - w_c) /
    w_inf`` exactly, ``w_c`` the centre of the range and :attr:`w_inf` ``= (w_max - w_min)/2 *
    coth(1/(2a))``; otherwise ``F`` is a ratio of two linear functions with the closed-form
    :meth:`symmetry_point` of docs/theory.md, section '2b. NeuroSim's exponential device'.

    Differences from NeuroSim, stated:

    * NeuroSim programs LTD requests with ``round(P_ltd |\Delta| / range)`` pulses; memsim's
      pulse-count rules use the one nominal ``dw_min = range / P_ltp`` for both directions. With
      ``states_ltd != states_ltp`` an LTD request therefore moves the state by ``P_ltp / P_ltd`` of
      what NeuroSim would (Ag:a-Si 97/100: 0.97; GST PCM 100/120: 0.83). :attr:`dw_min_ltd` holds
      NeuroSim's LTD quantum for an update rule that supports a per-direction step.
    * Labels are converted exactly (:mod:`memsim.physics.devices.neurosim`), not by NeuroSim's
      truncating table lookup; ``nl = 0`` is exactly linear.
    * NeuroSim's device-to-device variation of the label (``sigmaDtoD``) is not modelled.

    Parameters
    ----------
    dw_min : float or None
        Nominal step, weight units. Derived: ``(w_max - w_min) / states_ltp``; giving it instead of
        ``states_ltp`` sets ``states_ltp = (w_max - w_min) / dw_min``.
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
    states_ltp : float or None
        Pulses from ``Gmin`` to ``Gmax`` (NeuroSim ``maxNumLevelLTP``); >= 2, need not be an integer. Default
        100 (or from ``dw_min``).
    states_ltd : float or None
        Pulses from ``Gmax`` to ``Gmin`` (``maxNumLevelLTD``); >= 2. Default: ``states_ltp``.
    nl_ltp : float or None
        NeuroSim nonlinearity label of the LTP branch, sign included; ``|nl| < 10.1015``; 0 = linear. Give
        ``nl_ltp``/``nl_ltd`` or ``norm_a_ltp``/``norm_a_ltd``, not both pairs; neither gives ``(1, -1)``.
    nl_ltd : float or None
        Label of the LTD branch (usually negative). Default ``-nl_ltp`` if only ``nl_ltp`` is given.
    norm_a_ltp : float or None
        Signed normalised A (``A / states_ltp``) of the LTP branch, instead of a label; non-zero.
    norm_a_ltd : float or None
        Signed normalised A of the LTD branch. Default ``-norm_a_ltp`` if only ``norm_a_ltp`` is given.
    """

    dw_min: float | None = None
    """Nominal step, weight units. Derived: ``(w_max - w_min) / states_ltp``; giving it instead of
    ``states_ltp`` sets ``states_ltp = (w_max - w_min) / dw_min``."""
    states_ltp: float | None = None
    """Pulses from ``Gmin`` to ``Gmax`` (NeuroSim ``maxNumLevelLTP``); >= 2, need not be an integer.
    Default 100 (or from ``dw_min``)."""
    states_ltd: float | None = None
    """Pulses from ``Gmax`` to ``Gmin`` (``maxNumLevelLTD``); >= 2. Default: ``states_ltp``."""
    nl_ltp: float | None = None
    """NeuroSim nonlinearity label of the LTP branch, sign included; ``|nl| < 10.1015``; 0 = linear.
    Give ``nl_ltp``/``nl_ltd`` or ``norm_a_ltp``/``norm_a_ltd``, not both pairs; neither gives
    ``(1, -1)``."""
    nl_ltd: float | None = None
    """Label of the LTD branch (usually negative). Default ``-nl_ltp`` if only ``nl_ltp`` is given."""
    norm_a_ltp: float | None = None
    """Signed normalised A (``A / states_ltp``) of the LTP branch, instead of a label; non-zero."""
    norm_a_ltd: float | None = None
    """Signed normalised A of the LTD branch. Default ``-norm_a_ltp`` if only ``norm_a_ltp`` is given."""

    kind = "exp_step"
    cell_parameters: ClassVar[tuple[str, ...]] = ("dw_min", "w_min", "w_max", "states_ltp", "states_ltd",
                                                  "curvature_ltp", "curvature_ltd")

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        owner = type(self).__name__
        # dw_min is derived from the range and states_ltp: resolve it before the common checks.
        w_max = check_float(owner, "w_max", self.w_max)
        w_min = -w_max if self.w_min is None else check_float(owner, "w_min", self.w_min, hi=w_max, hi_open=True)
        span = w_max - w_min
        states = self.states_ltp
        if states is not None:
            states = check_float(owner, "states_ltp", states, 2.0)
        if self.dw_min is None:
            states = _DEFAULT_STATES if states is None else states
            dw_min = span / states
        else:
            dw_min = check_float(owner, "dw_min", self.dw_min, 0.0, span / 2.0, lo_open=True)
            if states is None:
                states = span / dw_min
            elif not math.isclose(dw_min, span / states, rel_tol=1e-9):
                raise invalid(owner, "dw_min", f"(w_max - w_min) / states_ltp = {span / states!r} (it is "
                              "derived from states_ltp for this model: give one of them)", self.dw_min)
        object.__setattr__(self, "dw_min", dw_min)
        object.__setattr__(self, "states_ltp", states)
        super().__post_init__()

    def _validate(self) -> None:
        owner = type(self).__name__
        states_ltd = self.states_ltp if self.states_ltd is None else check_float(owner, "states_ltd",
                                                                                  self.states_ltd, 2.0)
        object.__setattr__(self, "states_ltd", states_ltd)
        labels = (self.nl_ltp, self.nl_ltd)
        norms = (self.norm_a_ltp, self.norm_a_ltd)
        label_range = f"a float in ({-MAX_LABEL:.6g}, {MAX_LABEL:.6g}) (0 = linear)"
        for name, value in zip(("nl_ltp", "nl_ltd"), labels):
            if value is not None:
                v = check_float(owner, name, value)
                if abs(v) >= MAX_LABEL:
                    raise invalid(owner, name, label_range, value)
                object.__setattr__(self, name, v)
        for name, value in zip(("norm_a_ltp", "norm_a_ltd"), norms):
            if value is not None:
                v = check_float(owner, name, value)
                if v == 0.0:
                    raise invalid(owner, name, "a non-zero finite float (use nl_* = 0 for a linear branch)", value)
                object.__setattr__(self, name, v)
        if any(v is not None for v in labels) and any(v is not None for v in norms):
            name = "norm_a_ltp" if self.norm_a_ltp is not None else "norm_a_ltd"
            raise invalid(owner, name, "None when nl_ltp/nl_ltd are given (give one pair: labels or norm_a)",
                          getattr(self, name))
        if all(v is None for v in norms):
            first, second = ("nl_ltp", "nl_ltd")
            if all(v is None for v in labels):
                object.__setattr__(self, first, _DEFAULT_LABELS[0])
                object.__setattr__(self, second, _DEFAULT_LABELS[1])
        else:
            first, second = ("norm_a_ltp", "norm_a_ltd")
        if getattr(self, first) is None:
            object.__setattr__(self, first, -getattr(self, second))
        elif getattr(self, second) is None:
            object.__setattr__(self, second, -getattr(self, first))
        for name, curvature, states in ((first, self.curvature_ltp, self.states_ltp),
                                        (second, self.curvature_ltd, states_ltd)):
            if abs(curvature) / states > MAX_PULSE_EXPONENT:
                raise invalid(owner, name, f"such that 1/(|norm_a| * states) <= {MAX_PULSE_EXPONENT:g} (one pulse "
                              f"would change the step by e**{abs(curvature) / states:.3g}; use more states or a "
                              "smaller label)", getattr(self, name))

    # ------------------------------------------------------------------ derived parameters
    @property
    def norm_a(self) -> tuple[float, float]:
        """Signed normalised A of the (LTP, LTD) branches; ``inf`` for a linear branch."""
        if self.norm_a_ltp is not None:
            return (self.norm_a_ltp, self.norm_a_ltd)
        return (norm_a_from_label(self.nl_ltp), norm_a_from_label(self.nl_ltd))

    @property
    def nl(self) -> tuple[float, float]:
        """NeuroSim labels of the (LTP, LTD) branches (given, or computed from ``norm_a``)."""
        if self.nl_ltp is not None:
            return (self.nl_ltp, self.nl_ltd)
        return (label_from_norm_a(self.norm_a_ltp), label_from_norm_a(self.norm_a_ltd))

    @property
    def curvature_ltp(self) -> float:
        """``1 / norm_a`` of the LTP branch (0 for a linear branch): the per-cell formula parameter."""
        return _curvature(self.norm_a[0])

    @property
    def curvature_ltd(self) -> float:
        """``1 / norm_a`` of the LTD branch (0 for a linear branch)."""
        return _curvature(self.norm_a[1])

    @property
    def dw_min_ltd(self) -> float:
        """NeuroSim's LTD pulse quantum ``(w_max - w_min) / states_ltd`` (the rules use ``dw_min``)."""
        return (self.w_max - self.w_min) / self.states_ltd

    @property
    def virtual_bounds(self) -> tuple[float, float]:
        """Weights ``w_min + (w_max - w_min) B`` where the LTP and the LTD step would vanish.

        ``(inf, -inf)``-like values (``+-inf``) for linear branches. For negative LTD / positive LTP
        labels these are the ``w_inf^+ > w_max`` and ``w_inf^- < w_min`` of docs/theory.md, section
        '2b. NeuroSim's exponential device'.
        """
        span = self.w_max - self.w_min
        out = []
        for c, sign in ((self.curvature_ltp, 1.0), (self.curvature_ltd, -1.0)):
            out.append(sign * math.inf if c == 0.0 else self.w_min + span * _bound(c))
        return tuple(out)

    @property
    def w_inf(self) -> float:
        """Symmetric device: distance from the centre of the range to the virtual bounds.

        See docs/theory.md, section '2b. NeuroSim's exponential device'.

        ``(w_max - w_min)/2 * coth(1 / (2 |a|))``, so ``F(w) = (w - w_c)/w_inf`` with ``w_c`` the centre
        (``w_inf`` = 2.635, 1.480, 1.037 for labels 1, 2, 4.22 and ``w = +-1``); ``inf`` for a linear
        device. NaN unless ``nl_ltd = -nl_ltp``, ``states_ltd = states_ltp`` and ``up_down = 0``.
        """
        c_p, c_d = self.curvature_ltp, self.curvature_ltd
        if c_p != -c_d or self.states_ltp != self.states_ltd or self.up_down != 0.0:
            return math.nan
        if c_p == 0.0:
            return math.inf
        return 0.5 * (self.w_max - self.w_min) / math.tanh(0.5 * abs(c_p))

    # ------------------------------------------------------------------ the physics
    @staticmethod
    def mean_step(w, up, dw_min, w_min, w_max, states_ltp, states_ltd, curvature_ltp, curvature_ltd):
        span = w_max - w_min
        g = (w - w_min) / span if span > 0.0 else 0.0
        c = curvature_ltp if up else curvature_ltd
        p = states_ltp if up else states_ltd
        k = (c if up else -c) / p if p > 0.0 else 0.0  # this pulse moves x by +-1: exponent s / A
        k = min(max(k, -50.0), 50.0)  # MAX_PULSE_EXPONENT; validation keeps parameters inside it
        t = math.tanh(0.5 * k)
        em = 2.0 * t / (1.0 + t) if abs(k) < 0.5 else 1.0 - math.exp(-k)  # 1 - exp(-k), no cancellation
        tc = math.tanh(0.5 * c)
        b = (1.0 + tc) / (2.0 * tc) if tc != 0.0 else 0.0  # B = 1 / (1 - exp(-c))
        dg = em * (b - g) if abs(c) >= 1e-12 else (1.0 / p if p > 0.0 else 0.0) * (1.0 if up else -1.0)
        return dw_min * states_ltp * max(dg if up else -dg, 0.0)

    # ------------------------------------------------------------------ closed forms (nominal cell)
    def _lines(self) -> tuple[float, float, float, float]:
        """Mean steps per nominal ``dw_min`` (with ``1 +- up_down``) as lines in ``G``:
        ``q_+ = u_p + v_p G``, ``q_- = u_d + v_d G``."""
        out = []
        for c, p, s, scale in ((self.curvature_ltp, self.states_ltp, 1.0, 1.0 + self.up_down),
                               (self.curvature_ltd, self.states_ltd, -1.0, 1.0 - self.up_down)):
            if abs(c) < LINEAR_CURVATURE:
                u, v = 1.0 / p, 0.0
            else:
                em = -math.expm1(-s * c / p)      # 1 - exp(-s/A)
                b = _bound(c)
                u, v = s * em * b, -s * em         # |dG| = s * em * (B - G)
            out += [scale * self.states_ltp * u, scale * self.states_ltp * v]
        return tuple(out)

    def asymmetry_function(self, w):
        """Closed form ``F = (q_- - q_+)/(q_+ + q_-)`` with ``q_+-`` linear in ``G``, vectorised.

        See docs/theory.md, section '2b. NeuroSim's exponential device'.

        Parameters
        ----------
        w : float or array_like
            Weights (device coordinates).

        Returns
        -------
        float or numpy.ndarray
            :math:`F(w)`, shaped like ``w``.
        """
        u_p, v_p, u_d, v_d = self._lines()
        g = (np.asarray(w, dtype=np.float64) - self.w_min) / (self.w_max - self.w_min)
        q_up = np.maximum(u_p + v_p * g, 0.0)
        q_down = np.maximum(u_d + v_d * g, 0.0)
        total = q_up + q_down
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (q_down - q_up) / np.where(total > 0, total, 1.0), np.nan)

    def symmetry_point(self) -> float:
        """Closed form: where the two step lines cross, ``G_s = (u_p - u_d)/(v_d - v_p)``, as a weight.

        For a negative LTD and a positive LTP label this is the closed form of docs/theory.md, section
        '2b. NeuroSim's exponential device',
        ``w_s = (alpha_p w_inf^+ + alpha_d w_inf^-)/(alpha_p + alpha_d)``. NaN if the lines do not cross
        inside ``[w_min, w_max]`` (or coincide: ``F = 0`` everywhere).

        Returns
        -------
        float
            The symmetry point :math:`w_s` (NaN if there is none).
        """
        u_p, v_p, u_d, v_d = self._lines()
        if v_d == v_p:
            return math.nan
        g = (u_p - u_d) / (v_d - v_p)
        if not 0.0 <= g <= 1.0:
            return math.nan
        return float(self.w_min + g * (self.w_max - self.w_min))

    def asymmetry_slope(self, w: float | None = None) -> float:
        """``F'(w)`` in closed form (default at the symmetry point); NaN if undefined.

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
        u_p, v_p, u_d, v_d = self._lines()
        span = self.w_max - self.w_min
        g = (w - self.w_min) / span
        diff, total = (u_d - u_p) + (v_d - v_p) * g, (u_p + u_d) + (v_p + v_d) * g
        if total <= 0.0:
            return math.nan
        return float(((v_d - v_p) * total - diff * (v_p + v_d)) / (total * total) / span)

    @classmethod
    def invalid_examples(cls) -> dict[str, list[Any]]:
        return {**super().invalid_examples(), "states_ltp": [1.0, 0.0, float("nan")], "states_ltd": [1.5, "100"],
                "nl_ltp": [10.2, float("inf")], "nl_ltd": [-10.11], "norm_a_ltd": [0.0, float("inf")],
                "norm_a_ltp": [1e-4]}


def _curvature(norm_a: float) -> float:
    return 0.0 if math.isinf(norm_a) else 1.0 / norm_a


def _bound(c: float) -> float:
    """``B = 1 / (1 - exp(-c))`` for ``c != 0`` (either sign), without overflow."""
    return -1.0 / math.expm1(-c) if c > 0.0 else -math.exp(c) / -math.expm1(c)
