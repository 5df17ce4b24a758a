"""Figures: every figure memsim writes goes through this package (``style``: matplotlib and saving)."""

from .style import pyplot, save_figure

__all__ = ["pyplot", "save_figure"]
