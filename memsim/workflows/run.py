"""One run of a linear model: train in place, train the digital baselines, analyse, write summary.json.

``run(config, out_dir)`` is what ``memsim run CONFIG.toml --out DIR`` calls, and what sweeps call
for each grid point.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..analysis.penalty import summarize
from ..compare.ridge import loss, sgd_weight_decay
from .config import RunConfig
from ..physics.devices.shifted import ZeroShifted
from ..models.linear import AnalogLinear
from ..models.train import train_linear

__all__ = ["run", "run_summary", "write_json_atomic", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """NumPy arrays/scalars -> lists/floats; non-finite floats -> ``None`` (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON to a temporary file in the same folder, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(to_jsonable(data), fh, indent=1, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(config: RunConfig, backend_name: str, t0: float) -> dict[str, Any]:
    """Where a result came from: memsim version, backend, dtype, seed, the full resolved config,
    git commit (if any), Python, platform and the wall time since ``t0`` (``time.perf_counter``)."""
    return {
        "memsim_version": __version__,
        "backend": backend_name,
        "dtype": config.dtype,
        "seed": config.seed,
        "config": config.to_dict(),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wall_time_s": time.perf_counter() - t0,
    }


def run_summary(config: RunConfig, progress: bool | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one configuration and return ``(summary, arrays for figures)`` without writing anything.

    A linear regression runs here; every other model (an MLP, or a softmax/logistic/MSE classifier)
    runs through :func:`memsim.analysis.network.run_network_summary`.
    """
    from ..analysis.network import is_linear_regression, run_network_summary

    if not is_linear_regression(config):
        return run_network_summary(config, progress)
    t0 = time.perf_counter()
    data = config.task.load(config.seed)
    model = AnalogLinear(data.n_features, data.y_train.shape[1], device=config.device, update=config.update,
                         bias=config.model.bias, periphery=config.periphery, backend=config.backend,
                         dtype=config.dtype, seed=config.seed, zero_shift=config.model.zero_shift)
    result = train_linear(model, data, config.train, config.seed, progress=progress)
    stats = result.statistics
    X, Xt = model.augment(data.X_train), model.augment(data.X_test)
    y, yt = data.y_train[:, 0], data.y_test[:, 0]
    tr = config.train
    seen = ZeroShifted(config.device) if config.model.zero_shift else config.device  # effective-weight view
    metrics = summarize(X, y, Xt, yt, result.weights_final[0], result.weights_mean[0], seen,
                        mean_abs_grad=stats["mean_abs_grad"][0], mean_abs_grad_w=stats["mean_abs_grad_w"][0],
                        batch_size=tr.batch_size, accumulate=tr.accumulate, bias=config.model.bias, lr=tr.lr,
                        rule=config.update)
    # --- O(eta) jitter-corrected and per-cell (device-to-device) predictions: memsim.analysis.cells ---
    from ..analysis.cells import summary_predictions
    from ..models.train import learning_rates

    extra = summary_predictions(X, y, result.weights_mean[0], config.device,
                                {k: v[0] for k, v in model.tile.cell_parameters.items()},
                                lr=float(learning_rates(tr)[-1]), rule=config.update, batch_size=tr.batch_size,
                                accumulate=tr.accumulate, bias=config.model.bias,
                                zero_shift=bool(getattr(model.tile, "zero_shift", False)))
    metrics["regime_warnings"] = metrics["regime_warnings"] + extra.pop("regime_warnings_extra")
    metrics.update(extra)
    # --- end of the jitter/per-cell block ---
    # Digital SGD with the explicit penalty the theory predicts, same data order and initial weights.
    lam = metrics["lambda_pred"] if math.isfinite(metrics["lambda_pred"]) else 0.0
    keep = slice(0, X.shape[1] - 1) if config.model.bias else slice(None)
    digital = sgd_weight_decay(X[:, keep], y, w0=result.initial_weights[0][keep], lr=tr.lr, epochs=tr.epochs,
                               weight_decay=lam, permutations=result.orders, average_from=tr.average_from,
                               batch_size=tr.batch_size, accumulate=tr.accumulate)
    weights_mean = result.weights_mean[0]
    summary = {
        **{k: v for k, v in metrics.items()},
        "weights_final": result.weights_final[0],
        "weights_mean": weights_mean,
        "weights_var": result.weights_var,
        "digital_sgd_weight_decay": lam,
        "digital_sgd_weights_mean": digital["weights_mean"],
        "digital_sgd_test_loss": loss(Xt[:, keep], yt, digital["weights_mean"]),
        "curves": result.curves,
        "pulses_up": int(stats["pulses_up"].sum()),
        "pulses_down": int(stats["pulses_down"].sum()),
        "updates": int(model.tile.step),
        "train_updates_per_s": model.tile.step / result.wall_s if result.wall_s > 0 else None,
        "provenance": provenance(config, model.tile.backend.name, t0),
    }
    arrays = {"data": data, "X": X, "Xt": Xt, "keep": keep}
    return summary, arrays


def run(config: RunConfig, out_dir: str | Path | None = None, progress: bool | None = None,
        figures: bool = True) -> dict[str, Any]:
    """Run one configuration; with ``out_dir``, write ``summary.json`` (atomically) and figures there."""
    summary, arrays = run_summary(config, progress)
    if out_dir is not None and "layer_sizes" in summary:  # a network run (memsim.analysis.network)
        from ..analysis.network import write_network_outputs

        write_network_outputs(summary, arrays, out_dir, figures=figures)
        write_json_atomic(Path(out_dir) / "summary.json", summary)
    elif out_dir is not None:
        out = Path(out_dir)
        if figures:
            from ..plotting.figures import run_figures

            run_figures(summary, arrays, out)
        write_json_atomic(out / "summary.json", summary)
    return summary
