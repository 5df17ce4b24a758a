r"""The generic pulse law: how a requested change becomes pulses, and what one pulse does to a cell.

Written once, in the formula subset of :mod:`memsim.physics.devices.formula` (plus ``math.floor``
and ``bool`` annotations), and run by every backend:

* the NumPy reference calls these functions element by element (``numpy.vectorize``);
* the Numba code generator pastes their source into each generated kernel module
  (``@njit(cache=True)`` functions that LLVM inlines into the kernels);
* the CUDA code generator translates them with :mod:`memsim.backends.cupy.translate` into
  ``__device__ __forceinline__`` functions named ``ms_<name>``.

What stays in the kernels is plumbing: loops, which Philox numbers to draw (and when), loads and
stores. Everything a cell computes from those numbers is here or in the device's own formulas.

Pulse counts (:mod:`memsim.physics.updates`)
--------------------------------------------
A programming event requests :math:`\Delta = -\eta\, g`; with the nominal step
:math:`\Delta w_{\min}` the request is :math:`a = |\Delta| / \Delta w_{\min}` pulses in the
direction :math:`\Delta > 0` (up):

.. math::
    n_{\text{stochastic}} = \lfloor a \rfloor + [\,u < a - \lfloor a \rfloor\,], \qquad
    n_{\text{deterministic}} = \lfloor a + 1/2 \rfloor,

with :math:`u` the Philox uniform of stream ``STREAM_ROUNDING`` (needed only where
:math:`a - \lfloor a \rfloor > 0`; kernels draw it only there). The request is bounded,
:math:`a \leftarrow \min(a, 2^{53})` (``MAX_REQUEST``; not a number counts as 0), *before* any
conversion to an integer: every count is then an exact integer below :math:`2^{53} + 1`, so no
backend overflows a 64-bit integer on any finite request (an enormous request is a request of
:math:`2^{53}` pulses). Requests below :math:`2^{53}` are unchanged. The cap ``max_pulses`` is
applied by the kernels in integer arithmetic: an event requesting :math:`n > n_{\max}` pulses gets
:math:`n_{\max}`, and the kernels count it as truncated, with :math:`n - n_{\max}` pulses lost
(``Tile.statistics()``: ``events_truncated``, ``pulses_lost``).

One pulse (:mod:`memsim.physics.devices.base`)
----------------------------------------------
With the device's mean step magnitude :math:`m(w)` (``mean_step``), the up/down factor
:math:`f_\pm = 1 \pm \beta` (``up_down``), :math:`q = m(w) f_\pm`, the sign :math:`s_\pm = \pm 1`,
the cycle-to-cycle spread :math:`\sigma_r = \sigma\, r(w)` (``dw_min_std`` times ``step_spread``)
and a fresh :math:`\xi \sim N(0, 1)` per pulse (stream ``STREAM_C2C``, normal number ``p`` for
pulse ``p``):

.. math::
    \text{multiplicative:}\quad & w \leftarrow w + s_\pm\, q\, (1 + \sigma_r \xi) \\
    \text{additive:}\quad & w \leftarrow w + s_\pm\, q + \Delta w_{\min}\, \sigma_r\, \xi \\
    \text{no per-pulse noise:}\quad & w \leftarrow w + s_\pm\, q \\
    \text{then:}\quad & w \leftarrow \min(\max(w, w_{\min}), w_{\max})

(``dw_min``, ``w_min``, ``w_max`` are the cell's own parameters). In ``"neurosim"`` mode the
pulses are noiseless and, after the :math:`n > 0` pulses of one event, one normal
(number 0 of the cell's ``STREAM_C2C`` sub-sequence) moves the cell once:

.. math::
    w \leftarrow \min(\max(w + \sigma (w_{\max} - w_{\min}) \sqrt{n}\, \xi,\ w_{\min}),\ w_{\max}).

A stuck cell (``stuck != 0``) receives and counts its pulses but does not move.

Every function is a pure float64 expression in the formula subset: same operations in the same
order on every backend, so results are bit-identical. Arguments annotated ``bool`` (and ``up``)
are booleans, the others float64 (integers such as ``n`` are exact in float64 below 2**53); a
``-> bool`` function returns a boolean.
"""

from __future__ import annotations

import math

#: Largest request :func:`pulse_magnitude` returns, in pulses (``2**53``: every count stays an exact
#: integer in float64 and far inside the int64 range; the literal in the function is this value).
MAX_REQUEST = 2.0 ** 53

__all__ = ["LAW_FUNCTIONS", "MAX_REQUEST", "pulse_magnitude", "pulse_direction", "rounding_fraction",
           "pulse_count_stochastic", "pulse_count_deterministic", "cell_moves", "up_down_factor", "one_pulse",
           "event_noise"]


def pulse_magnitude(g, lr, dw_nominal):
    """Requested number of pulses :math:`a = |-\\eta g| / \\Delta w_{\\min}` (a float >= 0), bounded by
    ``MAX_REQUEST`` = :math:`2^{53}` so that no count converts to an integer out of range (not a number: 0).

    Parameters
    ----------
    g : float
        The gradient :math:`g` of the weight.
    lr : float
        The learning rate :math:`\\eta`.
    dw_nominal : float
        The nominal step :math:`\\Delta w_{\\min}` of the pulse-count rule.

    Returns
    -------
    float
        The requested number of pulses :math:`a` in :math:`[0, 2^{53}]`.
    """
    a = abs(-lr * g) / dw_nominal
    return a if a < 9007199254740992.0 else (9007199254740992.0 if a >= 9007199254740992.0 else 0.0)


def pulse_direction(g, lr) -> bool:
    """Whether the request :math:`-\\eta g` is a potentiation (up).

    Parameters
    ----------
    g : float
        The gradient :math:`g` of the weight.
    lr : float
        The learning rate :math:`\\eta`.

    Returns
    -------
    bool
        True for a potentiating (up) request.
    """
    return -lr * g > 0.0


def rounding_fraction(a):
    """:math:`a - \\lfloor a \\rfloor`: a stochastic-rounding uniform is needed only where this is > 0.

    Parameters
    ----------
    a : float
        The requested number of pulses :math:`a \\ge 0` (:func:`pulse_magnitude`).

    Returns
    -------
    float
        The fractional part of :math:`a`.
    """
    return a - math.floor(a)


def pulse_count_stochastic(a, u):
    """Stochastic rounding: :math:`\\lfloor a \\rfloor + [u < a - \\lfloor a \\rfloor]` (unbiased).

    ``u`` is the uniform of stream ``STREAM_ROUNDING`` where :func:`rounding_fraction` is > 0;
    anything <= 0 (e.g. 0.0, not drawn) elsewhere.

    Parameters
    ----------
    a : float
        The requested number of pulses :math:`a \\ge 0` (:func:`pulse_magnitude`).
    u : float
        The stream's uniform in (0, 1) (or any value <= 0 where it is not drawn).

    Returns
    -------
    float
        The number of pulses, an exact integer.
    """
    base = math.floor(a)
    return base + 1 if u < a - base else base


def pulse_count_deterministic(a):
    """NeuroSim's rule: :math:`\\lfloor a + 1/2 \\rfloor` (halves rounded up).

    Parameters
    ----------
    a : float
        The requested number of pulses :math:`a \\ge 0` (:func:`pulse_magnitude`).

    Returns
    -------
    float
        The number of pulses, an exact integer.
    """
    return math.floor(a + 0.5)


def cell_moves(stuck) -> bool:
    """Whether a cell moves under its pulses (a stuck cell, ``stuck != 0``, does not).

    Parameters
    ----------
    stuck : float
        The cell's ``stuck`` parameter (0: not stuck).

    Returns
    -------
    bool
        True when the cell is not stuck.
    """
    return stuck == 0.0


def up_down_factor(up: bool, up_down):
    """The up/down factor :math:`1 + \\beta` for a potentiating pulse, :math:`1 - \\beta` otherwise.

    Parameters
    ----------
    up : bool
        Whether the pulse is potentiating.
    up_down : float
        The cell's up/down asymmetry :math:`\\beta`.

    Returns
    -------
    float
        :math:`1 \\pm \\beta`.
    """
    return 1.0 + up_down if up else 1.0 - up_down


def one_pulse(w, up: bool, q, s, z, dw_min, multiplicative: bool, additive: bool, w_min, w_max):
    """The state after one pulse of mean magnitude ``q`` (``mean_step * up_down_factor``).

    ``s = dw_min_std * step_spread(w, ...)`` and ``z`` the pulse's normal are read only in the
    noisy modes (``multiplicative``/``additive``: the c2c mode, with ``dw_min_std > 0``); then the
    clip to the cell's bounds (module docstring).

    Parameters
    ----------
    w : float
        The cell's state before the pulse.
    up : bool
        Whether the pulse is potentiating.
    q : float
        The mean step magnitude, ``mean_step * up_down_factor``.
    s : float
        The cycle-to-cycle spread :math:`\\sigma_r`, ``dw_min_std * step_spread``.
    z : float
        The pulse's standard normal :math:`\\xi`.
    dw_min : float
        The cell's ``dw_min`` (scale of the additive noise).
    multiplicative : bool
        Whether the c2c mode is multiplicative with noise.
    additive : bool
        Whether the c2c mode is additive with noise.
    w_min : float
        The cell's lower bound.
    w_max : float
        The cell's upper bound.

    Returns
    -------
    float
        The state after the pulse, clipped to the cell's bounds.
    """
    step_w = q * (1.0 + s * z) if multiplicative else q
    moved = w + step_w if up else w - step_w
    noisy = moved + dw_min * s * z if additive else moved
    return min(max(noisy, w_min), w_max)


def event_noise(w, n, sigma, w_min, w_max, z):
    """c2c mode ``"neurosim"``: :math:`\\sigma (w_{\\max} - w_{\\min}) \\sqrt{n}\\, \\xi` once per event, then the clip.

    Parameters
    ----------
    w : float
        The cell's state after the event's pulses.
    n : float
        The number of pulses of the event (> 0).
    sigma : float
        The cycle-to-cycle noise :math:`\\sigma` (``dw_min_std``).
    w_min : float
        The cell's lower bound.
    w_max : float
        The cell's upper bound.
    z : float
        The event's standard normal :math:`\\xi`.

    Returns
    -------
    float
        The state after the event noise, clipped to the cell's bounds.
    """
    return min(max(w + sigma * (w_max - w_min) * math.sqrt(n) * z, w_min), w_max)


#: The functions the code generators emit, in order (each calls none of the others).
LAW_FUNCTIONS = (pulse_magnitude, pulse_direction, rounding_fraction, pulse_count_stochastic,
                 pulse_count_deterministic, cell_moves, up_down_factor, one_pulse, event_noise)
