"""Studies built from many runs: ``memsim demo``, the headline hardware-versus-ridge study.

The demo trains the README example in place while varying the device range ``w_max`` (with
``w_min = -w_max``) and the cycle-to-cycle noise, plus a constant-step control, and compares every
run with digital ridge regression on the same data: the fitted penalty ``lambda_fit`` against the
one predicted from device physics ``lambda_pred``, and the hardware's test loss against the ridge
test-loss curve.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np

from .config import resolve_config
from .io import write_json_atomic
from .run import run_summary

__all__ = ["BASE_CONFIG", "demo_configs", "run_demo", "demo_figures", "demo_table", "demo_main"]

#: The README example (``experiments/readme_example/config.toml``).
BASE_CONFIG: dict[str, Any] = {
    "seed": 1,
    "backend": "numba",
    "task": {"kind": "linear_regression", "n_train": 100, "n_test": 2000, "n_features": 20, "noise_std": 1.0},
    "device": {"kind": "soft_bounds", "w_max": 1.0, "w_min": -1.0, "dw_min": 0.001, "dw_min_std": 0.3},
    "update": {"kind": "stochastic_rounding"},
    "train": {"lr": 0.005, "epochs": 300, "batch_size": 1, "average_from": 0.5},
}
W_MAX = (0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0)
SIGMAS = (0.0, 0.5, 1.0, 2.0)


def _variant(base: dict[str, Any], **device: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(base)
    cfg["device"].update(device)
    return cfg


def demo_configs(smoke: bool = False, backend: str = "numba") -> list[tuple[str, str, dict[str, Any]]]:
    """(group, label, raw config) of every run of the demo."""
    base = copy.deepcopy(BASE_CONFIG)
    base["backend"] = backend
    w_maxes, sigmas = W_MAX, SIGMAS
    if smoke:
        base["task"].update(n_test=200)
        base["train"]["epochs"] = 4
        w_maxes, sigmas = (0.8, 2.0), (0.0, 1.0)
    runs = [("range", f"w_max={w:g}", _variant(base, w_max=w, w_min=-w)) for w in w_maxes]
    runs += [("noise", f"dw_min_std={s:g}", _variant(base, dw_min_std=s)) for s in sigmas]
    control = _variant(base)
    control["device"] = {**base["device"], "kind": "constant_step"}
    runs.append(("control", "constant_step", control))
    return runs


def run_demo(smoke: bool = False, backend: str = "numba", progress: bool | None = None) -> list[dict[str, Any]]:
    """Run every configuration of the demo; returns one record per run (summary plus labels)."""
    configs = [(g, label, resolve_config(raw)) for g, label, raw in demo_configs(smoke, backend)]
    show = True if progress is None else bool(progress)
    records = []
    iterator = configs
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(configs, desc="memsim demo", unit="run")
        iterator = bar
    data = None
    for group, label, config in iterator:
        summary, arrays = run_summary(config, progress=False)
        data = data or arrays
        records.append({"group": group, "label": label, "w_max": config.device.w_max,
                        "dw_min_std": config.device.dw_min_std, "device": config.device.kind, **summary})
    if bar is not None:
        bar.close()
    records[0]["_arrays"] = data
    return records


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def demo_table(records: list[dict[str, Any]]) -> str:
    """Markdown table of the demo runs."""
    cols = [("run", "label"), ("device", "device"), ("λ_fit", "lambda_fit"), ("λ_pred", "lambda_pred"),
            ("λ_plugin", "lambda_plugin"), ("ridge-path dist.", "ridge_path_distance"),
            ("Tikhonov-pred. dist.", "tikhonov_pred_distance"), ("test loss (hw, mean w)", "test_loss_mean_weights"),
            ("ridge test loss at λ_fit", "ridge_test_loss_at_lambda_fit"), ("OLS test loss", "ols_test_loss"),
            ("weight jitter var", "weights_var_mean")]
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in records:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for _, k in cols) + " |")
    return "\n".join(lines) + "\n"


def demo_figures(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """The demo's figures: hardware on the ridge curve, lambda_fit vs lambda_pred, the noise study."""
    from ..plotting.figures import ridge_curve
    from ..plotting.style import pyplot, save_figure

    plt = pyplot()
    arrays = records[0]["_arrays"]
    data = arrays["data"]
    X, Xt, y, yt = data.X_train, data.X_test, data.y_train[:, 0], data.y_test[:, 0]
    rng_rec = [r for r in records if r["group"] == "range"]
    noise_rec = [r for r in records if r["group"] == "noise"]
    control = [r for r in records if r["group"] == "control"]
    paths = []

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    lams = np.logspace(-3, 1, 120)
    ax.plot(lams, ridge_curve(X, y, Xt, yt, lams), color="k", lw=1.5, label="digital ridge, test loss vs λ")
    ax.axhline(records[0]["ols_test_loss"], color="k", ls=":", lw=1, label="OLS (λ = 0)")
    cmap = plt.get_cmap("viridis")
    for k, r in enumerate(rng_rec):
        color = cmap(k / max(len(rng_rec) - 1, 1))
        ax.scatter([r["lambda_fit"]], [r["test_loss_mean_weights"]], color=color, s=45, zorder=3,
                   label=f"in-place, w_max={r['w_max']:g}")
        ax.scatter([r["lambda_pred"]], [r["test_loss_mean_weights"]], facecolor="none", edgecolor=color, s=80,
                   zorder=3)
    for r in noise_rec:
        ax.scatter([r["lambda_fit"]], [r["test_loss_mean_weights"]], marker="x", color="C3", s=40, zorder=4)
    ax.scatter([], [], marker="x", color="C3", label="w_max=1, dw_min_std in " + ", ".join(
        f"{r['dw_min_std']:g}" for r in noise_rec))
    ax.scatter([], [], facecolor="none", edgecolor="gray", s=80, label="same run placed at λ_pred")
    for r in control:
        lam = max(r["lambda_fit"], lams[0])
        ax.scatter([lam], [r["test_loss_mean_weights"]], marker="s", color="C1", s=40, zorder=4,
                   label=f"constant-step control (λ_fit={r['lambda_fit']:.2g})")
    ax.set(xscale="log", xlabel="λ  (hardware runs placed at λ_fit; open circles at λ_pred)",
           ylabel="test loss (1/2 MSE)", title="In-place training sits on the ridge curve")
    ax.legend(fontsize=7, loc="upper left")
    paths.append(save_figure(fig, out / "hardware_vs_ridge.png"))

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    fit = np.array([r["lambda_fit"] for r in rng_rec + noise_rec])
    pred = np.array([r["lambda_pred"] for r in rng_rec + noise_rec])
    ax.scatter(pred[:len(rng_rec)], fit[:len(rng_rec)], label="range sweep (w_max)")
    ax.scatter(pred[len(rng_rec):], fit[len(rng_rec):], marker="x", color="C3", label="noise sweep")
    lim = [0.8 * min(fit.min(), pred.min()), 1.25 * max(fit.max(), pred.max())]
    ax.plot(lim, lim, "k:", lw=1, label="λ_fit = λ_pred")
    ax.set(xscale="log", yscale="log", xlabel="λ_pred (device physics + data)", ylabel="λ_fit (trained weights)",
           title="Predicted vs fitted penalty")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "lambda_fit_vs_pred.png"))

    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    s = [r["dw_min_std"] for r in noise_rec]
    ax.plot(s, [r["lambda_fit"] for r in noise_rec], "o-", label="λ_fit")
    ax.plot(s, [r["lambda_pred"] for r in noise_rec], "s--", label="λ_pred")
    ax.set(xlabel="cycle-to-cycle noise dw_min_std", ylabel="λ", ylim=(0, None),
           title="Noise adds jitter, not regularisation")
    ax2 = ax.twinx()
    ax2.plot(s, [r["weights_var_mean"] for r in noise_rec], "^:", color="C3", label="weight jitter variance")
    ax2.set_ylabel("weight variance in the window", color="C3")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")
    paths.append(save_figure(fig, out / "noise.png"))
    return paths


def demo_main(args) -> int:
    """``memsim demo``: run the study, write figures, a Markdown table and the records; print where."""
    out = Path(args.out)
    records = run_demo(smoke=args.smoke, backend=args.backend)
    for r in records:
        wv = r.get("weights_var")
        r["weights_var_mean"] = float(np.mean(wv)) if wv is not None else math.nan
    paths = demo_figures(records, out)
    table = demo_table(records)
    (out / "demo.md").write_text("# memsim demo\n\n" + table)
    write_json_atomic(out / "demo.json", [{k: v for k, v in r.items() if k != "_arrays"} for r in records])
    print(table)
    print("figures:", *[str(p) for p in paths], sep="\n  ")
    print(f"table: {out / 'demo.md'}\nrecords: {out / 'demo.json'}")
    return 0
