"""One run, for every model: build the network, train it in place, compare it, write ``summary.json``.

``run(config, out_dir)`` is what ``memsim run CONFIG.toml --out DIR`` calls, and what sweeps,
studies and attribution call for each configuration. Every model kind goes the same way:

1. the task's data and a network on tiles (:class:`~memsim.models.mlp.AnalogMLP`; ``model.kind =
   'linear'`` is one layer), trained by the one trainer (:func:`memsim.models.train.train`);
2. the family's analysis: the linear theory (:func:`memsim.analysis.penalty.summarize`, the jitter and
   per-cell predictions of :mod:`memsim.analysis.cells`, a digital SGD with the predicted weight
   decay) for a one-layer ``mse`` model on a regression task, the per-weight network comparison
   (:func:`memsim.analysis.network.compare_network`) otherwise;
3. one summary skeleton: the analysis, then ``curves``, pulse counts, ``updates``,
   ``train_updates_per_s``, ``training_path`` and ``provenance``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.cells import summary_predictions
from ..analysis.network import compare_network
from ..analysis.penalty import summarize, symmetry, truncation_warning
from ..compare.digital import train_digital
from ..compare.ridge import loss as mean_loss
from ..errors import ConfigError, ConvergenceError, DivergenceError, TrainingError
from ..models.mlp import AnalogMLP
from ..models.train import TrainResult, targets, train
from ..network_math import augment, get_loss, is_classification_task
from ..physics.devices.shifted import ZeroShifted
from .config import RunConfig
from .io import provenance, save_npz_atomic, write_json_atomic
from .outputs import check_run_folder, publish_run_folder, run_config_hash

__all__ = ["run", "run_summary", "run_summaries", "build_model", "linear_theory_applies", "summary_lines"]


def linear_theory_applies(config: Any) -> bool:
    """Whether the linear theory's analysis applies: one layer, the ``mse`` loss, a regression task.

    Parameters
    ----------
    config : memsim.workflows.config.RunConfig
        The resolved run configuration.

    Returns
    -------
    bool
        True for one layer, the ``mse`` loss and a regression task.
    """
    return not config.model.hidden and config.model.loss == "mse" and not is_classification_task(config.task)


def build_model(config: RunConfig, data: Any) -> AnalogMLP:
    """The network of a run config for ``data``: ``[d, *hidden, outputs of the loss]`` on tiles.

    Parameters
    ----------
    config : memsim.workflows.config.RunConfig
        The resolved run configuration.
    data : memsim.tasks.registry.Dataset
        The run's data set.

    Returns
    -------
    memsim.models.mlp.AnalogMLP
        The network on tiles.
    """
    mc = config.model
    y, _, n_classes = targets(data)
    sizes = [np.shape(data.X_train)[1], *mc.hidden, get_loss(mc.loss).n_outputs(n_classes, y)]
    return AnalogMLP(sizes, mc.activation, device=config.device, update=config.update, periphery=config.periphery,
                     bias=mc.bias, max_tile_size=mc.max_tile_size, backend=config.backend, dtype=config.dtype,
                     seed=config.seed, zero_shift=mc.zero_shift, scheme=getattr(config, "scheme", None))


def _linear_analysis(config: RunConfig, data: Any, model: AnalogMLP,
                     result: TrainResult) -> tuple[dict[str, Any], dict[str, Any]]:
    """The linear theory for a one-layer MSE regression (one output): lambda fit, predictions, digital SGD.

    A comparison-side quantity that cannot be computed (docs/design.md, section 'Failures') does not fail the run:
    a lambda fit or prediction that does not converge (:class:`~memsim.errors.ConvergenceError`) or a
    digital SGD that diverges (:class:`~memsim.errors.DivergenceError`) leaves its entries NaN
    (``null`` in ``summary.json``), with one ``{"quantity", "reason"}`` entry per quantity in
    ``failures`` and a line in ``regime_warnings``.
    """
    bias, tr = config.model.bias, config.train
    stats = result.statistics[0]
    X, Xt = augment(data.X_train, bias), augment(data.X_test, bias)
    y, yt = data.y_train[:, 0], data.y_test[:, 0]
    keep = slice(0, X.shape[1] - 1) if bias else slice(None)
    failures: list[dict[str, str]] = []
    seen = ZeroShifted(config.device) if config.model.zero_shift else config.device  # effective-weight view
    try:
        metrics = summarize(X, y, Xt, yt, result.weights_final[0][0], result.weights_mean[0][0], seen,
                            mean_abs_grad=stats["mean_abs_grad"][0], mean_abs_grad_w=stats["mean_abs_grad_w"][0],
                            batch_size=tr.batch_size, accumulate=tr.accumulate, bias=bias, lr=tr.lr,
                            rule=config.update)
    except ConvergenceError as error:  # the linear theory's fits: null, the in-place results stay
        d = X[:, keep].shape[1]
        nan_vec = np.full(d, np.nan)
        metrics = {name: math.nan for name in (
            "lambda_fit", "ridge_path_distance", "lambda_pred", "lambda_plugin", "tikhonov_pred_distance",
            "lambda_fit_test_loss", "ridge_test_loss_at_lambda_fit", "ols_test_loss", "identity_residual")}
        metrics.update({name: nan_vec for name in ("lambda_pred_per_weight", "lambda_plugin_per_weight", "w_pred",
                                                    "w_ols")})
        metrics["test_loss_final"] = mean_loss(Xt[:, keep], yt, result.weights_final[0][0][keep])
        metrics["test_loss_mean_weights"] = mean_loss(Xt[:, keep], yt, result.weights_mean[0][0][keep])
        metrics["regime_warnings"] = [f"no_fit: the linear theory's fits did not converge ({error}): "
                                      "lambda_fit, lambda_pred, lambda_plugin, w_pred and their distances are null"]
        failures.append({"quantity": "lambda_fit", "reason": str(error)})
    # O(eta) jitter-corrected and per-cell (device-to-device) predictions (memsim.analysis.cells).
    extra = summary_predictions(X, y, result.weights_mean[0][0], config.device,
                                {k: v[0] for k, v in model.layers[0].cell_parameters.items()},
                                lr=float(result.lrs[-1]), rule=config.update, batch_size=tr.batch_size,
                                accumulate=tr.accumulate, bias=bias, zero_shift=config.model.zero_shift)
    metrics["regime_warnings"] = metrics["regime_warnings"] + extra.pop("regime_warnings_extra")
    metrics.update(extra)
    owners = {"predict_lambda": "lambda_pred", "predict_weights": "w_pred",
              "predict_lambda_jitter": "lambda_pred_jitter", "predict_lambda_cells": "lambda_pred_cells"}
    for line in metrics["regime_warnings"]:
        if line.startswith("no_prediction: "):  # a prediction that did not converge: its values are NaN
            reason = line[len("no_prediction: "):]
            owner = reason.split(":", 1)[0].strip()
            failures.append({"quantity": owners.get(owner, owner), "reason": reason})
    # The one digital SGD with the explicit penalty the theory predicts: the analog run's algorithm
    # (data order, initial weights, per-epoch rates, batch-start gradients, programming scheme, window).
    lam = metrics["lambda_pred"] if math.isfinite(metrics["lambda_pred"]) else 0.0
    w_s = symmetry(seen)[0]
    try:
        digital = train_digital(result.initial_weights, data.X_train, data.y_train, loss="mse", bias=bias,
                                lrs=result.lrs, permutations=result.orders, batch_size=tr.batch_size,
                                accumulate=tr.accumulate, average_from=tr.average_from, weight_decay=lam,
                                w_s=w_s if math.isfinite(w_s) else 0.0)
        digital_row = digital["weights_mean"][0][0]
        digital_mean, digital_loss = digital_row[keep], mean_loss(Xt, yt, digital_row)
    except DivergenceError as error:  # the baseline diverged: null, the in-place results stay
        digital_mean, digital_loss = None, None
        for quantity in ("digital_sgd_weights_mean", "digital_sgd_test_loss"):
            failures.append({"quantity": quantity, "reason": str(error)})
        metrics["regime_warnings"].append(f"digital_diverged: {error} digital_sgd_weights_mean and "
                                          "digital_sgd_test_loss are null; the in-place results are kept")
    summary = {
        **metrics,
        "weights_final": result.weights_final[0][0],
        "weights_mean": result.weights_mean[0][0],
        "weights_var": result.weights_var[0] if result.weights_var is not None else None,
        "digital_sgd_weight_decay": lam,
        "digital_sgd_weights_mean": digital_mean,
        "digital_sgd_test_loss": digital_loss,
        "curves": result.curves,
        "failures": failures,
    }
    return summary, {"data": data, "X": X, "Xt": Xt, "keep": keep}


def run_summary(config: RunConfig, progress: bool | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one configuration and return ``(summary, arrays for figures)`` without writing anything.

    Only the in-place training can fail the run (docs/design.md, section 'Failures'): an exception from it, or
    non-finite in-place weights (:class:`~memsim.errors.TrainingError`; ``memsim run`` exits 1).
    Comparison-side quantities that cannot be computed are NaN (``null``) with their reasons in the
    summary's ``failures`` list (``{"quantity": ..., "reason": ...}``) and in ``regime_warnings``.

    Parameters
    ----------
    config : memsim.workflows.config.RunConfig
        The resolved run configuration.
    progress : bool or None
        Progress bar over epochs (:func:`memsim.models.train.train`); ``None``: shown.

    Returns
    -------
    summary : dict
        The run's summary (JSON-able).
    arrays : dict
        Arrays for the figures and ``weights.npz``.
    """
    t0, data, model = _prepare(config)
    result = train(model, data, config.train, config.seed, loss=config.model.loss, progress=progress)
    return _finish(config, t0, data, model, result)


def _prepare(config: RunConfig) -> tuple[float, Any, AnalogMLP]:
    """The start of :func:`run_summary`: the data and the model, checked."""
    t0 = time.perf_counter()
    data = config.task.load(config.seed)
    n_train = int(np.shape(data.X_train)[0])
    if config.train.batch_size > n_train:  # tasks whose size is known only once loaded (the config checks the rest)
        raise ConfigError(f"Invalid config key 'train.batch_size': must be an integer in [1, {n_train}] (at most the "
                          f"{n_train} training samples of the task). Got {config.train.batch_size!r} instead.")
    return t0, data, build_model(config, data)


def run_summaries(configs: list[RunConfig]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Run several configurations, training their networks together (:func:`memsim.models.train.train_replicas`:
    networks of one shape share one compiled call per epoch); each summary equals :func:`run_summary`'s.

    Parameters
    ----------
    configs : list of RunConfig
        Configurations with the same model loss (any others are trained one after the other).

    Returns
    -------
    list of tuple
        ``(summary, arrays)`` per configuration, in order.

    Raises
    ------
    Exception
        Whatever a run raises (the caller may then run the configurations one by one).
    """
    from ..models.train import train_replicas

    if len({c.model.loss for c in configs}) != 1:
        return [run_summary(c, progress=False) for c in configs]
    prepared = [_prepare(c) for c in configs]
    results = train_replicas([m for _, _, m in prepared], [d for _, d, _ in prepared], [c.train for c in configs],
                             [c.seed for c in configs], loss=configs[0].model.loss, progress=False)
    return [_finish(c, t0, data, model, result) for c, (t0, data, model), result in zip(configs, prepared, results)]


def _finish(config: RunConfig, t0: float, data: Any, model: AnalogMLP, result: TrainResult
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The end of :func:`run_summary`: checks of the trained weights, the family's analysis, the summary."""
    for name in ("weights_final", "weights_mean"):
        bad = [k for k, W in enumerate(getattr(result, name)) if not np.all(np.isfinite(np.asarray(W)))]
        if bad:
            raise TrainingError(f"The in-place training produced non-finite {name} (layer {bad[0]}); the run "
                                f"failed and nothing was written. Check train.lr = {config.train.lr:g} and the "
                                "device bounds.")
    if linear_theory_applies(config) and model.layer_sizes[-1] == 1:
        summary, arrays = _linear_analysis(config, data, model, result)
    else:
        summary, arrays = compare_network(config, data, result, [layer.n_tiles for layer in model.layers])
    summary.setdefault("failures", [])
    stats = result.statistics
    summary.update({
        "pulses_up": sum(int(np.sum(s["pulses_up"])) for s in stats),
        "pulses_down": sum(int(np.sum(s["pulses_down"])) for s in stats),
        "updates": int(model.step),
        "train_updates_per_s": model.step / result.wall_s if result.wall_s > 0 else None,
        "training_path": result.path,
        "provenance": provenance(config, model.backend.name, t0),
    })
    # Physics never cut short in silence: events that needed more than update.max_pulses pulses.
    summary["regime_warnings"] = list(summary.get("regime_warnings", [])) + truncation_warning(stats)
    if getattr(config, "scheme", None) is not None:  # what the compound scheme leaves (memsim.analysis.schemes)
        from ..analysis.schemes import scheme_summary

        compound = scheme_summary(config.scheme, config.device, stats, lr=float(result.lrs[-1]),
                                  batch_size=config.train.batch_size, accumulate=config.train.accumulate,
                                  bias=config.model.bias, lambda_fit=summary.get("lambda_fit"),
                                  X=arrays.get("X") if "layer_sizes" not in summary else None)
        summary["regime_warnings"] += compound.pop("regime_warnings")
        summary["scheme"] = compound
    return summary, arrays


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """A few lines for the console (``memsim run``): the penalty, or accuracies and the per-weight comparison.

    Parameters
    ----------
    summary : dict
        A run's summary.

    Returns
    -------
    list of str
        The console lines.
    """
    def f(key: str) -> str:
        v = summary.get(key)
        return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"

    if "layer_sizes" not in summary:  # the linear theory
        lines = [f"lambda_fit = {f('lambda_fit')}   lambda_pred = {f('lambda_pred')}   "
                 f"lambda_plugin = {f('lambda_plugin')}",
                 f"ridge_path_distance = {f('ridge_path_distance')}   "
                 f"tikhonov_pred_distance = {f('tikhonov_pred_distance')}"]
        return lines + [f"warning: {w}" for w in summary["regime_warnings"]]
    lines = [f"network {summary['layer_sizes']} ({summary['loss']}): test loss {f('test_loss_final')} final, "
             f"{f('test_loss_mean_weights')} time-averaged; digital {f('digital_test_loss')}, "
             f"per-weight decay {f('digital_per_weight_test_loss')}"]
    if summary.get("test_accuracy_final") is not None and math.isfinite(summary["test_accuracy_final"]):
        lines.append(f"test accuracy {f('test_accuracy_final')} final, {f('test_accuracy_mean_weights')} "
                     "time-averaged; "
                     f"digital {f('digital_test_accuracy')}, per-weight decay {f('digital_per_weight_test_accuracy')}")
    lines += [f"lambda_plugin_mean = {f('lambda_plugin_mean')}   "
              f"global_weight_decay_fit = {f('global_weight_decay_fit')}",
              f"per_weight_relative_distance = {f('per_weight_relative_distance')} (weights), "
              f"{f('per_weight_relative_output_distance')} (outputs); global: {f('global_relative_distance')}, "
              f"{f('global_relative_output_distance')}"]
    return lines + [f"warning: {w}" for w in summary["regime_warnings"]]


def _write_network_arrays(arrays: dict[str, Any], out: Path) -> None:
    """``weights.npz``: per layer ``<name>_<layer>`` arrays of a network run (atomically)."""
    blobs = {}
    for name in ("weights_final", "weights_mean", "initial_weights", "lambda_plugin", "mean_abs_grad",
                 "mean_abs_grad_w", "digital_weights_mean", "digital_per_weight_weights_mean"):
        for k, a in enumerate(arrays.get(name) or []):
            blobs[f"{name}_{k}"] = np.asarray(a)
    save_npz_atomic(out / "weights.npz", blobs)


def run(config: RunConfig, out_dir: str | Path | None = None, progress: bool | None = None,
        figures: bool = True, overwrite: bool = False, figure_format: str = "png") -> dict[str, Any]:
    """Run one configuration; with ``out_dir``, publish ``summary.json``, figures (and ``weights.npz``) there.

    The folder is checked before any compute (:func:`memsim.workflows.outputs.check_run_folder`): a
    re-run of the same config replaces its own folder; another run's folder, or files memsim did not
    write, are refused (:class:`~memsim.workflows.outputs.OutputError`) unless ``overwrite``. The
    outputs are written into a temporary folder beside ``out_dir`` and swapped in as a whole
    (:func:`~memsim.workflows.outputs.publish_run_folder`), so the folder never holds a mix of runs.
    ``summary["provenance"]["config_hash"]`` names the config of a written run.

    Parameters
    ----------
    config : memsim.workflows.config.RunConfig
        The resolved run configuration.
    out_dir : str or pathlib.Path or None
        The run folder; ``None``: write nothing.
    progress : bool or None
        Progress bar over epochs (:func:`memsim.models.train.train`); ``None``: shown.
    figures : bool
        Draw the figures.
    overwrite : bool
        Replace a folder memsim did not write for this config.
    figure_format : {'png', 'pdf', 'svg'}
        Format of the figures.

    Returns
    -------
    dict
        The run's summary.
    """
    if out_dir is not None:
        if figures:
            from ..plotting.style import check_figure_format

            figure_format = check_figure_format(figure_format, "run", "figure_format")  # before any compute
        check_run_folder(out_dir, config, overwrite)  # before any compute
    summary, arrays = run_summary(config, progress)
    if out_dir is not None:
        summary["provenance"]["config_hash"] = run_config_hash(config)

        def write(out: Path) -> None:
            network = "layer_sizes" in summary
            if network:
                _write_network_arrays(arrays, out)
            if figures:
                from ..plotting.figures import network_figures, run_figures

                (network_figures if network else run_figures)(summary, arrays, out, figure_format)
            write_json_atomic(out / "summary.json", summary)

        publish_run_folder(out_dir, write, overwrite, config=config)
    return summary
