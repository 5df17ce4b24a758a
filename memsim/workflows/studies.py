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
    """(group, label, raw config) of every run of the demo.

    Parameters
    ----------
    smoke : bool
        Quick run (fewer epochs, fewer configurations).
    backend : str
        The backend of every run.

    Returns
    -------
    list of (str, str, dict)
        ``(group, label, raw config)`` of every run.
    """
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
    """Run every configuration of the demo; returns one record per run (summary plus labels).

    Parameters
    ----------
    smoke : bool
        Quick run (fewer epochs, fewer configurations).
    backend : str
        The backend of every run.
    progress : bool or None
        Show a progress bar; ``None``: yes.

    Returns
    -------
    list of dict
        One record per run (summary plus labels).
    """
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
    """Markdown table of the demo runs.

    Parameters
    ----------
    records : list of dict
        The records of :func:`run_demo`.

    Returns
    -------
    str
        The Markdown table.
    """
    cols = [("run", "label"), ("device", "device"), ("λ_fit", "lambda_fit"), ("λ_pred", "lambda_pred"),
            ("λ_plugin", "lambda_plugin"), ("ridge-path dist.", "ridge_path_distance"),
            ("Tikhonov-pred. dist.", "tikhonov_pred_distance"), ("test loss (hw, mean w)", "test_loss_mean_weights"),
            ("ridge test loss at λ_fit", "ridge_test_loss_at_lambda_fit"), ("OLS test loss", "ols_test_loss"),
            ("weight jitter var", "weights_var_mean")]
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in records:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for _, k in cols) + " |")
    return "\n".join(lines) + "\n"


def demo_figures(records: list[dict[str, Any]], out: Path, fmt: str = "png") -> list[Path]:
    """The demo's figures (:func:`memsim.plotting.demo.demo_figures`), in format ``fmt``.

    Parameters
    ----------
    records : list of dict
        The records of :func:`run_demo`.
    out : pathlib.Path
        The output folder.
    fmt : {'png', 'pdf', 'svg'}
        The figure format.

    Returns
    -------
    list of pathlib.Path
        The figures written.
    """
    from ..plotting.demo import demo_figures as draw

    return draw(records, Path(out), fmt)


def demo_main(args) -> int:
    """``memsim demo``: run the study, write figures, a Markdown table and the records; print where.

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

    out = Path(args.out)
    fmt = check_figure_format(getattr(args, "format", "png"), "memsim demo", "--format")  # before any compute
    records = run_demo(smoke=args.smoke, backend=args.backend)
    for r in records:
        wv = r.get("weights_var")
        r["weights_var_mean"] = float(np.mean(wv)) if wv is not None else math.nan
    paths = demo_figures(records, out, fmt)
    table = demo_table(records)
    (out / "demo.md").write_text("# memsim demo\n\n" + table)
    write_json_atomic(out / "demo.json", [{k: v for k, v in r.items() if k != "_arrays"} for r in records])
    print(table)
    print("figures:", *[str(p) for p in paths], sep="\n  ")
    print(f"table: {out / 'demo.md'}\nrecords: {out / 'demo.json'}")
    return 0
