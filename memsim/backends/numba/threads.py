"""Numba thread control for code outside this package (which must not import numba itself)."""

import numba


def get_num_threads() -> int:
    """Threads Numba's parallel kernels use now.

    Returns
    -------
    int
        The thread count.
    """
    return numba.get_num_threads()


def set_num_threads(n: int) -> None:
    """Set the threads of Numba's parallel kernels (results never depend on it).

    Parameters
    ----------
    n : int
        The thread count, at most :func:`max_threads`.
    """
    numba.set_num_threads(int(n))


def max_threads() -> int:
    """The largest allowed thread count (``NUMBA_NUM_THREADS``)."""
    return int(numba.config.NUMBA_NUM_THREADS)
