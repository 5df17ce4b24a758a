"""The figures of ``memsim demo``: hardware on the ridge curve, lambda_fit vs lambda_pred, the noise study."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .figures import log_axis, ridge_curve
from .style import OKABE_ITO, figure_path, pyplot, save_figure, styled, subplots

__all__ = ["demo_figures", "DEMO_FIGURES"]

#: File stems of the demo's figures.
DEMO_FIGURES = ("hardware_vs_ridge", "lambda_fit_vs_pred", "noise")
#: Left end of the demo's logarithmic lambda axis; a run fitted below it is drawn in the lambda = 0 panel.
LAMBDA_MIN = 1e-3


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _broken_axis_marks(ax_left, ax_right) -> None:
    """The two slanted strokes of a broken x axis between a narrow ``lambda = 0`` panel and the log axis."""
    d = 0.012
    kw = dict(color="k", lw=0.8, clip_on=False)
    ax_left.plot([1 - 4 * d, 1 + 4 * d], [-d, d], transform=ax_left.transAxes, **kw)
    ax_right.plot([-d / 2, d / 2], [-d, d], transform=ax_right.transAxes, **kw)


def _hardware_vs_ridge(records: list[dict[str, Any]], path: Path) -> Path:
    plt = pyplot()
    arrays = records[0]["_arrays"]
    data = arrays["data"]
    X, Xt, y, yt = data.X_train, data.X_test, data.y_train[:, 0], data.y_test[:, 0]
    rng_rec = [r for r in records if r["group"] == "range"]
    noise_rec = [r for r in records if r["group"] == "noise"]
    control = [r for r in records if r["group"] == "control"]

    fig, (a0, ax) = subplots(1, 2, width=3.5, height=3.3, sharey=True,
                             gridspec_kw={"width_ratios": [1, 9], "wspace": 0.02})
    lams = np.logspace(np.log10(LAMBDA_MIN), 1, 120)
    ax.plot(lams, ridge_curve(X, y, Xt, yt, lams), color="k", lw=1.4, label="digital ridge")
    ols = records[0]["ols_test_loss"]
    a0.plot([0.0], [ols], marker="*", ms=8, color="k", ls="none", label="OLS (ridge, λ = 0)")
    w = np.array([r["w_max"] for r in rng_rec], dtype=float)
    cmap = plt.matplotlib.colors.ListedColormap(plt.get_cmap("viridis")(np.linspace(0.0, 0.85, 256)))  # no pale yellow
    norm = plt.matplotlib.colors.LogNorm(vmin=w.min(), vmax=w.max()) if len(w) > 1 and w.min() > 0 else None
    colors = [cmap(norm(v)) if norm is not None else OKABE_ITO["blue"] for v in w]
    fit_ok = [(r, c) for r, c in zip(rng_rec, colors) if _finite(r["lambda_fit"]) and r["lambda_fit"] > 0]
    ax.scatter([r["lambda_fit"] for r, _ in fit_ok], [r["test_loss_mean_weights"] for r, _ in fit_ok],
               c=[c for _, c in fit_ok], s=30, zorder=3, edgecolor="k", lw=0.4,
               label="in place, at λ_fit")
    pred_ok = [(r, c) for r, c in zip(rng_rec, colors) if _finite(r["lambda_pred"]) and r["lambda_pred"] > 0]
    ax.scatter([r["lambda_pred"] for r, _ in pred_ok], [r["test_loss_mean_weights"] for r, _ in pred_ok],
               facecolor="none", edgecolor=[c for _, c in pred_ok], s=70, lw=1.0, zorder=3,
               label="same run, at λ_pred")
    if noise_rec:
        ax.scatter([r["lambda_fit"] for r in noise_rec], [r["test_loss_mean_weights"] for r in noise_rec],
                   marker="x", color=OKABE_ITO["vermillion"], s=30, zorder=4,
                   label="noise: dw_min_std " + "–".join(f"{r['dw_min_std']:g}" for r in
                                                              (noise_rec[0], noise_rec[-1])))
    for r in control:
        lam = r["lambda_fit"]
        if _finite(lam) and lam >= LAMBDA_MIN:
            ax.scatter([lam], [r["test_loss_mean_weights"]], marker="s", color=OKABE_ITO["orange"], s=30, zorder=4,
                       label=f"constant step, λ_fit = {lam:.2g}")
        else:
            a0.plot([0.0], [r["test_loss_mean_weights"]], marker="s", ms=5.5, color=OKABE_ITO["orange"], ls="none",
                    label="constant step, λ_fit = " + (f"{lam:.1g} (at 0)" if _finite(lam) and lam > 0
                                                       else "0"))
    a0.set_xlim(-1, 1)
    a0.set_xticks([0.0], ["0"])
    a0.spines["right"].set_visible(False)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", left=False)
    _broken_axis_marks(a0, ax)
    ax.set_xscale("log")
    ax.set_xlim(LAMBDA_MIN, 10)
    a0.set_ylabel("test loss (1/2 MSE)")
    ax.set_xlabel("penalty λ (log axis; λ = 0 at left, broken axis)")
    if norm is not None:
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        cb = fig.colorbar(sm, ax=ax, pad=0.02, fraction=0.06)
        cb.set_label("w_max (device range)")
        cb.set_ticks(w, labels=[f"{v:g}" for v in w])
        cb.ax.minorticks_off()
    h0, l0 = a0.get_legend_handles_labels()
    h1, l1 = ax.get_legend_handles_labels()
    fig.legend(h1 + h0, l1 + l0, loc="outside upper center", ncol=2)
    return save_figure(fig, path)


def _lambda_fit_vs_pred(records: list[dict[str, Any]], path: Path) -> Path:
    rng_rec = [r for r in records if r["group"] == "range" and r["lambda_fit"] > 0 and r["lambda_pred"] > 0]
    noise_rec = [r for r in records if r["group"] == "noise" and r["lambda_fit"] > 0 and r["lambda_pred"] > 0]
    fig, ax = subplots(width=3.5, height=3.3)
    ax.scatter([r["lambda_pred"] for r in rng_rec], [r["lambda_fit"] for r in rng_rec], s=22,
               color=OKABE_ITO["blue"], label="range sweep (w_max)")
    ax.scatter([r["lambda_pred"] for r in noise_rec], [r["lambda_fit"] for r in noise_rec], marker="x", s=26,
               color=OKABE_ITO["vermillion"], label="noise sweep (dw_min_std)")
    both = [r[k] for r in rng_rec + noise_rec for k in ("lambda_fit", "lambda_pred")]
    if both:
        lim = [0.8 * min(both), 1.25 * max(both)]
        ax.plot(lim, lim, "k:", lw=1, label="λ_fit = λ_pred")
        if lim[1] / lim[0] >= 10:
            log_axis(ax, "x")
            log_axis(ax, "y")
        ax.set(xlim=lim, ylim=lim)
    ax.set(xlabel="λ_pred (device physics + data)", ylabel="λ_fit (fitted to the trained weights)")
    fig.legend(loc="outside upper center", ncol=2)
    return save_figure(fig, path)


def _noise(records: list[dict[str, Any]], path: Path) -> Path:
    noise_rec = [r for r in records if r["group"] == "noise"]
    s = [r["dw_min_std"] for r in noise_rec]
    fig, (ax, ax2) = subplots(2, 1, width=3.5, height=3.6, sharex=True)
    fit = [r["lambda_fit"] for r in noise_rec]
    pred = [r["lambda_pred"] for r in noise_rec]
    ax.plot(s, fit, "-o", color=OKABE_ITO["blue"], label="λ_fit (fitted)")
    ax.plot(s, pred, "--s", mfc="none", ms=6, color=OKABE_ITO["green"], label="λ_pred (predicted)")
    top = max([v for v in fit + pred if _finite(v)] + [1e-12])
    ax.set_ylim(0, 1.35 * top)
    ax.set_ylabel("penalty λ")
    ax.legend(loc="lower center", ncol=2)
    var = [r.get("weights_var_mean", math.nan) for r in noise_rec]
    ax2.plot(s, var, "-^", color=OKABE_ITO["vermillion"])
    ax2.set_ylim(0, 1.15 * max([v for v in var if _finite(v)] + [1e-12]))
    ax2.set(xlabel="cycle-to-cycle noise dw_min_std (in steps)", ylabel="weight variance\nin the window (w²)")
    ax2.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    return save_figure(fig, path)


@styled
def demo_figures(records: list[dict[str, Any]], out: Path, fmt: str = "png") -> list[Path]:
    """The demo's figures: hardware on the ridge curve, lambda_fit vs lambda_pred, the noise study.

    Parameters
    ----------
    records : list of dict
        The demo's runs (:func:`memsim.workflows.studies.run_demo`; the first holds ``_arrays``, the
        noise runs ``weights_var_mean``).
    out : Path
        Output folder.
    fmt : str
        ``"png"``, ``"pdf"`` or ``"svg"``.

    Returns
    -------
    list of Path
        ``hardware_vs_ridge``, ``lambda_fit_vs_pred`` and ``noise`` in format ``fmt``.
    """
    paths = [figure_path(out, s, fmt) for s in DEMO_FIGURES]
    return [_hardware_vs_ridge(records, paths[0]), _lambda_fit_vs_pred(records, paths[1]), _noise(records, paths[2])]
