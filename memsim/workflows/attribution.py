"""Attribution: rerun a configuration with one noise source switched off at a time (``memsim attribute``).

Which part of a hardware run's implicit penalty (``lambda_fit``) and of its test loss comes from which
physical source? docs/theory.md, section '2e. Device regularisation among other "noise is
regularisation" results' says they act differently: update-sign noise x asymmetric device
response *is* the Tikhonov term; cycle-to-cycle noise only adds jitter; device-to-device variation
moves the reference point; read noise is a forward-pass (Bishop/An-type) effect. Attribution makes that
visible: the configuration is run as given (the *baseline*) and once per source with that source
off, everything else (seed, data, data order, initial weights) unchanged, and the changes of
``lambda_fit``, the test loss (and the test accuracy, for classifiers) are tabulated.

The sources and how each is switched off (on the raw config dict, then
:func:`memsim.workflows.config.resolve_config`):

``update_sign_noise``
    Sampling noise of the requested updates, the origin of :math:`E|g| > |E g|`. Off: full-batch
    accumulated updates, ``train.batch_size = n_train`` and ``train.accumulate = true``: one
    programming event per epoch with the gradient summed over the whole training set, so the sign of
    every request is that of the mean gradient (only rounding and c2c jitter can still flip it).
    Learning rate: an accumulated event programs the SUM of the per-sample requests,
    :math:`-\\eta\\sum_b g_b`, exactly the total an epoch of per-sample updates requests, so ``lr`` is
    kept and the total requested step per epoch is the same. Only when one full-batch step would be
    unstable or oscillate, :math:`\\eta\\, n\\, \\bar a\\, \\lambda_{\\max}(X^\\top X/n) > 1`
    (:math:`\\bar a` the device's step at its symmetry point per ``dw_min``), ``lr`` is scaled down to
    make that product 1 (the table says by which factor). Present unless the run already is
    full-batch accumulated.
``cycle_to_cycle``
    ``device.dw_min_std = 0``. Present if ``dw_min_std > 0``.
``device_to_device``
    Every ``*_dtod`` spread of the device model ``= 0`` (``up_down_dtod``, ``w_max_dtod``, ...; stuck
    faults are left as they are). Present if any is non-zero.
``asymmetry``
    ``device.up_down = 0`` (the global up/down step asymmetry beta; the state-dependent asymmetry of
    the device curve is the mechanism itself and is not switched off). Present if ``up_down != 0``.
``read_noise``
    ``periphery.output_noise = 0`` and ``periphery.weight_noise = 0``. Present if either is non-zero.
``quantisation``
    ``periphery.dac`` and ``periphery.adc`` without rounding or clipping. Present if either is active.

A source that is absent is reported as ``absent``; switching it off anyway yields the identical
resolved configuration, hence a bit-identical run (a tested property). By default absent sources are
not rerun (``include_absent=True`` reruns them).
"""

from __future__ import annotations

import copy
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .config import RunConfig, config_dir, load_toml, resolve_config
from ..params import invalid

__all__ = ["SOURCES", "METRICS", "source_present", "switch_off", "run_attribution", "attribution_table",
           "attribution_figure", "attribute_main", "add_attribute_arguments"]

#: Source name -> short description (table and figure labels).
SOURCES: dict[str, str] = {
    "update_sign_noise": "update-sign noise (sampling) -> full-batch accumulated updates",
    "cycle_to_cycle": "cycle-to-cycle noise -> dw_min_std = 0",
    "device_to_device": "device-to-device variation -> all *_dtod = 0",
    "asymmetry": "up/down asymmetry -> up_down = 0",
    "read_noise": "read noise -> periphery output/weight noise = 0",
    "quantisation": "ADC/DAC quantisation -> periphery quantisers off",
}

#: Summary keys recorded for every run (NaN where a run's summary has no such key).
METRICS = ("lambda_fit", "lambda_pred", "lambda_pred_jitter", "lambda_plugin", "lambda_plugin_mean",
           "global_weight_decay_fit", "test_loss_mean_weights",
           "test_loss_final", "test_accuracy_mean_weights", "test_accuracy_final", "ridge_path_distance",
           "tikhonov_pred_distance")
_MAX_STORED_WEIGHTS = 100_000


def _n_train(config: RunConfig) -> int:
    n = getattr(config.task, "n_train", None)
    return int(n) if n is not None else int(len(config.task.load(config.seed).X_train))


def _dtod_names(device: Any) -> list[str]:
    return sorted({dtod for dtod, _ in device.dtod_parameters.values()})


def source_present(config: RunConfig, source: str) -> bool:
    """Whether ``source`` (a key of :data:`SOURCES`) is active in the resolved ``config``.

    Parameters
    ----------
    config : memsim.workflows.config.RunConfig
        The resolved run configuration.
    source : str
        A key of :data:`SOURCES`.

    Returns
    -------
    bool
        True when the source is active.
    """
    dev, per, tr = config.device, config.periphery, config.train
    if source == "update_sign_noise":
        return not (tr.accumulate and tr.batch_size >= _n_train(config))
    if source == "cycle_to_cycle":
        return float(dev.dw_min_std) > 0.0
    if source == "device_to_device":
        return any(float(getattr(dev, name)) > 0.0 for name in _dtod_names(dev))
    if source == "asymmetry":
        return float(dev.up_down) != 0.0
    if source == "read_noise":
        return per.output_noise > 0.0 or per.weight_noise > 0.0
    if source == "quantisation":
        return per.dac.active or per.adc.active
    raise invalid("attribution", "source", "one of " + ", ".join(repr(s) for s in SOURCES), source)


def _full_batch_lr(config: RunConfig, n: int) -> tuple[float, float]:
    """``(lr, factor)`` for full-batch accumulated updates (module docstring)."""
    from ..analysis.jitter import nominal_geometry

    lr = float(config.train.lr)
    try:
        X = np.asarray(config.task.load(config.seed).X_train, dtype=np.float64).reshape(n, -1)
        top = float(np.linalg.eigvalsh(X.T @ X / n)[-1]) if X.size else 0.0
        abar = float(nominal_geometry(config.device, 1).abar[0])
    except Exception:  # noqa: BLE001 - a heuristic; never block the attribution on it
        return lr, 1.0
    product = lr * n * abar * top
    if not (math.isfinite(product) and product > 1.0):
        return lr, 1.0
    return lr / product, 1.0 / product


def switch_off(raw: dict[str, Any], source: str) -> tuple[dict[str, Any], str]:
    """A copy of the raw config dict with ``source`` switched off, and a note on what was changed.

    The result is meant for :func:`memsim.workflows.config.resolve_config`; switching off an absent source
    resolves to the same configuration.

    Parameters
    ----------
    raw : dict
        The raw configuration (as read from the TOML file).
    source : str
        A key of :data:`SOURCES`.

    Returns
    -------
    raw : dict
        A modified copy of the configuration.
    note : str
        What was changed.
    """
    if source not in SOURCES:
        raise invalid("attribution", "source", "one of " + ", ".join(repr(s) for s in SOURCES), source)
    out = copy.deepcopy(raw)
    config = resolve_config(raw)
    if source == "update_sign_noise":
        n = _n_train(config)
        train = out.setdefault("train", {})
        if not source_present(config, source):
            return out, "already full-batch accumulated"
        lr, factor = _full_batch_lr(config, n)
        train.update(batch_size=n, accumulate=True)
        note = f"batch_size = {n}, accumulate = true"
        if factor != 1.0:
            train["lr"] = lr
            note += f", lr x {factor:.3g} (stability of one full-batch step)"
        return out, note
    if source in ("cycle_to_cycle", "device_to_device", "asymmetry"):
        device = out.setdefault("device", {"kind": config.device.kind})
        names = {"cycle_to_cycle": ["dw_min_std"], "asymmetry": ["up_down"],
                 "device_to_device": _dtod_names(config.device)}[source]
        for name in names:
            device[name] = 0.0
        return out, ", ".join(f"{name} = 0" for name in names)
    periphery = out.setdefault("periphery", {})
    if source == "read_noise":
        periphery.update(output_noise=0.0, weight_noise=0.0)
        return out, "output_noise = 0, weight_noise = 0"
    periphery.update(dac={}, adc={})
    return out, "dac and adc off"


def _record(source: str, status: str, note: str, config: RunConfig, summary: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {"source": source, "status": status, "change": note,
                           "config": config.to_dict()}
    for key in METRICS:
        value = summary.get(key)
        rec[key] = float(value) if isinstance(value, (int, float, np.floating)) and value is not None else math.nan
    wv = summary.get("weights_var")
    rec["weights_var_mean"] = float(np.mean(wv)) if wv is not None else math.nan
    for key in ("weights_mean", "weights_final"):
        w = summary.get(key)
        if w is not None and np.size(w) <= _MAX_STORED_WEIGHTS:
            rec[key] = np.asarray(w, dtype=np.float64)
    rec["regime_warnings"] = list(summary.get("regime_warnings", []))
    return rec


def run_attribution(raw: dict[str, Any], *, include_absent: bool = False, progress: bool | None = None,
                    sources: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Run the baseline and one run per noise source switched off.

    Parameters
    ----------
    raw : dict
        A raw run configuration (parsed TOML).
    include_absent : bool
        Also rerun sources that are absent (they reproduce the baseline bit for bit).
    progress : bool or None
        Print one line per run to stderr (``None``: when stderr is a terminal).
    sources : tuple of str, optional
        A subset of :data:`SOURCES` (default: all).

    Returns
    -------
    dict
        ``baseline`` (record) and ``sources`` (list of records, in :data:`SOURCES` order); a record
        holds ``source``, ``status`` (``"baseline"``, ``"off"`` or ``"absent"``), ``change``, the
        resolved ``config``, the :data:`METRICS` (NaN if the summary has no such key, and for an
        absent source that was not rerun), ``weights_var_mean``, ``weights_mean``/``weights_final``
        (when small) and ``regime_warnings``.
    """
    from .run import run_summary

    chosen = tuple(SOURCES) if sources is None else tuple(sources)
    for s in chosen:
        if s not in SOURCES:
            raise invalid("attribution", "source", "one of " + ", ".join(repr(k) for k in SOURCES), s)
    base_config = resolve_config(raw)          # validates everything before any run
    plans = []
    for s in chosen:
        present = source_present(base_config, s)
        modified, note = switch_off(raw, s)
        plans.append((s, present, modified, note, resolve_config(modified)))
    show = sys.stderr.isatty() if progress is None else progress
    t0 = time.perf_counter()
    summary, _ = run_summary(base_config, progress=False)
    baseline = _record("baseline", "baseline", "as configured", base_config, summary)
    if show:
        print(f"attribution: baseline done ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    records = []
    for s, present, modified, note, config in plans:
        if not present and not include_absent:
            rec = {"source": s, "status": "absent", "change": "(not present in the config)",
                   "config": config.to_dict(), **{k: math.nan for k in METRICS}, "weights_var_mean": math.nan,
                   "regime_warnings": []}
            records.append(rec)
            continue
        summary, _ = run_summary(config, progress=False)
        rec = _record(s, "off" if present else "absent", note if present else "(absent; rerun)", config, summary)
        records.append(rec)
        if show:
            print(f"attribution: {s} off done ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return {"baseline": baseline, "sources": records}


# ---------------------------------------------------------------------------------------------- output
def _fmt(v: Any, digits: str = ".4g") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return format(v, digits)


def _change(value: float, base: float) -> str:
    if not (math.isfinite(value) and math.isfinite(base)):
        return "n/a"
    diff = value - base
    if base != 0:
        return f"{diff:+.4g} ({100 * diff / abs(base):+.1f} %)"
    return f"{diff:+.4g}"


def _lambda_key(base: dict[str, Any]) -> tuple[str, str]:
    """``(key, label)`` of the penalty to report: ``lambda_fit`` (linear runs), else the network's
    mean plug-in ``lambda_plugin_mean``."""
    fit, plugin = base.get("lambda_fit", math.nan), base.get("lambda_plugin_mean", math.nan)
    if math.isfinite(fit) or not math.isfinite(plugin):
        return "lambda_fit", "λ_fit"
    return "lambda_plugin_mean", "λ_plugin (mean)"


def attribution_table(result: dict[str, Any]) -> str:
    """Markdown table of an attribution: one row per source, changes relative to the baseline.

    Parameters
    ----------
    result : dict
        The attribution (:func:`run_attribution`).

    Returns
    -------
    str
        The Markdown table.
    """
    base = result["baseline"]
    lk, ll = _lambda_key(base)
    has_acc = math.isfinite(base.get("test_accuracy_mean_weights", math.nan))
    head = ["source", "status", "what was switched off", ll, "Δ" + ll, "test loss (mean w)", "Δ test loss",
            "λ_pred", "λ_pred_jitter"]
    if has_acc:
        head[7:7] = ["test acc.", "Δ test acc."]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(rec: dict[str, Any], baseline: bool) -> list[str]:
        absent = rec["status"] == "absent"
        cells = [rec["source"], rec["status"], rec["change"],
                 _fmt(rec.get(lk, math.nan)), "—" if baseline or absent and not math.isfinite(rec.get(lk, math.nan))
                 else _change(rec.get(lk, math.nan), base[lk]),
                 _fmt(rec["test_loss_mean_weights"]),
                 "—" if baseline or absent and not math.isfinite(rec["test_loss_mean_weights"])
                 else _change(rec["test_loss_mean_weights"], base["test_loss_mean_weights"]),
                 _fmt(rec["lambda_pred"]), _fmt(rec["lambda_pred_jitter"])]
        if has_acc:
            acc = rec.get("test_accuracy_mean_weights", math.nan)
            b = base["test_accuracy_mean_weights"]
            cells[7:7] = [_fmt(acc), "—" if baseline or not math.isfinite(acc)
                          else f"{100 * (acc - b):+.1f} points"]
        return cells

    lines.append("| " + " | ".join(row(base, True)) + " |")
    for rec in result["sources"]:
        lines.append("| " + " | ".join(row(rec, False)) + " |")
    return "\n".join(lines) + "\n"


def _relative_changes(result: dict[str, Any], key: str) -> list[float]:
    """Per source: the change of ``key`` when it is off, in % of the baseline (points for accuracy)."""
    b = result["baseline"].get(key, math.nan)
    values = []
    for r in result["sources"]:
        v = r.get(key, math.nan)
        if key == "test_accuracy_mean_weights":
            values.append(100.0 * (v - b) if math.isfinite(v) and math.isfinite(b) else math.nan)
        else:
            values.append(100.0 * (v - b) / abs(b) if math.isfinite(v) and math.isfinite(b) and b != 0 else math.nan)
    return values


def attribution_figure(result: dict[str, Any] | list[dict[str, Any]], path: str | Path) -> Path:
    """Bars: the change of the penalty, the test loss (and accuracy) when each source is switched off.

    One colour for every bar (the sign is read from the axis and the printed value, never from a
    colour); with several results (seeds) the bar is the mean, the error bar one standard deviation
    over seeds and the dots the single seeds.

    Parameters
    ----------
    result : dict or list of dict
        :func:`run_attribution` results: one, or one per seed (same sources).
    path : str or Path
        Output file; its suffix names the format (``.png`` at 300 dpi, ``.pdf``, ``.svg``).

    Returns
    -------
    Path
        ``path``.
    """
    from ..plotting.style import OKABE_ITO, figure_format, save_figure, styled, subplots

    figure_format(path, "attribution_figure", "path")
    results = [result] if isinstance(result, dict) else list(result)
    if not results:
        raise invalid("attribution_figure", "result", "one result or a non-empty list of results", result)

    @styled
    def draw() -> Path:
        base = results[0]["baseline"]
        recs = results[0]["sources"]
        names = [r["source"].replace("_", " ") for r in recs]
        lk, ll = _lambda_key(base)
        panels = [(lk, f"Δ{ll} when off (% of baseline)"),
                  ("test_loss_mean_weights", "Δ test loss when off (% of baseline)")]
        if math.isfinite(base.get("test_accuracy_mean_weights", math.nan)):
            panels.append(("test_accuracy_mean_weights", "Δ test accuracy when off (points)"))
        fig, axes = subplots(len(panels), 1, width=3.5, height=0.95 + len(panels) * (0.2 * len(recs) + 0.55))
        axes = np.atleast_1d(axes)
        ypos = np.arange(len(recs))[::-1]
        for ax, (key, label) in zip(axes, panels):
            per_seed = np.array([_relative_changes(res, key) for res in results], dtype=float)
            finite = np.isfinite(per_seed)
            counts = finite.sum(axis=0)
            mean = np.array([per_seed[finite[:, j], j].mean() if counts[j] else math.nan
                             for j in range(len(recs))])
            sd = np.array([per_seed[finite[:, j], j].std(ddof=1) if counts[j] > 1 else 0.0
                           for j in range(len(recs))])
            span = max([abs(v) + s for v, s in zip(mean, sd) if math.isfinite(v)] + [1e-12])
            for y, v, s, r in zip(ypos, mean, sd, recs):
                if not math.isfinite(v):
                    ax.text(0.0, y, "absent" if r["status"] == "absent" else "n/a", ha="center", va="center",
                            color="0.4")
                    continue
                ax.barh(y, v, color=OKABE_ITO["blue"], height=0.6, xerr=s if len(results) > 1 else None,
                        error_kw={"ecolor": "k", "elinewidth": 0.8, "capsize": 2})
                ax.text(1.02, y, f"{v:+.1f}" if len(results) == 1 else f"{v:+.1f} ± {s:.1f}", va="center",
                        ha="left", transform=ax.get_yaxis_transform())  # a column of values right of the axes
            if len(results) > 1:
                for row in per_seed:
                    ok = np.isfinite(row)
                    ax.plot(row[ok], ypos[ok], "o", ms=2.2, color="k", mew=0, ls="none")
            ax.axvline(0.0, color="k", lw=0.8)
            ax.set_ylim(-0.7, len(recs) - 0.3)
            ax.set_xlim(-1.1 * span, 1.1 * span)
            ax.set_yticks(ypos, names)
            ax.set_xlabel(label)
        seeds = f"mean ± sd over {len(results)} seeds, dots: single seeds" if len(results) > 1 else "one seed"
        acc = base.get("test_accuracy_mean_weights", math.nan)
        seed = base.get("config", {}).get("seed")
        fig.suptitle(f"Baseline{'' if seed is None else f' (seed {seed})'}: {ll} = "
                     f"{_fmt(base.get(lk, math.nan), '.3g')},\ntest loss = "
                     f"{_fmt(base['test_loss_mean_weights'], '.4g')}"
                     + (f", accuracy = {acc:.3f}" if math.isfinite(acc) else "") + f"\n({seeds})")
        return save_figure(fig, Path(path))

    return draw()


def add_attribute_arguments(p) -> None:
    """Arguments of ``memsim attribute``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser, which receives the arguments.
    """
    p.add_argument("config", help="TOML run configuration")
    p.add_argument("--out", required=True, help="output folder (attribution.md, .json and the figure)")
    p.add_argument("--include-absent", action="store_true",
                   help="also rerun sources absent from the config (they reproduce the baseline)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--format", default="png", choices=("png", "pdf", "svg"),
                   help="figure format (default png, 300 dpi)")


def attribute_main(args) -> int:
    """``memsim attribute CONFIG.toml --out DIR``: run, then write attribution.md/.json/.png.

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
    from .io import write_json_atomic

    fmt = check_figure_format(getattr(args, "format", "png"), "memsim attribute", "--format")  # before any work
    raw = load_toml(args.config)
    resolved = resolve_config(raw, base_dir=config_dir(args.config))  # validate before any work or any file
    if "task" in raw:  # data files named relative to the config: every rerun reads the resolved (absolute) task
        raw = {**raw, "task": resolved.task.to_dict()}
    result = run_attribution(raw, include_absent=args.include_absent, progress=None if not args.quiet else False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = attribution_table(result)
    md = out / "attribution.md"
    tmp = md.with_name(".attribution.md.tmp")
    tmp.write_text(f"# memsim attribution: {Path(args.config).name}\n\n" + table + "\n" + _legend())
    tmp.replace(md)
    write_json_atomic(out / "attribution.json", result)
    png = attribution_figure(result, out / f"attribution.{fmt}")
    print(table)
    print(f"wrote {md}\nwrote {out / 'attribution.json'}\nwrote {png}")
    return 0


def _legend() -> str:
    return ("Each row reruns the baseline with one source switched off (seed, data, data order and initial "
            "weights unchanged); Δ = value with the source off minus the baseline. λ_fit: ridge λ nearest the "
            "time-averaged weights; λ_pred: η→0 prediction from device physics; λ_pred_jitter: with the O(η) "
            "weight-jitter correction. Sources: " + "; ".join(f"`{k}`: {v}" for k, v in SOURCES.items()) + ".\n")

