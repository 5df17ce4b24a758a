"""Standard figures and a Markdown table from a sweep folder: ``memsim report DIR``.

Written to ``DIR/report/`` (figures in the ``--format`` png, pdf or svg): ``lambda_fit_vs_lambda_pred.png``
(mean ± std over seeds per grid point), ``test_loss_vs_<dim>.png`` for every swept dimension,
``hardware_vs_ridge.png`` (the hardware's test loss against that of ridge at ``lambda_fit``, one marker per
seed) and ``summary.md``. Axis and legend words come from :mod:`memsim.plotting.labels`.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_report_arguments", "report_main", "write_report", "grid_table", "TABLE_COLUMNS"]

_NON_GRID = ("seed", "weight", "epoch", "output")
#: (header, variable) of the Markdown table, each cell "mean ± std over seeds".
TABLE_COLUMNS = (("λ_fit", "lambda_fit"), ("λ_pred", "lambda_pred"), ("λ_plugin", "lambda_plugin"),
                 ("ridge-path dist.", "ridge_path_distance"), ("Tikhonov-pred. dist.", "tikhonov_pred_distance"),
                 ("test loss (hw)", "test_loss_mean_weights"), ("ridge test loss at λ_fit",
                                                                "ridge_test_loss_at_lambda_fit"),
                 ("digital SGD test loss", "digital_sgd_test_loss"), ("OLS test loss", "ols_test_loss"))
HW, RIDGE = "test_loss_mean_weights", "ridge_test_loss_at_lambda_fit"


def swept_dims(ds) -> list[str]:
    """The dataset's grid dimensions (every dimension of ``status`` but ``seed``)."""
    return [d for d in ds["status"].dims if d not in _NON_GRID]


def dim_keys(ds, dim: str) -> list[str]:
    """The coordinates along ``dim``: the key itself for a grid key, the group's keys for a zip group."""
    keys = [name for name, c in ds.coords.items() if c.dims == (dim,)]
    return sorted(keys, key=lambda k: k != dim)


def _fmt_value(v: Any) -> str:
    v = v.item() if hasattr(v, "item") else v
    return f"{v:g}" if isinstance(v, float) else str(v)


def _label(ds, dims: list[str], index: tuple[int, ...]) -> str:
    parts = [f"{k}={_fmt_value(ds[k].values[i])}" for d, i in zip(dims, index) for k in dim_keys(ds, d)]
    return ", ".join(parts) or "all"


def _stat(values: np.ndarray) -> tuple[float, float, int]:
    """Mean, standard deviation and count of the finite values (NaN, NaN, 0 when none)."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std()), int(v.size)


def grid_points(ds) -> list[tuple[tuple[int, ...], str, Any]]:
    """(index, label, the point's data over seeds) of every grid point."""
    dims = swept_dims(ds)
    shape = [ds.sizes[d] for d in dims]
    return [(idx, _label(ds, dims, idx), ds.isel(dict(zip(dims, idx)))) for idx in itertools.product(
        *map(range, shape))]


def _cell(sub, var: str) -> str:
    if var not in sub:
        return "n/a"
    m, s, n = _stat(sub[var].values)
    return "n/a" if n == 0 else (f"{m:.4g}" if n == 1 else f"{m:.4g} ± {s:.2g}")


def grid_table(ds) -> str:
    """Markdown table: one row per grid point, cells mean ± std over the seeds that finished.

    Parameters
    ----------
    ds : xarray.Dataset
        The sweep results (:func:`memsim.workflows.results.collect`).

    Returns
    -------
    str
        The Markdown table, followed by the failed points if any.
    """
    head = ["grid point", "seeds done"] + [h for h, _ in TABLE_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, label, sub in grid_points(ds):
        done = int(np.sum(sub["status"].values == "done"))
        cells = [label, f"{done}/{sub.sizes['seed']}"] + [_cell(sub, v) for _, v in TABLE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    failed = [str(e) for e, s in zip(ds["error"].values.ravel(), ds["status"].values.ravel()) if s == "failed"]
    text = "\n".join(lines) + "\n"
    if failed:
        text += f"\n{len(failed)} failed point(s):\n\n" + "".join(f"- {e}\n" for e in sorted(set(failed)))
    return text


def _file_name(dim: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", dim)


def _point_styles(n: int) -> list[tuple[str, str]]:
    """(colour, marker) of ``n`` series: Okabe-Ito colours and distinct markers, so that none hides another."""
    from ..plotting.style import PALETTE

    markers = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
    return [(PALETTE[k % len(PALETTE)], markers[k % len(markers)]) for k in range(n)]


def _short_label(ds, dims: list[str], index: tuple[int, ...]) -> str:
    """Legend text of a grid point: the first key of every dimension (``w_max = 0.5, dw_min_std = 0.3``)."""
    from ..plotting.labels import point_label

    return point_label((dim_keys(ds, d)[0], ds[dim_keys(ds, d)[0]].values[i]) for d, i in zip(dims, index))


def _legend_title(ds, dims: list[str], dots: bool = True) -> str:
    """What the legend's points are: seeds per point, and the zipped keys not shown."""
    from ..plotting.labels import short_name

    parts = [f"mean ± sd over {ds.sizes.get('seed', 1)} seeds" + (" (dots: single seeds)" if dots else "")]
    for d in dims:
        keys = dim_keys(ds, d)
        if len(keys) > 1:
            parts.append(", ".join(short_name(k) for k in keys[1:]) + f" varies with {short_name(keys[0])}")
    return "\n".join(parts)


def _legend_columns(ax) -> int:
    """Two legend columns when the labels are short enough for a 3.5 in wide figure, else one."""
    labels = ax.get_legend_handles_labels()[1]
    return 2 if labels and max(len(label) for label in labels) <= 22 else 1


def _scatter_points(ds, fig, ax, xvar: str, yvar: str, mean: bool = True) -> list[float]:
    """Per grid point: every seed as a small dot and, with ``mean``, the mean ± sd over seeds as a large open
    marker with error bars (one colour and marker per point). Returns every drawn value (for the axis limits)."""
    dims = swept_dims(ds)
    points = grid_points(ds)
    drawn = []
    for (idx, _, sub), (color, marker) in zip(points, _point_styles(len(points))):
        xs, ys = np.asarray(sub[xvar].values, dtype=float).ravel(), np.asarray(sub[yvar].values, dtype=float).ravel()
        ok = np.isfinite(xs) & np.isfinite(ys)
        if not ok.any():
            continue
        ax.plot(xs[ok], ys[ok], marker, ms=2.5 if mean else 4.5, mfc=color if mean else "none", color=color,
                alpha=0.6 if mean else 1.0, ls="none", label=None if mean else _short_label(ds, dims, idx))
        if not mean:
            drawn += list(xs[ok]) + list(ys[ok])
            continue
        (mx, sx, _), (my, sy, _) = _stat(xs[ok]), _stat(ys[ok])
        ax.errorbar([mx], [my], xerr=[sx], yerr=[sy], fmt=marker, ms=6, mfc="none", mew=1.1, color=color,
                    elinewidth=0.8, label=_short_label(ds, dims, idx))
        drawn += list(xs[ok]) + list(ys[ok]) + [mx - sx, mx + sx, my - sy, my + sy]
    return drawn


def _lambda_figure(ds, out: Path, fmt: str) -> Path | None:
    from ..plotting.style import figure_path, save_figure, subplots

    if "lambda_fit" not in ds or "lambda_pred" not in ds:
        return None
    fig, ax = subplots(width=3.5, height=3.3)
    positive = _scatter_points(ds, fig, ax, "lambda_pred", "lambda_fit")
    if positive:
        lo, hi = min(positive), max(positive)
        lo, hi = (lo / 1.2, hi * 1.2) if lo > 0 else (lo - 0.1 * abs(hi), hi + 0.1 * abs(hi))
        ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="λ_fit = λ_pred")
        if lo > 0 and hi / lo >= 10:
            from ..plotting.figures import log_axis

            log_axis(ax, "x")
            log_axis(ax, "y")
        ax.set(xlim=(lo, hi), ylim=(lo, hi))
    ax.set(xlabel="λ_pred (device physics)", ylabel="λ_fit (fitted to the trained weights)")
    fig.legend(loc="outside upper center", ncol=_legend_columns(ax), title=_legend_title(ds, swept_dims(ds)))
    return save_figure(fig, figure_path(out, "lambda_fit_vs_lambda_pred", fmt))


def _numeric(values: np.ndarray) -> bool:
    return np.asarray(values).dtype.kind in "iuf"


def _dim_figure(ds, dim: str, out: Path, fmt: str) -> Path:
    from matplotlib.lines import Line2D

    from ..plotting.labels import key_label, short_name
    from ..plotting.style import figure_path, save_figure, subplots

    keys = dim_keys(ds, dim)
    xkey = keys[0]
    xs = ds[xkey].values
    x = xs.astype(float) if _numeric(xs) else np.arange(len(xs), dtype=float)
    log_x = _numeric(xs) and len(x) > 2 and x.min() > 0 and x.max() / x.min() >= 4
    others = [d for d in swept_dims(ds) if d != dim]
    fig, ax = subplots(width=3.5, height=3.0)
    combos = list(itertools.product(*[range(ds.sizes[d]) for d in others]))[:10]
    # identical series stay visible: distinct colour and marker, and a small sideways offset per series
    gap = np.min(np.diff(np.log(x) if log_x else x)) if len(x) > 1 else 1.0
    width = 0.25 * gap
    for k, (idx, (color, marker)) in enumerate(zip(combos, _point_styles(len(combos)))):
        sub = ds.isel(dict(zip(others, idx)))
        shift = width * ((k - (len(combos) - 1) / 2) / max(len(combos) - 1, 1)) if len(combos) > 1 else 0.0
        xk = x * np.exp(shift) if log_x else x + shift
        label = _short_label(ds, others, idx) if others else "hardware (time-averaged weights)"
        for var, ls, fill in ((HW, "-", color), (RIDGE, "--", "none")):
            if var not in sub:
                continue
            stats = [_stat(sub[var].isel({dim: i}).values) for i in range(len(x))]
            if not any(s[2] for s in stats):
                continue
            ax.errorbar(xk, [s[0] for s in stats], yerr=[s[1] for s in stats], fmt=marker, ls=ls, ms=4,
                        mfc=fill, mew=1.0, color=color, elinewidth=0.8, label=label if var == HW else None)
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="k", ls="-", marker="o", ms=4), Line2D([], [], color="k", ls="--", marker="o",
                                                                           mfc="none", ms=4)]
    labels += ["hardware (filled, solid)", "ridge at λ_fit (open, dashed)"]
    if log_x:
        ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}" for v in xs] if _numeric(xs) else [str(v) for v in xs])
    ax.minorticks_off()
    xlabel = key_label(xkey) + ("" if len(keys) == 1 else
                                "; " + ", ".join(short_name(k) for k in keys[1:]) + " varies with it")
    total = int(np.prod([ds.sizes[d] for d in others])) if others else 1
    ax.set(xlabel=xlabel, ylabel="test loss (1/2 MSE)")
    title = _legend_title(ds, others, dots=False)
    if total > len(combos):
        title += f"\nfirst {len(combos)} of {total} series"
    fig.legend(handles, labels, loc="outside upper center", ncol=2, title=title)
    return save_figure(fig, figure_path(out, f"test_loss_vs_{_file_name(dim)}", fmt))


def _ridge_figure(ds, out: Path, fmt: str) -> Path | None:
    from ..plotting.style import figure_path, save_figure, subplots

    if HW not in ds or RIDGE not in ds:
        return None
    fig, ax = subplots(width=3.5, height=3.3)
    pts = _scatter_points(ds, fig, ax, RIDGE, HW, mean=False)  # seeds differ in their data: no mean
    if pts:
        lo, hi = min(pts), max(pts)
        pad = 0.08 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 1e-12
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k:", lw=1, label="equal test loss")
        ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad))
    ax.set(xlabel="digital ridge test loss at λ_fit", ylabel="hardware test loss\n(time-averaged weights)")
    seeds = ds.sizes.get("seed", 1)
    title = _legend_title(ds, swept_dims(ds), dots=False).replace(f"mean ± sd over {seeds} seeds",
                                                                  f"one marker per seed ({seeds})")
    fig.legend(loc="outside upper center", ncol=_legend_columns(ax), title=title)
    return save_figure(fig, figure_path(out, "hardware_vs_ridge", fmt))


def _styled_figures(ds, out: Path, fmt: str) -> list[Path | None]:
    from ..plotting.style import styled

    @styled
    def draw() -> list[Path | None]:
        paths = [_lambda_figure(ds, out, fmt)]
        paths += [_dim_figure(ds, d, out, fmt) for d in swept_dims(ds)]
        return paths + [_ridge_figure(ds, out, fmt)]

    return draw()


def write_report(ds, out: str | Path, fmt: str = "png") -> list[Path]:
    """Write the standard figures and ``summary.md`` of a sweep dataset into ``out``.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep's results (:func:`memsim.workflows.results.collect` or ``open_results``).
    out : str or Path
        Output folder.
    fmt : str
        Figure format: ``"png"`` (300 dpi), ``"pdf"`` or ``"svg"``.

    Returns
    -------
    list of Path
        The files written.
    """
    from ..plotting.style import check_figure_format

    fmt = check_figure_format(fmt, "write_report", "fmt")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = _styled_figures(ds, out, fmt)
    table = out / "summary.md"
    tmp = table.with_name(".summary.md.tmp")
    tmp.write_text("# Sweep summary\n\nMean ± std over seeds.\n\n" + grid_table(ds))
    tmp.replace(table)
    return [p for p in paths if p is not None] + [table]


def add_report_arguments(parser) -> None:
    """Arguments of ``memsim report``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser, which receives the arguments.
    """
    parser.add_argument("dir", help="a sweep folder (from memsim sweep)")
    parser.add_argument("--out", default=None, help="output folder (default: DIR/report)")
    parser.add_argument("--format", default="png", choices=("png", "pdf", "svg"),
                        help="figure format (default png, 300 dpi)")


def report_main(args) -> int:
    """``memsim report DIR``: collects ``DIR/results.nc`` first when it is missing.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command-line arguments.

    Returns
    -------
    int
        The exit status (0 on success).
    """
    from ..plotting.style import check_figure_format
    from .results import collect, open_results, save_dataset

    fmt = check_figure_format(getattr(args, "format", "png"), "memsim report", "--format")  # before any work
    folder = Path(args.dir)
    path = folder / "results.nc"
    if not path.exists():
        save_dataset(collect(folder), path)
    ds = open_results(path)
    for p in write_report(ds, args.out or folder / "report", fmt):
        print(f"wrote {p}")
    return 0
