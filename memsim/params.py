"""Uniform parameter validation with one error-message shape.

Every invalid value raises :class:`memsim.errors.ConfigError` (a ``ValueError``) worded as::

    The 'dw_min' parameter of SoftBounds must be a float in (0, inf). Got -0.1 instead.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

import numpy as np

from .errors import ConfigError

__all__ = ["check_float", "check_int", "check_choice", "check_bool", "check_keys", "invalid", "check_array",
           "check_design", "check_per_weight", "MAX_MAGNITUDE", "MAX_FEATURES"]

#: Largest magnitude accepted for a real-valued setting (learning rates, bounds, scales, noise levels):
#: its square (1e300) and products with ordinary values stay finite in float64 (max ~1.8e308), so
#: the formulas memsim evaluates (variances, ``X^T X``, ``lr * g``) cannot overflow from the input alone.
MAX_MAGNITUDE = 1e150
#: Largest number of input features of a synthetic task (one weight per feature on the crossbar).
MAX_FEATURES = 1_000_000


def invalid(owner: str, name: str, allowed: str, value: Any) -> ConfigError:
    """Return the standard error for parameter ``name`` of ``owner``.

    Parameters
    ----------
    owner : str
        Who owns the parameter (a class or config section name).
    name : str
        The parameter's name.
    allowed : str
        Human-readable description of the allowed values, e.g. ``"a float in (0, inf)"``.
    value : object
        The value that was given.

    Returns
    -------
    ConfigError
        The error (to be raised by the caller).
    """
    return ConfigError(f"The '{name}' parameter of {owner} must be {allowed}. Got {value!r} instead.")


def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    return f"{left}{lo:g}, {hi:g}{right}"


def check_float(owner: str, name: str, value: Any, lo: float = -math.inf, hi: float = math.inf,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """Validate a finite real number inside an interval and return it as ``float``.

    Infinite bounds are always open. Booleans are rejected.

    Parameters
    ----------
    owner : str
        Who owns the parameter (a class or config section name), for the error message.
    name : str
        The parameter's name, for the error message.
    value : object
        The value given.
    lo, hi : float
        Bounds of the interval.
    lo_open, hi_open : bool
        Whether the lower / upper bound is excluded.

    Returns
    -------
    float
        ``value`` as a float.
    """
    lo_open = lo_open or math.isinf(lo)
    hi_open = hi_open or math.isinf(hi)
    allowed = f"a float in {_interval(lo, hi, lo_open, hi_open)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(owner, name, allowed, value)
    v = float(value)
    if not math.isfinite(v):
        raise invalid(owner, name, allowed, value)
    if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
        raise invalid(owner, name, allowed, value)
    return v


def check_int(owner: str, name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """Validate an integer inside ``[lo, hi]`` (either end may be ``None``) and return it.

    Parameters
    ----------
    owner : str
        Who owns the parameter (a class or config section name), for the error message.
    name : str
        The parameter's name, for the error message.
    value : object
        The value given.
    lo, hi : int or None
        Inclusive bounds; ``None`` for no bound.

    Returns
    -------
    int
        ``value`` as an int.
    """
    lo_s = "-inf" if lo is None else str(lo)
    hi_s = "inf" if hi is None else str(hi)
    allowed = f"an integer in [{lo_s}, {hi_s}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(owner, name, allowed, value)
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise invalid(owner, name, allowed, value)
    return v


def check_choice(owner: str, name: str, value: Any, choices: Iterable[str]) -> str:
    """Validate that ``value`` is one of ``choices`` and return it.

    Parameters
    ----------
    owner : str
        Who owns the parameter (a class or config section name), for the error message.
    name : str
        The parameter's name, for the error message.
    value : object
        The value given.
    choices : iterable of str
        The allowed values.

    Returns
    -------
    str
        ``value``.
    """
    choices = tuple(choices)
    if value not in choices:
        allowed = "one of " + ", ".join(repr(c) for c in choices)
        raise invalid(owner, name, allowed, value)
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Validate a boolean and return it.

    Parameters
    ----------
    owner : str
        Who owns the parameter (a class or config section name), for the error message.
    name : str
        The parameter's name, for the error message.
    value : object
        The value given.

    Returns
    -------
    bool
        ``value``.
    """
    if not isinstance(value, bool):
        raise invalid(owner, name, "a bool (true or false)", value)
    return value


def check_keys(owner: str, data: dict, allowed: Iterable[str]) -> None:
    """Reject any key of a config table ``data`` that is not in ``allowed``, naming it.

    Parameters
    ----------
    owner : str
        The config section, for the error message.
    data : dict
        The config table.
    allowed : iterable of str
        The allowed keys.
    """
    allowed = sorted(allowed)
    for key in data:
        if key not in allowed:
            raise invalid(owner, key, "absent (unknown key; allowed keys: " + ", ".join(allowed) + ")", data[key])


# ---------------------------------------------------------------------------- arrays
class ArraySummary:
    """Short ``repr`` of an array for error messages (the values if few, else the shape)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __repr__(self) -> str:
        if self.a.size <= 8:
            return repr(self.a.tolist())
        return f"<array of shape {self.a.shape}>"


def check_array(owner: str, name: str, value: Any, shape: tuple) -> np.ndarray:
    """Validate a finite real array and return it as float64.

    Parameters
    ----------
    owner, name : str
        For the error message (:func:`memsim.params.invalid`).
    value : array_like
        The value given.
    shape : tuple of (int or str)
        Required shape; an ``int`` entry must match exactly, a ``str`` entry (a label such as
        ``"n"``) accepts any length >= 1.

    Returns
    -------
    numpy.ndarray
        ``value`` as a float64 array.
    """
    text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    allowed = f"a finite real array of shape {text}"
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(owner, name, allowed, value) from None
    ok = a.ndim == len(shape) and all(
        (got >= 1) if isinstance(want, str) else (got == want) for got, want in zip(a.shape, shape))
    if not ok or not np.all(np.isfinite(a)):
        raise invalid(owner, name, allowed, ArraySummary(a))
    return a


def check_design(owner: str, X: Any, y: Any, names: tuple[str, str] = ("X", "y"),
                 d: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a design matrix ``X`` (n, d) and targets ``y`` (n,); ``d`` fixes the column count.

    Parameters
    ----------
    owner : str
        Who owns the data, for the error message.
    X : array_like
        Design matrix, shape (n, d).
    y : array_like
        Targets, shape (n,).
    names : tuple of (str, str)
        The names of ``X`` and ``y`` in error messages.
    d : int or None
        Required number of columns; ``None`` accepts any.

    Returns
    -------
    X : numpy.ndarray
        Float64 design matrix, shape (n, d).
    y : numpy.ndarray
        Float64 targets, shape (n,).
    """
    X = check_array(owner, names[0], X, ("n", "d" if d is None else d))
    y = check_array(owner, names[1], y, (X.shape[0],))
    return X, y


def check_per_weight(owner: str, name: str, value: Any, d: int, lo: float = -math.inf) -> np.ndarray:
    """Validate a scalar or a length-``d`` array with entries ``>= lo``; return it as a (d,) array.

    Parameters
    ----------
    owner : str
        Who owns the parameter (a class or config section name), for the error message.
    name : str
        The parameter's name, for the error message.
    value : object
        The value given.
    d : int
        Number of weights.
    lo : float
        Lower bound (inclusive) of every entry.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape (d,) (a scalar is repeated).
    """
    if np.ndim(value) == 0:
        return np.full(d, check_float(owner, name, value, lo=lo))
    a = check_array(owner, name, value, (d,))
    if np.any(a < lo):
        raise invalid(owner, name, f"a float or an array of shape ({d},) with entries >= {lo:g}",
                      ArraySummary(a))
    return a
