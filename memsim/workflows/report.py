"""Standard figures and a Markdown table from a sweep folder: ``memsim report DIR``.

Written to ``DIR/report/``: ``lambda_fit_vs_lambda_pred.png`` (mean ± std over seeds per grid
point), ``test_loss_vs_<dim>.png`` for every swept dimension, ``hardware_vs_ridge.png`` (the
hardware's test loss against that of ridge at ``lambda_fit``) and ``summary.md``.
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
    """Markdown table: one row per grid point, cells mean ± std over the seeds that finished."""
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


def _lambda_figure(ds, out: Path, plt) -> Path | None:
    from ..plotting.style import save_figure

    if "lambda_fit" not in ds or "lambda_pred" not in ds:
        return None
    fig, ax = plt.subplots(figsize=(5, 4.5))
    positive = []
    for k, (_, label, sub) in enumerate(grid_points(ds)):
        (mx, sx, nx), (my, sy, ny) = _stat(sub["lambda_pred"].values), _stat(sub["lambda_fit"].values)
        if nx and ny:
            ax.errorbar([mx], [my], xerr=[sx], yerr=[sy], fmt="o", ms=5, capsize=3, color=f"C{k % 10}", label=label)
            positive += [mx, my]
    if positive:
        lo, hi = min(positive), max(positive)
        lo, hi = (lo / 1.5, hi * 1.5) if lo > 0 else (lo - 0.1 * abs(hi), hi + 0.1 * abs(hi))
        ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="λ_fit = λ_pred")
        if lo > 0:
            ax.set(xscale="log", yscale="log")
    ax.set(xlabel="λ_pred (device physics)", ylabel="λ_fit (fitted to the trained weights)",
           title="fitted vs predicted penalty (mean ± std over seeds)")
    ax.legend(fontsize=6)
    return save_figure(fig, out / "lambda_fit_vs_lambda_pred.png")


def _numeric(values: np.ndarray) -> bool:
    return np.asarray(values).dtype.kind in "iuf"


def _dim_figure(ds, dim: str, out: Path, plt) -> Path:
    from ..plotting.style import save_figure

    keys = dim_keys(ds, dim)
    xkey = keys[0]
    xs = ds[xkey].values
    x = xs.astype(float) if _numeric(xs) else np.arange(len(xs), dtype=float)
    others = [d for d in swept_dims(ds) if d != dim]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    combos = list(itertools.product(*[range(ds.sizes[d]) for d in others]))
    for k, idx in enumerate(combos[:10]):
        sub = ds.isel(dict(zip(others, idx)))
        label = _label(ds, others, idx) if others else "hardware (time-averaged weights)"
        for var, style in ((HW, "-o"), (RIDGE, "--")):
            if var not in sub:
                continue
            stats = [_stat(sub[var].isel({dim: i}).values) for i in range(len(x))]
            if not any(s[2] for s in stats):
                continue
            ax.errorbar(x, [s[0] for s in stats], yerr=[s[1] for s in stats], fmt=style, ms=4, capsize=3,
                        color=f"C{k % 10}", label=label if var == HW else None)
    ax.plot([], [], "k--", label="ridge at λ_fit (dashed)")
    if not _numeric(xs):
        ax.set_xticks(x, [str(v) for v in xs])
    ax.set(xlabel=" / ".join(keys), ylabel="test loss (1/2 MSE)",
           title=f"test loss vs {dim}" + (f" (first {len(combos[:10])} of {len(combos)} curves)"
                                          if len(combos) > 10 else ""))
    ax.legend(fontsize=6)
    return save_figure(fig, out / f"test_loss_vs_{_file_name(dim)}.png")


def _ridge_figure(ds, out: Path, plt) -> Path | None:
    from ..plotting.style import save_figure

    if HW not in ds or RIDGE not in ds:
        return None
    fig, ax = plt.subplots(figsize=(5, 4.5))
    pts = []
    for k, (_, label, sub) in enumerate(grid_points(ds)):
        (mx, sx, nx), (my, sy, ny) = _stat(sub[RIDGE].values), _stat(sub[HW].values)
        if nx and ny:
            ax.errorbar([mx], [my], xerr=[sx], yerr=[sy], fmt="o", ms=5, capsize=3, color=f"C{k % 10}", label=label)
            pts += [mx, my]
    if pts:
        lo, hi = min(pts), max(pts)
        pad = 0.05 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 1e-12
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k:", lw=1, label="equal test loss")
    ax.set(xlabel="digital ridge test loss at λ_fit", ylabel="hardware test loss (time-averaged weights)",
           title="hardware vs ridge (mean ± std over seeds)")
    ax.legend(fontsize=6)
    return save_figure(fig, out / "hardware_vs_ridge.png")


def write_report(ds, out: str | Path) -> list[Path]:
    """Write the standard figures and ``summary.md`` of a sweep dataset into ``out``.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep's results (:func:`memsim.workflows.results.collect` or ``open_results``).
    out : str or Path
        Output folder.

    Returns
    -------
    list of Path
        The files written.
    """
    from ..plotting.style import pyplot

    plt = pyplot()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [_lambda_figure(ds, out, plt)]
    paths += [_dim_figure(ds, d, out, plt) for d in swept_dims(ds)]
    paths.append(_ridge_figure(ds, out, plt))
    table = out / "summary.md"
    tmp = table.with_name(".summary.md.tmp")
    tmp.write_text("# Sweep summary\n\nMean ± std over seeds.\n\n" + grid_table(ds))
    tmp.replace(table)
    return [p for p in paths if p is not None] + [table]


def add_report_arguments(parser) -> None:
    """Arguments of ``memsim report``."""
    parser.add_argument("dir", help="a sweep folder (from memsim sweep)")
    parser.add_argument("--out", default=None, help="output folder (default: DIR/report)")


def report_main(args) -> int:
    """``memsim report DIR``: collects ``DIR/results.nc`` first when it is missing."""
    from .results import collect, open_results, save_dataset

    folder = Path(args.dir)
    path = folder / "results.nc"
    if not path.exists():
        save_dataset(collect(folder), path)
    ds = open_results(path)
    for p in write_report(ds, args.out or folder / "report"):
        print(f"wrote {p}")
    return 0
