"""Analog SGD's asymptotic error against the device range (Wu, Gokmen, Rasch & Chen, NeurIPS 2024, Figs. 1 and 3).

    python experiments/analog_sgd_vs_range/run.py [--smoke] [--out DIR] [--figure PATH]

Least squares with 40 features and 100 samples (label noise 0.1, which gives the gradient noise),
soft-bounds devices on ``[-tau, tau]`` with 300 states (``dw_min = tau / 300``), per-sample lr 0.03,
no bias column. For every range tau: Analog SGD in place (memsim's plain run), memsim's predicted
stationary point (the Tikhonov solution at the predicted lambda, ``w_pred`` of the summary), a
digital SGD in the same data order, and Tiki-Taka (TTv1, A on the same device referenced at its
symmetry point, ``fast_lr`` = lr). The error is the excess training loss of the time-averaged
weights over the least-squares solution, ``L(w) - L(w_OLS)`` with ``L = ||Xw - y||^2 / (2n)``.

Writes ``results.json`` (atomic) and ``analog_sgd_vs_range.png`` to OUT (default
``./analog-sgd-vs-range``); a full run also writes the figure to ``docs/figures/`` (``--figure``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from memsim.compare.digital import train_digital
from memsim.compare.ridge import loss, ols
from memsim.models.train import epoch_orders, initial_weights, learning_rates
from memsim.workflows.config import resolve_config
from memsim.workflows.io import write_json_atomic
from memsim.workflows.run import run_summary

HERE = Path(__file__).resolve().parent
FIGURE = HERE.parents[1] / "docs" / "figures" / "analog_sgd_vs_range.png"
FULL = {"taus": [1.0, 1.5, 2.0, 2.5], "seeds": [1, 2, 3], "epochs": 200}
SMOKE = {"taus": [1.0, 2.5], "seeds": [1], "epochs": 2}


def config(tau: float, seed: int, epochs: int, scheme: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run config of one point (a plain Analog SGD run, or TTv1 with ``scheme``)."""
    raw = {"seed": seed, "progress": False,
           "task": {"kind": "linear_regression", "n_train": 100, "n_features": 40, "noise_std": 0.1},
           "device": {"kind": "soft_bounds", "w_max": tau, "w_min": -tau, "dw_min": tau / 300},
           "train": {"lr": 0.03, "epochs": epochs}, "model": {"bias": False}}
    if scheme is not None:
        raw["scheme"] = scheme
    return raw


def one(tau: float, seed: int, epochs: int) -> dict[str, Any]:
    """Analog SGD, its prediction, digital SGD and TTv1 at one range and seed."""
    cfg = resolve_config(config(tau, seed, epochs))
    data = cfg.task.load(seed)
    X, y = np.asarray(data.X_train), np.asarray(data.y_train)[:, 0]
    w_ols = ols(X, y)
    base = loss(X, y, w_ols)
    sgd = run_summary(cfg, progress=False)[0]
    tt = run_summary(resolve_config(config(tau, seed, epochs, {"kind": "tiki_taka", "fast_lr": 0.03})),
                     progress=False)[0]
    digital = train_digital(initial_weights([40, 1], False, seed), X, y, loss="mse", bias=False,
                            lrs=learning_rates(cfg.train), permutations=epoch_orders(seed, len(X), epochs),
                            average_from=cfg.train.average_from)
    w_dig = np.ravel(digital["weights_mean"][0])
    return {"tau": tau, "seed": seed,
            "analog_sgd": loss(X, y, np.ravel(sgd["weights_mean"])) - base,
            "predicted": loss(X, y, np.ravel(sgd["w_pred"])) - base,
            "digital_sgd": loss(X, y, w_dig) - base,
            "tiki_taka": loss(X, y, np.ravel(tt["weights_mean"])) - base,
            "lambda_fit": sgd["lambda_fit"], "lambda_pred": sgd["lambda_pred"],
            "lambda_pred_jitter": sgd["lambda_pred_jitter"],
            "lambda_fit_tiki_taka": tt["lambda_fit"], "lambda_tt_pred": tt["scheme"]["lambda_tt_pred"]}


METHODS = ("analog_sgd", "predicted", "digital_sgd", "tiki_taka")


def summarise(rows: list[dict[str, Any]], taus: list[float]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per range."""
    out = []
    for tau in taus:
        sel = [r for r in rows if r["tau"] == tau]
        entry: dict[str, Any] = {"tau": tau}
        for key in (*METHODS, "lambda_fit", "lambda_pred", "lambda_pred_jitter", "lambda_fit_tiki_taka",
                    "lambda_tt_pred"):
            v = np.array([r[key] for r in sel], dtype=float)
            entry[key] = float(np.mean(v))
            entry[key + "_sd"] = float(np.std(v, ddof=1)) if v.size > 1 else None
        out.append(entry)
    return out


def figure(result: dict[str, Any], path: Path) -> Path:
    """Error against tau, one line per method (mean over seeds; bars: sd)."""
    from memsim.plotting.style import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    s = result["summary"]
    taus = [e["tau"] for e in s]
    labels = {"analog_sgd": "Analog SGD (in place)", "predicted": "memsim's predicted stationary point",
              "digital_sgd": "digital SGD", "tiki_taka": "Tiki-Taka (TTv1)"}
    styles = {"analog_sgd": "o-", "predicted": "k--", "digital_sgd": "s:", "tiki_taka": "^-"}
    for m in METHODS:
        y = np.array([e[m] for e in s])
        err = [e[m + "_sd"] or 0.0 for e in s]
        ax.errorbar(taus, np.maximum(y, 1e-12), yerr=err, fmt=styles[m], capsize=3, label=labels[m])
    ax.set_yscale("log")
    ax.set(xlabel="device range tau (weights on [-tau, tau], 300 states)",
           ylabel="excess training loss L(w) - L(w_OLS)")
    ax.set_title("Least squares, 40 features, 100 samples, lr 0.03" + (" (smoke)" if result["smoke"] else ""),
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def run_experiment(smoke: bool = False, out: str | Path = "analog-sgd-vs-range", figure_path: str | Path | None = None,
                   quiet: bool = False) -> dict[str, Any]:
    """Run every range and seed; write results.json and the figure; return the result."""
    setup = SMOKE if smoke else FULL
    t0 = time.perf_counter()
    rows = []
    for tau in setup["taus"]:
        for seed in setup["seeds"]:
            rows.append(one(tau, seed, setup["epochs"]))
            if not quiet:
                r = rows[-1]
                print(f"tau {tau:g} seed {seed}: " + ", ".join(f"{m} {r[m]:.3g}" for m in METHODS), flush=True)
    result = {"smoke": smoke, "setup": {**setup, "run_config": config(setup["taus"][0], setup["seeds"][0],
                                                                     setup["epochs"])},
              "rows": rows, "summary": summarise(rows, setup["taus"]), "wall_s": time.perf_counter() - t0}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", result)
    figure(result, out / "analog_sgd_vs_range.png")
    if figure_path is not None:
        figure(result, Path(figure_path))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="analog-sgd-vs-range", help="output folder")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--figure", default=None, help=f"also write the figure here (full runs default: {FIGURE})")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    fig = args.figure if args.figure is not None else (None if args.smoke else FIGURE)
    run_experiment(args.smoke, args.out, fig, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
