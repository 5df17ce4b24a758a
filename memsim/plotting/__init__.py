"""Figures: every figure memsim writes goes through this package.

``style`` (the memsim style sheet, formats and atomic saving), ``labels`` (short names and units of
config keys), ``checks`` (layout checks of a drawn figure), ``figures`` (the figures of one run),
``demo`` (the figures of ``memsim demo``).
"""

from .style import FIGURE_FORMATS, pyplot, save_figure, styled, subplots

__all__ = ["FIGURE_FORMATS", "pyplot", "save_figure", "styled", "subplots"]
