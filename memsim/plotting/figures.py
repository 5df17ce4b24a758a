"""Figures (matplotlib, imported lazily; the Agg backend when no display is set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .style import pyplot, save_figure

__all__ = ["run_figures", "network_figures", "ridge_curve"]


def ridge_curve(X, y, X_test, y_test, lambdas):
    """Test loss of ridge over ``lambdas`` (mean loss 1/2 MSE)."""
    from ..compare.ridge import loss, ridge_path

    return np.array([loss(X_test, y_test, w) for w in ridge_path(X, y, lambdas)])


def run_figures(summary: dict[str, Any], arrays: dict[str, Any], out: Path) -> list[Path]:
    """The figures of a linear-regression run: learning curves, weights vs predictions, hardware on the ridge curve."""
    from ..compare.ridge import ridge

    plt = pyplot()
    out = Path(out)
    keep = arrays["keep"]
    X, Xt = arrays["X"][:, keep], arrays["Xt"][:, keep]
    y, yt = arrays["data"].y_train[:, 0], arrays["data"].y_test[:, 0]
    paths = []

    fig, ax = plt.subplots(figsize=(5, 3.5))
    c = summary["curves"]
    ax.plot(c["epoch"], c["train_loss"], label="train")
    ax.plot(c["epoch"], c["test_loss"], label="test")
    ax.axhline(summary["ols_test_loss"], color="k", ls=":", lw=1, label="OLS test")
    ax.set(xlabel="epoch", ylabel="loss (1/2 MSE)", yscale="log", title="in-place training")
    ax.legend()
    paths.append(save_figure(fig, out / "curves.png"))

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    m = np.asarray(summary["weights_mean"])[keep]
    lam = summary["lambda_fit"]
    ax.scatter(summary["w_ols"], m, s=14, label="vs OLS")
    ax.scatter(summary["w_pred"], m, s=14, marker="x", label="vs Tikhonov prediction")
    if np.isfinite(lam):
        ax.scatter(ridge(X, y, lam), m, s=14, marker="+", label=f"vs ridge(λ_fit={lam:.3g})")
    lim = np.max(np.abs(np.concatenate([m, summary["w_ols"]]))) * 1.1
    ax.plot([-lim, lim], [-lim, lim], "k:", lw=1)
    ax.set(xlabel="digital weight", ylabel="hardware weight (time average)", title="weights")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "weights.png"))

    fig, ax = plt.subplots(figsize=(5, 3.5))
    lams = np.logspace(-4, 1, 80)
    ax.plot(lams, ridge_curve(X, y, Xt, yt, lams), color="k", label="digital ridge")
    ax.axhline(summary["test_loss_mean_weights"], color="C0", ls="--", label="hardware (time average)")
    for key, style in (("lambda_fit", "C1"), ("lambda_pred", "C2")):
        if summary.get(key) is not None and np.isfinite(summary[key]) and summary[key] > 0:
            ax.axvline(summary[key], color=style, ls=":", label=key)
    ax.set(xscale="log", xlabel="λ", ylabel="test loss", title="hardware vs ridge")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "ridge.png"))
    return paths


def network_figures(summary: dict[str, Any], arrays: dict[str, Any], out: str | Path) -> list[Path]:
    """Learning curves (loss, accuracy; analog vs digital) and per-layer histograms of the plug-in lambda_i."""
    plt = pyplot()
    out = Path(out)
    c = summary["curves"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.plot(c["epoch"], c["train_loss"], label="train")
    a1.plot(c["epoch"], c["test_loss"], label="test")
    a1.plot(c["epoch"], c["test_loss_digital"], "k:", label="digital test (no decay)")
    a1.set(xlabel="epoch", ylabel=f"loss ({summary['loss']})", yscale="log", title="in-place training")
    a1.legend(fontsize=8)
    if any(np.isfinite(c["test_accuracy"])):
        a2.plot(c["epoch"], c["train_accuracy"], label="train")
        a2.plot(c["epoch"], c["test_accuracy"], label="test")
        a2.plot(c["epoch"], c["test_accuracy_digital"], "k:", label="digital test")
        a2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        a2.legend(fontsize=8)
    paths = [save_figure(fig, out / "curves.png")]
    lam = arrays.get("lambda_plugin") or []
    bias = bool(summary["provenance"]["config"]["model"]["bias"])
    if lam and all(np.all(np.isfinite(L)) for L in lam):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for k, L in enumerate(lam):
            v = (np.asarray(L)[:, :-1] if bias else np.asarray(L)).ravel()
            v = v[v > 0]
            if v.size:
                ax.hist(np.log10(v), bins=40, alpha=0.6, label=f"layer {k}")
        ax.set(xlabel="log10 lambda_i (plug-in)", ylabel="weights", title="per-weight penalty by layer")
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, out / "lambda.png"))
    return paths
