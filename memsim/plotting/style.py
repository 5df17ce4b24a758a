"""Figure style, formats and saving: every figure memsim writes goes through here.

One style (``memsim.mplstyle``, shipped beside this module): text at least 7 pt when a figure is
printed 3.5 in wide (one journal column), the Okabe-Ito colour-blind-safe palette, vector output
with embedded TrueType fonts. A figure function is decorated with :func:`styled` and makes its
figures with :func:`subplots`, which scales the text of a figure wider than 3.5 in so that it still
prints at 7 pt or more when the figure is shrunk to one column. :func:`save_figure` writes the
format the file suffix names (``.png`` at 300 dpi, ``.pdf``, ``.svg``) atomically.
matplotlib is imported inside the functions (``import memsim`` never imports it).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from ..params import invalid

__all__ = ["pyplot", "save_figure", "styled", "subplots", "figure_format", "check_figure_format",
           "figure_path", "on_save", "STYLE_PATH", "FIGURE_FORMATS", "OKABE_ITO", "PALETTE", "PRINT_WIDTH_IN",
           "MIN_PRINT_FONT_PT", "PNG_DPI"]

#: The style sheet every memsim figure uses.
STYLE_PATH = Path(__file__).with_name("memsim.mplstyle")
#: The file formats memsim writes figures in (the file suffix without the dot).
FIGURE_FORMATS = ("png", "pdf", "svg")
#: Resolution of PNG figures (dots per inch of the figure's own size).
PNG_DPI = 300
#: Width (inches) a figure's text sizes are designed for: one journal column.
PRINT_WIDTH_IN = 3.5
#: Smallest text (points) of a figure printed :data:`PRINT_WIDTH_IN` wide.
MIN_PRINT_FONT_PT = 7.0
#: The Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008), by name.
OKABE_ITO = {"blue": "#0072B2", "vermillion": "#D55E00", "green": "#009E73", "orange": "#E69F00",
             "purple": "#CC79A7", "sky": "#56B4E9", "black": "#000000", "yellow": "#F0E442"}
#: The colour cycle of the style (the order of ``memsim.mplstyle``).
PALETTE = tuple(OKABE_ITO.values())

_FONT_KEYS = ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
              "legend.fontsize", "legend.title_fontsize", "figure.titlesize")
_LINE_KEYS = ("lines.linewidth", "lines.markersize", "axes.linewidth")
_SAVE_HOOKS: list[Callable[[Any, Path], None]] = []
_DEPTH = [0]


def pyplot():
    """``matplotlib.pyplot`` with a non-interactive backend unless one was chosen already.

    Returns
    -------
    module
        ``matplotlib.pyplot``.
    """
    import matplotlib

    if "matplotlib.pyplot" not in __import__("sys").modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styled(func: Callable) -> Callable:
    """Decorator: run a figure function inside the memsim style (``matplotlib.style.context``).

    Parameters
    ----------
    func : callable
        A function that makes figures with :func:`subplots` and writes them with :func:`save_figure`.

    Returns
    -------
    callable
        ``func`` wrapped; matplotlib's global settings are restored when it returns.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        plt = pyplot()
        with plt.style.context(str(STYLE_PATH)):
            _DEPTH[0] += 1
            try:
                return func(*args, **kwargs)
            finally:
                _DEPTH[0] -= 1

    return wrapper


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = PRINT_WIDTH_IN, height: float = 2.6,
             **kwargs: Any):
    """A figure of ``width`` x ``height`` inches in the memsim style (inside a :func:`styled` function).

    A figure wider than :data:`PRINT_WIDTH_IN` gets its text sizes, line widths and marker sizes
    scaled by ``width / PRINT_WIDTH_IN``, so that it reads the same when printed one column wide.

    Parameters
    ----------
    nrows, ncols : int
        The grid of axes (``matplotlib.pyplot.subplots``).
    width, height : float
        Figure size in inches.
    **kwargs
        Passed to ``matplotlib.pyplot.subplots``.

    Returns
    -------
    (Figure, Axes or array of Axes)
        As ``matplotlib.pyplot.subplots``.
    """
    if _DEPTH[0] <= 0:
        raise RuntimeError("memsim.plotting.style.subplots must be called inside a @styled figure function")
    import matplotlib

    plt = pyplot()
    base = matplotlib.rc_params_from_file(str(STYLE_PATH), use_default_template=False)
    scale = max(1.0, float(width) / PRINT_WIDTH_IN)
    for key in _FONT_KEYS + _LINE_KEYS:
        if key in base:
            plt.rcParams[key] = float(base[key]) * scale
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def figure_format(path: str | Path, owner: str = "figure", name: str = "path") -> str:
    """The format a figure file name asks for (its suffix), checked.

    Parameters
    ----------
    path : str or Path
        The file name.
    owner, name : str
        Who asks, and the parameter's name (for the error message).

    Returns
    -------
    str
        One of :data:`FIGURE_FORMATS`.

    Raises
    ------
    memsim.errors.ConfigError
        When the suffix is not ``.png``, ``.pdf`` or ``.svg``.
    """
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise invalid(owner, name, "a file name ending in " + ", ".join("." + f for f in FIGURE_FORMATS), str(path))
    return fmt


def check_figure_format(fmt: Any, owner: str = "figure", name: str = "format") -> str:
    """Validate a figure format name (``"png"``, ``"pdf"`` or ``"svg"``; case-insensitive).

    Parameters
    ----------
    fmt : str
        The format.
    owner, name : str
        Who asks, and the parameter's name (for the error message).

    Returns
    -------
    str
        The format in lower case.
    """
    if not isinstance(fmt, str) or fmt.lower().lstrip(".") not in FIGURE_FORMATS:
        raise invalid(owner, name, "one of " + ", ".join(repr(f) for f in FIGURE_FORMATS), fmt)
    return fmt.lower().lstrip(".")


def figure_path(folder: str | Path, stem: str, fmt: str = "png") -> Path:
    """``folder / (stem + "." + fmt)`` with ``fmt`` checked.

    Parameters
    ----------
    folder : str or Path
        Output folder.
    stem : str
        File name without suffix.
    fmt : str
        One of :data:`FIGURE_FORMATS`.

    Returns
    -------
    Path
        The figure's file name.
    """
    return Path(folder) / f"{stem}.{check_figure_format(fmt)}"


@contextlib.contextmanager
def on_save(callback: Callable[[Any, Path], None]) -> Iterator[None]:
    """Call ``callback(fig, path)`` for every figure :func:`save_figure` writes inside the block.

    The callback runs after the figure is written and before it is closed (tests use it to inspect
    every figure memsim writes).

    Parameters
    ----------
    callback : callable
        ``callback(fig, path)``.

    Yields
    ------
    None
    """
    _SAVE_HOOKS.append(callback)
    try:
        yield
    finally:
        _SAVE_HOOKS.remove(callback)


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` in the format its suffix names, atomically, and close it.

    ``.png`` at :data:`PNG_DPI` dpi, ``.pdf`` (TrueType fonts embedded) or ``.svg``; no time stamp
    in the file, so a regenerated figure is byte-identical when nothing changed. The figure goes to a
    temporary file in the same folder, then is renamed over ``path``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Target file; its suffix chooses the format.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    memsim.errors.ConfigError
        When the suffix is not one of :data:`FIGURE_FORMATS` (nothing is written).
    """
    path = Path(path)
    plt = pyplot()
    try:
        fmt = figure_format(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.{fmt}")
        metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None},
                    "svg": {"Date": None}}[fmt]
        try:
            fig.savefig(tmp, format=fmt, dpi=PNG_DPI, metadata=metadata, bbox_inches="tight", pad_inches=0.02)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        for hook in list(_SAVE_HOOKS):
            hook(fig, path)
    finally:
        plt.close(fig)
    return path
