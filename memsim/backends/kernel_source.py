"""What every kernel generator pastes into its template besides the device formulas: named constants
and the generic pulse law.

* **Constants.** The stream ids (:mod:`memsim.rng` ``STREAM_*``), update-rule codes
  (:data:`memsim.physics.updates.RULE_CODES`) and c2c-mode codes
  (:data:`memsim.physics.devices.base.C2C_MODE_CODES`) the kernels use, as one table
  (:func:`kernel_constants`) written out as Python globals for Numba (``STREAM_C2C =
  np.uint64(2)``, ``RULE_DETERMINISTIC = 1``, ``C2C_NEUROSIM = 2``) and as ``#define`` lines for
  CUDA (``MS_STREAM_C2C 2u``, ...). The templates use the names only (``__CONSTANTS__``
  placeholder); no code is typed into them as a number.
* **The pulse law.** The functions of :mod:`memsim.physics.pulse_law` (``LAW_FUNCTIONS``), as source
  text in the formula subset: the Numba generator pastes it as ``@njit(cache=True)`` functions, the
  CUDA generator translates it to ``ms_<name>`` ``__device__`` functions.

Nothing here imports numba or cupy.
"""

from __future__ import annotations

import functools

from .. import rng
from ..physics import pulse_law
from ..physics.devices.base import C2C_MODE_CODES
from ..physics.devices.formula import formula_source
from ..physics.updates import RULE_CODES

__all__ = ["KERNEL_STREAMS", "kernel_constants", "numba_constants", "cuda_constants", "law_sources"]

#: The Philox streams the update kernels draw from (names in :mod:`memsim.rng`).
KERNEL_STREAMS = ("STREAM_ROUNDING", "STREAM_C2C", "STREAM_COINCIDENCE")


def kernel_constants() -> dict[str, tuple[int, bool]]:
    """``{name: (value, is_stream)}``: ``STREAM_*``, ``RULE_<KIND>`` and ``C2C_<MODE>`` (upper case).

    Returns
    -------
    dict of {str: (int, bool)}
        Name -> (value, whether it is a stream).
    """
    table = {name: (int(getattr(rng, name)), True) for name in KERNEL_STREAMS}
    table.update({f"RULE_{kind.upper()}": (int(code), False) for kind, code in RULE_CODES.items()})
    table.update({f"C2C_{mode.upper()}": (int(code), False) for mode, code in C2C_MODE_CODES.items()})
    return table


def numba_constants() -> str:
    """The constants as module globals of a generated Numba module (streams as ``np.uint64``).

    Returns
    -------
    str
        The assignments, one per line.
    """
    return "\n".join(f"{name} = np.uint64({value})" if stream else f"{name} = {value}"
                     for name, (value, stream) in kernel_constants().items())


def cuda_constants() -> str:
    """The constants as CUDA ``#define MS_<NAME>`` lines (streams ``unsigned int``).

    Returns
    -------
    str
        The ``#define`` lines.
    """
    return "\n".join(f"#define MS_{name} {value}{'u' if stream else ''}"
                     for name, (value, stream) in kernel_constants().items())


@functools.lru_cache(maxsize=None)
def law_sources() -> tuple[tuple[str, str], ...]:
    """``((name, source), ...)`` of the pulse-law functions, in ``LAW_FUNCTIONS`` order."""
    return tuple((f.__name__, formula_source(f)) for f in pulse_law.LAW_FUNCTIONS)
