"""The figures of one run (``memsim run``): learning curves, weights, hardware on the ridge curve, lambda_i.

matplotlib is imported lazily (:mod:`memsim.plotting.style`); every figure is written in the format
``fmt`` names (``png``, ``pdf``, ``svg``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .style import OKABE_ITO, figure_path, save_figure, styled, subplots

__all__ = ["run_figures", "network_figures", "ridge_curve", "run_figure_names", "network_figure_names",
           "loss_axis", "log_axis", "epoch_axis", "window_span"]

#: File stems of the figures of a linear-regression run.
RUN_FIGURES = ("curves", "weights", "ridge")
#: File stems of the figures of a network run (``lambda`` only when the plug-in lambda_i are finite).
NETWORK_FIGURES = ("curves", "lambda")


def run_figure_names(fmt: str = "png") -> list[str]:
    """File names of the figures :func:`run_figures` writes.

    Parameters
    ----------
    fmt : str
        ``"png"``, ``"pdf"`` or ``"svg"``.

    Returns
    -------
    list of str
        E.g. ``["curves.png", "weights.png", "ridge.png"]``.
    """
    return [figure_path(".", s, fmt).name for s in RUN_FIGURES]


def network_figure_names(fmt: str = "png") -> list[str]:
    """File names of the figures :func:`network_figures` may write.

    Parameters
    ----------
    fmt : str
        ``"png"``, ``"pdf"`` or ``"svg"``.

    Returns
    -------
    list of str
        E.g. ``["curves.png", "lambda.png"]``.
    """
    return [figure_path(".", s, fmt).name for s in NETWORK_FIGURES]


def ridge_curve(X, y, X_test, y_test, lambdas):
    """Test loss of ridge over ``lambdas`` (mean loss 1/2 MSE).

    Parameters
    ----------
    X, y : array_like
        Training design matrix (n, d) and targets (n,).
    X_test, y_test : array_like
        Test design matrix and targets.
    lambdas : array_like
        Penalties (memsim's convention ``1/(2n)||Xw - y||^2 + lambda/2 ||w||^2``).

    Returns
    -------
    numpy.ndarray
        The test loss at every lambda.
    """
    from ..compare.ridge import loss, ridge_path

    return np.array([loss(X_test, y_test, w) for w in ridge_path(X, y, lambdas)])


def loss_axis(ax, values, axis: str = "y") -> None:
    """A loss axis without ``9x10^-1``-style labels: logarithmic with 1-2-5 labels over more than a decade, else linear.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes.
    values : array_like
        The values drawn on that axis (non-finite ones are ignored).
    axis : str
        ``"x"`` or ``"y"``.
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0 or v.max() / v.min() < 10.0:
        return
    log_axis(ax, axis)


def log_axis(ax, axis: str = "y") -> None:
    """A logarithmic axis labelled at 1, 2 and 5 times powers of ten as plain numbers, minor ticks unlabelled.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes.
    axis : str
        ``"x"`` or ``"y"``.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    which = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    which.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    which.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    which.set_minor_formatter(NullFormatter())


def epoch_axis(ax, epochs) -> None:
    """Integer epoch ticks on the x axis, from 0 to the last epoch.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes.
    epochs : array_like
        The epochs drawn.
    """
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.set_xlim(0, max(float(np.max(epochs)), 1.0))


def window_span(ax, summary: dict[str, Any], epochs, legend: bool = True) -> None:
    """Shade the averaging window (the last ``1 - train.average_from`` of training) and label it.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes.
    summary : dict
        A run summary (``provenance.config.train.average_from``).
    epochs : array_like
        The epochs drawn.
    legend : bool
        Give the span a legend entry.
    """
    train = summary.get("provenance", {}).get("config", {}).get("train", {})
    start = train.get("average_from")
    if start is None:
        return
    last = float(np.max(epochs))
    ax.axvspan(float(start) * last, last, color="0.88", lw=0, zorder=0,
               label=f"averaging window (last {100 * (1 - float(start)):.0f} %)" if legend else "_window")


def _positive(v: Any) -> bool:
    return v is not None and np.isfinite(v) and v > 0


@styled
def run_figures(summary: dict[str, Any], arrays: dict[str, Any], out: Path, fmt: str = "png") -> list[Path]:
    """The figures of a linear-regression run: learning curves, weights vs predictions, hardware on the ridge curve.

    Parameters
    ----------
    summary : dict
        The run's summary (:func:`memsim.workflows.run.run_summary`).
    arrays : dict
        The run's arrays (``data``, ``X``, ``Xt``, ``keep``).
    out : Path
        Output folder.
    fmt : str
        ``"png"``, ``"pdf"`` or ``"svg"``.

    Returns
    -------
    list of Path
        ``curves``, ``weights`` and ``ridge`` in format ``fmt``.
    """
    from ..compare.ridge import ridge

    out = Path(out)
    names = [figure_path(out, s, fmt) for s in RUN_FIGURES]
    keep = arrays["keep"]
    X, Xt = arrays["X"][:, keep], arrays["Xt"][:, keep]
    y, yt = arrays["data"].y_train[:, 0], arrays["data"].y_test[:, 0]
    paths = []

    fig, ax = subplots(width=3.5, height=2.6)
    c = summary["curves"]
    window_span(ax, summary, c["epoch"])
    every = max(1, len(c["epoch"]) // 15)  # markers on at most ~15 epochs
    ax.plot(c["epoch"], c["train_loss"], "-o", ms=2.5, markevery=every, color=OKABE_ITO["blue"], label="train")
    ax.plot(c["epoch"], c["test_loss"], "--s", ms=2.5, markevery=every, color=OKABE_ITO["vermillion"], label="test")
    ax.axhline(summary["ols_test_loss"], color="k", ls=":", lw=1, label="OLS test")
    loss_axis(ax, list(c["train_loss"]) + list(c["test_loss"]) + [summary["ols_test_loss"]])
    epoch_axis(ax, c["epoch"])
    ax.set(xlabel="epoch", ylabel="loss (1/2 MSE)")
    fig.legend(loc="outside upper center", ncol=2)
    paths.append(save_figure(fig, names[0]))

    fig, ax = subplots(width=3.5, height=3.5)
    m = np.asarray(summary["weights_mean"])[keep]
    lam = summary["lambda_fit"]
    ax.scatter(summary["w_ols"], m, s=16, facecolor="none", edgecolor=OKABE_ITO["blue"], label="vs OLS")
    ax.scatter(summary["w_pred"], m, s=16, marker="x", color=OKABE_ITO["vermillion"],
               label="vs Tikhonov prediction w_pred")
    if _positive(lam):
        ax.scatter(ridge(X, y, lam), m, s=22, marker="+", color=OKABE_ITO["green"],
                   label=f"vs ridge at λ_fit = {lam:.3g}")
    values = np.abs(np.concatenate([np.ravel(m), np.ravel(np.asarray(summary["w_ols"], dtype=float))]))
    values = values[np.isfinite(values)]
    lim = float(np.max(values)) * 1.1 if values.size and np.max(values) > 0 else 1.0  # NaN entries: not drawn
    ax.plot([-lim, lim], [-lim, lim], "k:", lw=1, label="equal")
    ax.set(xlabel="digital weight", ylabel="hardware weight (time average)", xlim=(-lim, lim), ylim=(-lim, lim))
    fig.legend(loc="outside upper center", ncol=2)
    paths.append(save_figure(fig, names[1]))

    fig, ax = subplots(width=3.5, height=2.7)
    lams = np.logspace(-4, 1, 80)
    curve = ridge_curve(X, y, Xt, yt, lams)
    ax.plot(lams, curve, color="k", label="digital ridge")
    ax.axhline(summary["test_loss_mean_weights"], color=OKABE_ITO["blue"], ls="-.",
               label="hardware (time-averaged weights)")
    marks = (("lambda_fit", "λ_fit", OKABE_ITO["vermillion"], "--", "o", "full"),
             ("lambda_pred", "λ_pred", OKABE_ITO["green"], ":", "s", "none"))
    for key, name, color, ls, marker, fill in marks:
        v = summary.get(key)
        if _positive(v):
            ax.axvline(v, color=color, ls=ls, lw=1.4)
            at = ridge_curve(X, y, Xt, yt, [v])[0]
            ax.plot([v], [at], marker=marker, ms=7 if fill == "none" else 4.5, mfc=color if fill == "full" else "none",
                    mec=color, mew=1.3, color=color, ls=ls, lw=1.4, label=f"{name} = {v:.3g}")
    ax.set(xscale="log", xlabel="ridge penalty λ", ylabel="test loss (1/2 MSE)")
    fig.legend(loc="outside upper center", ncol=2)
    paths.append(save_figure(fig, names[2]))
    return paths


@styled
def network_figures(summary: dict[str, Any], arrays: dict[str, Any], out: str | Path,
                    fmt: str = "png") -> list[Path]:
    """Learning curves (loss, accuracy; analog vs digital) and per-layer histograms of the plug-in lambda_i.

    Parameters
    ----------
    summary : dict
        The network run's summary.
    arrays : dict
        The run's arrays (``lambda_plugin``: one array per layer).
    out : str or Path
        Output folder.
    fmt : str
        ``"png"``, ``"pdf"`` or ``"svg"``.

    Returns
    -------
    list of Path
        ``curves`` and, when every plug-in lambda_i is finite, ``lambda``.
    """
    out = Path(out)
    names = [figure_path(out, s, fmt) for s in NETWORK_FIGURES]
    c = summary["curves"]
    has_acc = any(np.isfinite(np.asarray(c["test_accuracy"], dtype=float)))
    fig, axes = subplots(2 if has_acc else 1, 1, width=3.5, height=4.4 if has_acc else 2.6, sharex=True)
    a1 = np.atleast_1d(axes)[0]
    styles = (("train", "-", "o", OKABE_ITO["blue"]), ("test", "--", "s", OKABE_ITO["vermillion"]),
              ("digital test (no decay)", ":", None, "k"))
    window_span(a1, summary, c["epoch"])
    for (name, ls, mk, color), key in zip(styles, ("train_loss", "test_loss", "test_loss_digital")):
        a1.plot(c["epoch"], c[key], ls=ls, marker=mk, ms=2.5, markevery=max(1, len(c["epoch"]) // 15), color=color,
                label=name)
    loss_axis(a1, list(c["train_loss"]) + list(c["test_loss"]) + list(c["test_loss_digital"]))
    epoch_axis(a1, c["epoch"])
    a1.set(xlabel="" if has_acc else "epoch", ylabel=f"loss ({summary['loss']})")
    if has_acc:
        a2 = axes[1]
        window_span(a2, summary, c["epoch"], legend=False)  # one legend entry for the window
        for (name, ls, mk, color), key in zip(styles, ("train_accuracy", "test_accuracy", "test_accuracy_digital")):
            a2.plot(c["epoch"], c[key], ls=ls, marker=mk, ms=2.5, markevery=max(1, len(c["epoch"]) // 15),
                    color=color, label="_" + name)
        epoch_axis(a2, c["epoch"])
        a2.set(xlabel="epoch", ylabel="accuracy")
    fig.legend(loc="outside upper center", ncol=2)
    paths = [save_figure(fig, names[0])]
    lam = arrays.get("lambda_plugin") or []
    bias = bool(summary["provenance"]["config"]["model"]["bias"])
    if lam and all(np.all(np.isfinite(L)) for L in lam):
        fig, ax = subplots(width=3.5, height=2.8)
        values = []
        for L in lam:
            v = (np.asarray(L)[:, :-1] if bias else np.asarray(L)).ravel()
            values.append(v)
        positive = np.concatenate([v[v > 0] for v in values]) if values else np.array([])
        if positive.size:
            bins = np.histogram_bin_edges(np.log10(positive), bins=30)
            for k, v in enumerate(values):
                zero = int(np.sum(v <= 0))
                label = f"layer {k}: {int(np.sum(v > 0))} weights" + (f" ({zero} with λ_i = 0 not shown)"
                                                                      if zero else "")
                color = (OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["green"], OKABE_ITO["purple"])[k % 4]
                ax.hist(np.log10(v[v > 0]), bins=bins, histtype="step", lw=1.4, color=color,
                        ls=("-", "--", ":", "-.")[k % 4], label=label)
        ax.set(xlabel="plug-in penalty log10 λ_i", ylabel="number of weights")
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.legend(loc="outside upper center", ncol=1,
                   title="bias weights left out" if bias else None)
        paths.append(save_figure(fig, names[1]))
    return paths
