"""NeuroSim nonlinearity labels: label <-> normalised A = A / Pmax, exactly and by NeuroSim's table.

NeuroSim (MLP+NeuroSim V3.0) describes an analog synapse by a nonlinearity *label* ``NL`` per
direction. Its weight-update curve, in the normalised pulse coordinate ``x = P / Pmax`` with
``a = A / Pmax`` (``norm_a``), is

.. math::  g_a(x) = \\frac{1 - e^{-x/a}}{1 - e^{-1/a}}, \\qquad x, g \\in [0, 1].

The label is the largest vertical distance between this curve and the straight line ``g = x``, in
units of ``0.07 * sqrt(2)`` (0.07 measured perpendicular to the line):

.. math::
    D(a) = \\max_x\\,[g_a(x) - x] = \\frac{1}{1 - e^{-1/a}} - a + a \\ln\\!\\big(a (1 - e^{-1/a})\\big),
    \\qquad |NL| = \\frac{D(a)}{0.07\\sqrt2}.

``D`` falls steadily from 1 (``a -> 0``) to 0 (``a -> inf``; ``D ~ 1/(8a)``), so every label with
``|NL| < 1/(0.07 sqrt 2) = 10.1015`` has exactly one ``a``. The sign is NeuroSim's: ``A = sign(NL) *
a * Pmax``; a negative label gives the curve turned 180 degrees about the centre,
``g_{-a}(x) = 1 - g_a(1 - x)`` (the usual LTD shape).

What memsim uses
----------------
:func:`norm_a_from_label` solves ``D(a) = 0.07 sqrt(2) |NL|`` by bisection (to machine precision):
it reproduces all 900 entries of NeuroSim's table (``formula.cpp``, ``getParamA``; shipped as
``memsim/data/neurosim_nl_to_norm_a.csv``) when rounded to their 6 decimals, and it is defined for
every label, not only multiples of 0.01:

* ``NL = 0`` means a linear device: ``norm_a = inf`` (:class:`~memsim.physics.devices.ExpStep` then
  takes a constant step). NeuroSim instead uses the 0.01 row with a negative sign
  (``A = -126.27 Pmax``), which is linear to 0.1 %.
* ``0 < |NL| < 0.01`` and ``9 < |NL| < 10.1015`` (outside the table) are solved exactly; NeuroSim
  clamps them to the 0.01 and 9.00 rows. ``|NL| >= 10.1015`` has no curve and raises.

:func:`neurosim_table_norm_a` reproduces NeuroSim's own lookup for comparison: row
``trunc(|NL| * 100)`` in double precision (so 53 two-decimal labels such as 0.29, 1.13, 2.01 fall one
row short: ``0.29 * 100 = 28.999999999999996``), no interpolation, clamped to rows 0.01 ... 9.00.

Numeric facts only are taken from NeuroSim (see ``/work/shared/data/README.md`` in the project notes
and the CSV); no NeuroSim code is used.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from importlib import resources

__all__ = ["LABEL_UNIT", "MAX_LABEL", "label_distance", "norm_a_from_label", "label_from_norm_a",
           "neurosim_table", "neurosim_table_norm_a", "TABLE_FILE"]

#: One label unit as a vertical distance between the curve and the line ``g = x``: 0.07 * sqrt(2).
LABEL_UNIT = 0.07 * math.sqrt(2.0)
#: The largest possible label (the curve degenerates to a step as ``a -> 0``): 1 / (0.07 sqrt 2).
MAX_LABEL = 1.0 / LABEL_UNIT
#: NeuroSim's table, shipped with memsim (package data): columns ``nl_label``, ``norm_a``.
TABLE_FILE = "data/neurosim_nl_to_norm_a.csv"


def _distance_of_x(x: float) -> float:
    """``D`` as a function of ``x = 1/a > 0`` (accurate to ~1e-13 relative everywhere)."""
    if x < 0.05:  # series; the direct form loses digits to cancellation (terms ~ 1/x, D ~ x/8)
        x2 = x * x
        return x * (1.0 / 8.0 - x2 * (1.0 / 576.0 - x2 / 25920.0))
    one_minus = -math.expm1(-x)  # 1 - exp(-x)
    return 1.0 / one_minus - 1.0 / x + math.log(one_minus / x) / x


def label_distance(norm_a: float) -> float:
    """``D(|a|)``: the largest vertical distance between ``g_a`` and the line ``g = x`` (0 for ``a = inf``).

    Parameters
    ----------
    norm_a : float
        Normalised :math:`A` (its sign is ignored; ``inf`` for a linear branch).

    Returns
    -------
    float
        :math:`D(|a|)`.
    """
    a = abs(float(norm_a))
    if math.isinf(a):
        return 0.0
    if not a > 0.0:
        raise ValueError(f"norm_a must be non-zero; got {norm_a!r}")
    return _distance_of_x(1.0 / a)


def label_from_norm_a(norm_a: float) -> float:
    """The NeuroSim label of a (signed) normalised ``A``: ``sign(a) * D(|a|) / (0.07 sqrt 2)``.

    ``inf`` (a linear branch) gives 0.

    Parameters
    ----------
    norm_a : float
        Signed normalised :math:`A`.

    Returns
    -------
    float
        The signed NeuroSim label.
    """
    return math.copysign(label_distance(norm_a) / LABEL_UNIT, norm_a) if not math.isinf(norm_a) else 0.0


@lru_cache(maxsize=4096)
def norm_a_from_label(nl: float) -> float:
    """Signed normalised ``A`` of a NeuroSim label, solving ``D(a) = 0.07 sqrt(2) |NL|`` exactly.

    Parameters
    ----------
    nl : float
        The label, ``|nl| < 10.1015``; its sign is kept (``A = sign(NL) a Pmax``).

    Returns
    -------
    float
        ``sign(nl) * a``; ``inf`` for ``nl = 0`` (a linear branch).

    Raises
    ------
    ValueError
        If ``nl`` is not finite or ``|nl| >= 1 / (0.07 sqrt 2)``.
    """
    nl = float(nl)
    if not math.isfinite(nl) or abs(nl) >= MAX_LABEL:
        raise ValueError(f"a NeuroSim label must be a float with |NL| < {MAX_LABEL:.6g}; got {nl!r}")
    if nl == 0.0:
        return math.inf
    target = abs(nl) * LABEL_UNIT
    # D(x) <= x/8 for x = 1/a, so x >= 8 * target; D increases with x towards 1.
    lo = 8.0 * target * (1.0 - 1e-12)
    if _distance_of_x(lo) >= target:
        lo *= 0.5
    hi = max(2.0 * lo, 1.0)
    while _distance_of_x(hi) < target:
        lo, hi = hi, hi * 2.0
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if _distance_of_x(mid) < target:
            lo = mid
        else:
            hi = mid
    x = 0.5 * (lo + hi)
    return math.copysign(1.0 / x, nl)


@lru_cache(maxsize=1)
def neurosim_table() -> dict[int, float]:
    """NeuroSim's ``getParamA`` table: row ``k`` (label ``k/100``, ``k = 1 ... 900``) -> ``norm_a``."""
    text = resources.files("memsim").joinpath(TABLE_FILE).read_text()
    rows = {}
    for rec in csv.DictReader(text.splitlines()):
        rows[int(round(float(rec["nl_label"]) * 100))] = float(rec["norm_a"])
    if sorted(rows) != list(range(1, 901)):  # pragma: no cover - a damaged data file
        raise ValueError(f"{TABLE_FILE}: expected rows 0.01 ... 9.00")
    return rows


def neurosim_table_norm_a(nl: float) -> float:
    """Signed normalised ``A`` exactly as NeuroSim's table lookup gives it (quirks included).

    Row ``trunc(|NL| * 100)`` computed in double precision, clamped to ``[1, 900]``; sign negative
    for ``NL <= 0`` (NeuroSim treats 0 as negative). Use :func:`norm_a_from_label` for physics.

    Parameters
    ----------
    nl : float
        The NeuroSim label.

    Returns
    -------
    float
        The signed normalised :math:`A` of the table row.
    """
    nl = float(nl)
    row = min(max(int(abs(nl) * 100.0), 1), 900)
    a = neurosim_table()[row]
    return a if nl > 0.0 else -a
