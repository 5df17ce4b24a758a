"""Layout checks of a drawn figure: overlapping text, legends over data, small print, file formats.

Used by the figure tests on every figure memsim writes (:func:`memsim.plotting.style.on_save`) and
usable on any matplotlib figure. Extents come from the renderer (display pixels), after a draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .style import MIN_PRINT_FONT_PT, PRINT_WIDTH_IN

__all__ = ["file_format", "text_artists", "text_overlaps", "legend_covered_points", "small_fonts",
           "texts_outside", "layout_problems"]


def file_format(path: str | Path) -> str | None:
    """The format a file's first bytes show: ``"png"``, ``"pdf"``, ``"svg"`` or ``None``.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str or None
        The format, ``None`` when it is none of the three.
    """
    head = Path(path).read_bytes()[:2048]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.lstrip().startswith((b"<?xml", b"<svg")) and b"<svg" in head:
        return "svg"
    return None


def _renderer(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _has_text(t) -> bool:
    return t.get_visible() and bool(t.get_text().strip())


def _axis_texts(axis) -> list:
    """The axis label, offset text and the tick labels actually drawn (ticks inside the view)."""
    if not axis.get_visible() or not getattr(axis.axes, "axison", True):
        return []
    out = [t for t in (axis.label, axis.offsetText) if _has_text(t)]
    for tick in axis._update_ticks():  # the ticks the axis draws (inside the view interval)
        if tick.get_visible():
            out += [t for t in (tick.label1, tick.label2) if _has_text(t)]
    return out


def text_artists(fig) -> list:
    """Every visible, non-empty text of a drawn figure, tick labels included.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.

    Returns
    -------
    list of matplotlib.text.Text
        The texts (each once).
    """
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    found: dict[int, Any] = {}

    def walk(artist) -> None:
        if not artist.get_visible():
            return
        if isinstance(artist, Axis):
            for t in _axis_texts(artist):
                found.setdefault(id(t), t)
            return
        if isinstance(artist, Text):
            if _has_text(artist):
                found.setdefault(id(artist), artist)
            return
        for child in artist.get_children():
            walk(child)

    walk(fig)
    return list(found.values())


def text_overlaps(fig, tolerance_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of texts whose rendered extents overlap by more than ``tolerance_px`` in both directions.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    tolerance_px : float
        Overlap (display pixels) tolerated, for antialiasing at touching edges.

    Returns
    -------
    list of (str, str)
        The texts of every overlapping pair.
    """
    renderer = _renderer(fig)
    texts = text_artists(fig)
    quads = [_text_quad(t, renderer) for t in texts]
    bad = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if _quads_overlap(quads[i], quads[j], tolerance_px):
                bad.append((texts[i].get_text(), texts[j].get_text()))
    return bad


def _text_quad(t, renderer) -> np.ndarray:
    """The four corners (display pixels) of a text's own box: rotated with the text, without an annotation's arrow."""
    from matplotlib.text import Text

    box = Text.get_window_extent(t, renderer)  # an Annotation's own extent would include its arrow
    angle = t.get_rotation() % 180.0
    if angle == 0.0:
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    t.set_rotation(0.0)
    flat = Text.get_window_extent(t, renderer)
    t.set_rotation(angle)
    w, h = flat.width / 2, flat.height / 2
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) @ np.array([[c, s], [-s, c]])
    return corners + [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]  # rotated about the extent's centre


def _quads_overlap(p: np.ndarray, q: np.ndarray, tolerance_px: float) -> bool:
    """Whether two convex quadrilaterals overlap by more than ``tolerance_px`` along every separating axis."""
    for poly in (p, q):
        for k in range(4):
            edge = poly[(k + 1) % 4] - poly[k]
            axis = np.array([-edge[1], edge[0]])
            norm = np.hypot(*axis)
            if norm == 0:
                continue
            axis /= norm
            a, b = p @ axis, q @ axis
            if min(a.max(), b.max()) - max(a.min(), b.min()) <= tolerance_px:
                return False
    return True


def _densify(points: np.ndarray, step_px: float = 2.0) -> np.ndarray:
    """Points every ``step_px`` along a polyline in display coordinates (the drawn line, not only its vertices)."""
    out = [points[:1]]
    for p, q in zip(points[:-1], points[1:]):
        n = int(np.ceil(np.hypot(*(q - p)) / step_px))
        if n > 1:
            out.append(p + (q - p) * np.linspace(0, 1, n + 1)[1:, None])
        else:
            out.append(q[None])
    return np.concatenate(out)


def _data_points(ax) -> list[tuple[str, np.ndarray]]:
    """(name, display points) of what the axes draws as data: lines (densified), markers, error bars, bars."""
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection
    from matplotlib.patches import Rectangle

    items = []
    for line in ax.lines:
        if not line.get_visible():
            continue
        xy = np.asarray(line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float)), dtype=float)
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if len(xy) == 0:
            continue
        if line.get_linestyle() not in ("None", "none", " ", "") and len(xy) > 1:
            xy = _densify(xy)
        items.append((line.get_label(), xy))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):
            off = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float))
            items.append((coll.get_label(), np.asarray(off, dtype=float)))
        elif isinstance(coll, (LineCollection, PolyCollection)):
            trans = coll.get_transform()
            for seg in coll.get_paths():
                v = trans.transform(seg.vertices)
                v = v[np.all(np.isfinite(v), axis=1)]
                if len(v):
                    items.append((coll.get_label(), _densify(v)))
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_visible():
            bb = patch.get_window_extent()
            if bb.width >= 0.99 * ax.bbox.width or bb.height >= 0.99 * ax.bbox.height:
                continue  # a span marking a region (axvspan / axhspan), not data
            xs, ys = np.linspace(bb.x0, bb.x1, 9), np.linspace(bb.y0, bb.y1, 9)
            items.append((patch.get_label(), np.array([(x, y) for x in xs for y in ys])))
    inside = []
    box = ax.bbox
    for name, xy in items:
        keep = (xy[:, 0] >= box.x0 - 0.5) & (xy[:, 0] <= box.x1 + 0.5) & (xy[:, 1] >= box.y0 - 0.5) & (
            xy[:, 1] <= box.y1 + 0.5)
        if np.any(keep):
            inside.append((name, xy[keep]))
    return inside


def legend_covered_points(fig) -> list[tuple[str, str, int]]:
    """Data (line vertices and the line between them, markers, error bars, bars) under a legend.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.

    Returns
    -------
    list of (str, str, int)
        ``(legend's first entry, data artist's label, number of covered points)``.
    """
    from matplotlib.legend import Legend

    renderer = _renderer(fig)
    legends = [lg for lg in fig.findobj(Legend) if lg.get_visible()]
    axes = [a for a in fig.findobj(lambda a: hasattr(a, "lines") and hasattr(a, "bbox") and hasattr(a, "collections"))]
    bad = []
    for lg in legends:
        bb = lg.get_window_extent(renderer)
        name = lg.get_texts()[0].get_text() if lg.get_texts() else "legend"
        for ax in axes:
            for label, xy in _data_points(ax):
                n = int(np.sum((xy[:, 0] > bb.x0) & (xy[:, 0] < bb.x1) & (xy[:, 1] > bb.y0) & (xy[:, 1] < bb.y1)))
                if n:
                    bad.append((name, label, n))
    return bad


def texts_outside(fig, tolerance_px: float = 1.0) -> list[str]:
    """Texts that reach outside the figure's canvas (a saved figure would grow beyond its print width).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    tolerance_px : float
        Overhang (display pixels) tolerated.

    Returns
    -------
    list of str
        The texts.
    """
    renderer = _renderer(fig)
    w, h = fig.bbox.width, fig.bbox.height
    out = []
    for t in text_artists(fig):
        quad = _text_quad(t, renderer)
        if (quad[:, 0].min() < -tolerance_px or quad[:, 0].max() > w + tolerance_px
                or quad[:, 1].min() < -tolerance_px or quad[:, 1].max() > h + tolerance_px):
            out.append(t.get_text())
    return out


def small_fonts(fig, print_width_in: float = PRINT_WIDTH_IN,
                min_pt: float = MIN_PRINT_FONT_PT) -> list[tuple[str, float]]:
    """Texts smaller than ``min_pt`` when the figure is printed ``print_width_in`` inches wide.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    print_width_in : float
        Printed width in inches (the font sizes scale by ``print_width_in / figure width``).
    min_pt : float
        The smallest acceptable printed size in points.

    Returns
    -------
    list of (str, float)
        ``(text, printed size in pt)`` of every text that is too small.
    """
    _renderer(fig)
    scale = print_width_in / fig.get_figwidth()
    return [(t.get_text(), t.get_fontsize() * scale) for t in text_artists(fig)
            if t.get_fontsize() * scale < min_pt - 1e-9]


def layout_problems(fig) -> list[str]:
    """Every problem :func:`text_overlaps`, :func:`legend_covered_points`, :func:`small_fonts` and
    :func:`texts_outside` find.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.

    Returns
    -------
    list of str
        One line per problem (empty when the layout is clean).
    """
    out = [f"texts overlap: {a!r} and {b!r}" for a, b in text_overlaps(fig)]
    out += [f"legend {lg!r} covers {n} point(s) of {what!r}" for lg, what, n in legend_covered_points(fig)]
    out += [f"text {t!r} prints at {pt:.2f} pt" for t, pt in small_fonts(fig)]
    out += [f"text {t!r} reaches outside the figure" for t in texts_outside(fig)]
    return out
