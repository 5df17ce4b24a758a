"""NeuroSim V3.0 device ranking: the seven benchmark devices trained in place on scikit-learn digits.

    python experiments/neurosim_ranking/run.py [--smoke] [--out DIR]

Each device of ``config.toml`` (``[[devices]]``: the memsim preset plus a copy of the numbers NeuroSim
reports for it) is trained in place as the MLP of ``[run]`` with NeuroSim's deterministic pulse rule,
through the runner API (:func:`memsim.workflows.config.resolve_config`, :func:`memsim.workflows.run.run_summary`).
Writes to OUT (default ``./neurosim-ranking``):

* ``ranking.md``: accuracy here next to NeuroSim's MNIST accuracy, the Spearman rank correlation,
  the per-layer plug-in lambda and what the devices that disagree have in common;
* ``ranking.json``: the same numbers (atomic, :func:`memsim.workflows.io.write_json_atomic`);
* ``ranking.png``: accuracy here against NeuroSim's, and the per-layer lambda.

Reads this folder, the memsim package and the NeuroSim benchmark table ``data/neurosim_v3_devices.csv``
of the repository (the numbers copied into ``config.toml`` must equal it).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from memsim.workflows.config import load_toml, resolve_config
from memsim.physics.presets import preset_info
from memsim.workflows.io import write_json_atomic
from memsim.workflows.run import run_summary

HERE = Path(__file__).resolve().parent
#: NeuroSim V3.0 Table II (analog devices), with its source in data/README.md.
NEUROSIM_TABLE = HERE.parents[1] / "data" / "neurosim_v3_devices.csv"

#: Thresholds of the explanation paragraph (ranking.md): which device properties are "notable".
FEW_STATES = 50            #: fewer pulses than this from Gmin to Gmax (memsim's few_states warning)
STRONG_NL = 3.0            #: |NeuroSim label| of either branch at or above this
FAR_SYMMETRY = 0.2         #: |w_s| (weights on [-1, 1]) at or above this
FROZEN = 0.02              #: fewer pulses per cell per sample than this: the layer barely moves (dead zone)
LARGE_C2C_STEPS = 2.0      #: c2c noise of one write (NeuroSim: sigma * range) in nominal steps, at or above this


# --------------------------------------------------------------------------------------- config
def load_experiment(smoke: bool = False) -> dict[str, Any]:
    """``config.toml``; with ``smoke``, its ``[smoke]`` seeds and ``[smoke.run.*]`` sizes merged in."""
    doc = copy.deepcopy(load_toml(HERE / "config.toml"))
    check_reference_numbers(doc["devices"])
    if smoke:
        smoke_doc = doc.get("smoke", {})
        if "seeds" in smoke_doc:
            doc["seeds"] = smoke_doc["seeds"]
        for section, values in smoke_doc.get("run", {}).items():
            doc["run"].setdefault(section, {}).update(values)
    return doc


def check_reference_numbers(devices: list[dict[str, Any]], table: Path = NEUROSIM_TABLE) -> None:
    """Check every ``[[devices]]`` entry against NeuroSim's table (``data/neurosim_v3_devices.csv``).

    The states, labels, c2c sigma, MNIST accuracy and reference copied into ``config.toml`` must equal the
    table's row of the same ``name``; raises ``SystemExit`` naming the device and the column otherwise.
    """
    import csv

    with open(table, newline="", encoding="utf-8") as fh:
        rows = {row["name"]: row for row in csv.DictReader(fh)}
    for device in devices:
        row = rows.get(device["name"])
        if row is None:
            raise SystemExit(f"{table}: no device named {device['name']!r} (config.toml [[devices]])")
        if row["reference"] != device["reference"]:
            raise SystemExit(f"{device['name']}: reference {device['reference']!r} but {table.name} says "
                             f"{row['reference']!r}")
        for key in ("states_ltp", "states_ltd", "nl_ltp", "nl_ltd", "c2c_sigma", "online_mnist_accuracy"):
            if not math.isclose(float(row[key]), float(device[key]), rel_tol=0, abs_tol=1e-12):
                raise SystemExit(f"{device['name']}: {key} = {device[key]} in config.toml but {row[key]} in "
                                 f"{table.name}")


def device_run_config(run: dict[str, Any], device: dict[str, Any]) -> dict[str, Any]:
    """The raw run config of one device: ``[run]`` plus the preset's ``[device]`` table.

    Checks that the preset still carries the numbers copied into ``config.toml``.
    """
    table = preset_info(device["preset"])["device"]
    for key in ("states_ltp", "states_ltd", "nl_ltp", "nl_ltd"):
        if not math.isclose(float(table[key]), float(device[key]), rel_tol=0, abs_tol=1e-12):
            raise SystemExit(f"preset {device['preset']!r}: {key} = {table[key]} but config.toml says {device[key]}")
    if not math.isclose(float(table["dw_min_std"]), float(device["c2c_sigma"]), abs_tol=1e-12):
        raise SystemExit(f"preset {device['preset']!r}: dw_min_std = {table['dw_min_std']} but config.toml says "
                         f"c2c_sigma = {device['c2c_sigma']}")
    raw = copy.deepcopy(run)
    raw["device"] = dict(table)
    return raw


# --------------------------------------------------------------------------------------- one device
def run_one(run: dict[str, Any], device: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train one device in place with one seed; return the numbers of the ranking (JSON-able)."""
    raw = device_run_config(run, device)
    raw["seed"] = int(seed)
    config = resolve_config(raw)
    t0 = time.perf_counter()
    summary, arrays = run_summary(config, progress=False)
    wall = time.perf_counter() - t0
    dev, tr = config.device, config.train
    n_train = len(arrays["data"].X_train)
    events = n_train * tr.epochs if not tr.accumulate else math.ceil(n_train / tr.batch_size) * tr.epochs
    layers = {}
    for name, L in summary["per_layer"].items():
        rows, cols = L["shape"]
        cells = rows * cols  # bias column included: it is programmed like any other cell
        layers[name] = {
            "shape": L["shape"],
            "lambda_plugin_mean": L["lambda_plugin_mean"],
            "lambda_plugin_median": L["lambda_plugin_median"],
            "request_over_dw_min": tr.lr * L["mean_abs_grad_mean"] / float(dev.dw_min),
            "pulses_per_cell_per_event": (L["pulses_up"] + L["pulses_down"]) / (cells * events),
            "stationarity_ratio": L["stationarity_ratio"],
        }
    return {
        "seed": int(seed),
        "test_accuracy_final": summary["test_accuracy_final"],
        "test_accuracy_mean_weights": summary["test_accuracy_mean_weights"],
        "train_accuracy_final": summary["train_accuracy_final"],
        "digital_test_accuracy": summary["digital_test_accuracy"],
        "digital_per_weight_test_accuracy": summary["digital_per_weight_test_accuracy"],
        "lambda_plugin_mean": summary["lambda_plugin_mean"],
        "global_weight_decay_fit": summary["global_weight_decay_fit"],
        "per_weight_relative_output_distance": summary["per_weight_relative_output_distance"],
        "per_layer": layers,
        "pulses_up": summary["pulses_up"],
        "pulses_down": summary["pulses_down"],
        "regime_warnings": list(summary["regime_warnings"]),
        "curves_test_accuracy": list(summary["curves"]["test_accuracy"]),
        "wall_s": wall,
    }


def _mean(values: list[Any]) -> float:
    """Mean over the finite values (NaN if none)."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else math.nan


def _std(values: list[Any]) -> float:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan


def run_device(run: dict[str, Any], device: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    """Train one device once per seed; return its row of the ranking (means over the seeds, JSON-able)."""
    per_seed = [run_one(run, device, s) for s in seeds]
    dev = resolve_config(device_run_config(run, device)).device
    row: dict[str, Any] = {
        "preset": device["preset"], "name": device["name"], "reference": device["reference"],
        "states_ltp": device["states_ltp"], "states_ltd": device["states_ltd"],
        "nl_ltp": device["nl_ltp"], "nl_ltd": device["nl_ltd"], "c2c_sigma": device["c2c_sigma"],
        "neurosim_mnist_accuracy": device["online_mnist_accuracy"],
        "neurosim_accuracy_approximate": bool(device.get("approximate", False)),
        "dw_min": float(dev.dw_min),
        # NeuroSim's per-write c2c noise sigma*(Gmax - Gmin) against the nominal step (Gmax - Gmin)/states_ltp
        "c2c_over_step": float(device["c2c_sigma"]) * float(device["states_ltp"]),
        "symmetry_point": float(dev.symmetry_point()),
        "asymmetry_slope": float(dev.asymmetry_slope()),
        "seeds": list(seeds),
    }
    for key in ("test_accuracy_final", "test_accuracy_mean_weights", "train_accuracy_final",
                "digital_test_accuracy", "digital_per_weight_test_accuracy", "lambda_plugin_mean",
                "global_weight_decay_fit", "per_weight_relative_output_distance", "pulses_up", "pulses_down"):
        row[key] = _mean([r[key] for r in per_seed])
    for key in ("test_accuracy_final", "test_accuracy_mean_weights"):
        row[key + "_std"] = _std([r[key] for r in per_seed])
    row["per_layer"] = {name: {"shape": L["shape"], **{k: _mean([r["per_layer"][name][k] for r in per_seed])
                                                      for k in L if k != "shape"}}
                        for name, L in per_seed[0]["per_layer"].items()}
    kinds: dict[str, int] = {}
    for r in per_seed:
        for w in set(w.split(":")[0] for w in r["regime_warnings"]):
            kinds[w] = kinds.get(w, 0) + 1
    row["regime_warning_kinds"] = kinds          # warning kind -> number of seeds that raised it
    row["regime_warnings_first_seed"] = per_seed[0]["regime_warnings"]
    row["per_seed"] = per_seed
    row["wall_s"] = float(sum(r["wall_s"] for r in per_seed))
    return row


# --------------------------------------------------------------------------------------- analysis
def ranks(values: list[float]) -> list[int]:
    """1 = best (highest); ties share the better rank."""
    order = sorted(values, reverse=True)
    return [order.index(v) + 1 for v in values]


def spearman(rows: list[dict[str, Any]], key: str) -> tuple[float, float]:
    """``(rho, p)`` of scipy.stats.spearmanr between ``key`` and NeuroSim's MNIST accuracy."""
    from scipy.stats import spearmanr

    a = [r[key] for r in rows]
    b = [r["neurosim_mnist_accuracy"] for r in rows]
    if len(set(a)) < 2:  # a constant column: rho is undefined
        return math.nan, math.nan
    res = spearmanr(a, b)
    return float(res.statistic if hasattr(res, "statistic") else res[0]), float(res.pvalue)


def _traits(r: dict[str, Any], lam_median: float) -> list[str]:
    """The notable properties of a device, from its parameters and this run's numbers (thresholds above)."""
    out = []
    states = min(r["states_ltp"], r["states_ltd"])
    if states < FEW_STATES:
        out.append(f"few states ({r['states_ltp']:g}/{r['states_ltd']:g}, dw_min = {r['dw_min']:.3g})")
    nl = max(abs(r["nl_ltp"]), abs(r["nl_ltd"]))
    if nl >= STRONG_NL:
        out.append(f"strong non-linearity (labels {r['nl_ltp']:g}/{r['nl_ltd']:g})")
    slope, w_s = r["asymmetry_slope"], r["symmetry_point"]
    if math.isfinite(slope) and slope < 0:
        out.append(f"no restoring symmetry point (F'(w_s) = {slope:.2f} < 0 at w_s = {w_s:+.2f}: the drift pushes "
                   "weights away from w_s towards the bounds, no Tikhonov form, no plug-in λ)")
    elif math.isfinite(w_s) and abs(w_s) >= FAR_SYMMETRY:
        out.append(f"symmetry point far from 0 (w_s = {w_s:+.2f}, F'(w_s) = {slope:.2f}: every weight is pulled "
                   "there)")
    if r["nl_ltd"] > 0:
        out.append(f"a positive LTD label ({r['nl_ltd']:g}: LTD steps grow towards Gmin)")
    lam = [L["lambda_plugin_mean"] for L in r["per_layer"].values()]
    if all(math.isfinite(v) for v in lam) and lam_median > 0 and max(lam) >= 2 * lam_median:
        out.append(f"a large plug-in penalty (per-layer λ {', '.join(f'{v:.3g}' for v in lam)}, up to "
                   f"{max(lam) / lam_median:.1f}x the median over devices and layers)")
    if r["c2c_over_step"] >= LARGE_C2C_STEPS:
        out.append(f"cycle-to-cycle noise of {r['c2c_over_step']:.1f} nominal steps per write "
                   f"(sigma {r['c2c_sigma']:g} of the range x {r['states_ltp']:g} states)")
    frozen = [f"layer {k}: {L['pulses_per_cell_per_event']:.3f}" for k, L in enumerate(r["per_layer"].values())
              if L["pulses_per_cell_per_event"] < FROZEN]
    if frozen:
        out.append("a nearly frozen layer (" + ", ".join(frozen) + " pulses per cell per sample; mean request "
                   + ", ".join(f"{L['request_over_dw_min']:.2f}" for L in r["per_layer"].values())
                   + " dw_min: most requests fall in the dead zone of deterministic rounding)")
    return out


def _within_noise(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two devices' mean final accuracies differ by less than twice the standard error of the
    difference over the seeds (False with one seed: no estimate)."""
    sa, sb = a.get("test_accuracy_final_std", math.nan), b.get("test_accuracy_final_std", math.nan)
    n = len(a.get("seeds", [])) or 1
    if not (math.isfinite(sa) and math.isfinite(sb)):
        return False
    return abs(a["test_accuracy_final"] - b["test_accuracy_final"]) < 2 * math.sqrt((sa ** 2 + sb ** 2) / n)


def analyse(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Ranks, Spearman rho (final and time-averaged weights) and the devices that disagree."""
    here = ranks([r["test_accuracy_final"] for r in rows])
    theirs = ranks([r["neurosim_mnist_accuracy"] for r in rows])
    for r, a, b in zip(rows, here, theirs):
        r["rank_here"], r["rank_neurosim"] = a, b
    rho, p = spearman(rows, "test_accuracy_final")
    rho_m, p_m = spearman(rows, "test_accuracy_mean_weights")
    lam_all = [L["lambda_plugin_mean"] for r in rows for L in r["per_layer"].values()
               if math.isfinite(L["lambda_plugin_mean"])]
    lam_median = float(np.median(lam_all)) if lam_all else math.nan
    disagree = []
    for r in rows:
        shift = r["rank_here"] - r["rank_neurosim"]
        if abs(shift) >= 2:
            swapped = [o for o in rows if o is not r
                       and (o["rank_here"] - r["rank_here"]) * (o["rank_neurosim"] - r["rank_neurosim"]) < 0]
            within = [o["name"] for o in swapped if _within_noise(r, o)]
            disagree.append({"name": r["name"], "rank_here": r["rank_here"], "rank_neurosim": r["rank_neurosim"],
                             "swapped_with": [o["name"] for o in swapped], "swaps_within_seed_noise": within,
                             "traits": _traits(r, lam_median)})
    return {"spearman_rho": rho, "spearman_p": p, "spearman_rho_mean_weights": rho_m,
            "spearman_p_mean_weights": p_m, "lambda_plugin_median": lam_median, "disagree": disagree,
            "traits": {r["name"]: _traits(r, lam_median) for r in rows}}


# --------------------------------------------------------------------------------------- outputs
def _f(v: Any, fmt: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def markdown(result: dict[str, Any]) -> str:
    """ranking.md."""
    rows, an, setup = result["devices"], result["analysis"], result["setup"]
    layer_names = list(rows[0]["per_layer"]) if rows else []
    head = ["device", "states LTP/LTD", "NL LTP/LTD", "c2c (steps)", "NeuroSim MNIST acc.", "rank",
            "digits acc. (final)", "digits acc. (mean w)", "rank", "w_s", "F'(w_s)"]
    head += [f"λ {n}" for n in layer_names] + [f"pulses/cell/sample {n}" for n in layer_names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pm = " ± " if len(setup["seeds"]) > 1 else ""
    for r in sorted(rows, key=lambda r: r["rank_neurosim"]):
        def acc(key):
            return _f(r[key]) + (pm + _f(r[key + "_std"], ".3f") if pm else "")

        cells = [r["name"], f"{r['states_ltp']:g}/{r['states_ltd']:g}", f"{r['nl_ltp']:g}/{r['nl_ltd']:g}",
                 f"{r['c2c_sigma']:g} ({r['c2c_over_step']:.2g})", ("~" if r["neurosim_accuracy_approximate"] else "")
                 + f"{r['neurosim_mnist_accuracy']:.2f}", str(r["rank_neurosim"]),
                 acc("test_accuracy_final"), acc("test_accuracy_mean_weights"), str(r["rank_here"]),
                 _f(r["symmetry_point"], "+.3f"), _f(r["asymmetry_slope"], ".3f")]
        cells += [_f(r["per_layer"][n]["lambda_plugin_mean"], ".3g") for n in layer_names]
        cells += [_f(r["per_layer"][n]["pulses_per_cell_per_event"], ".3f") for n in layer_names]
        lines.append("| " + " | ".join(cells) + " |")
    digital = rows[0]["digital_test_accuracy"] if rows else math.nan
    sizes = "-".join(str(s) for s in setup["layer_sizes"])
    text = [f"# NeuroSim V3.0 devices ranked on scikit-learn digits{' (smoke sizes)' if setup['smoke'] else ''}",
            "",
            f"Each preset trained in place as a {sizes} {setup['activation']} MLP (softmax loss, weights on "
            f"[-1, 1]) with NeuroSim's deterministic pulse rule (`n = round(|Δ|/dw_min)`) and NeuroSim's "
            f"per-write c2c noise; lr = {setup['lr']:g} for every device, {setup['epochs']} epochs, mini-batches of "
            f"{setup['batch_size']} (forward/backward per batch, then one rank-1 programming event per sample); "
            f"{setup['n_train']} training / {setup['n_test']} test images; mean"
            + (f" ± standard deviation over {len(setup['seeds'])} seeds (split, initial weights, data order, device "
               "noise)" if len(setup["seeds"]) > 1 else f" of seed {setup['seeds'][0]}") + ". NeuroSim's "
            "numbers: MNIST online-learning accuracy of a 400-100-10 MLP, NeuroSim V3.0 manual Table II "
            "(\"~\": approximate there). Rank 1 = most accurate (by the final-weight accuracy). "
            "c2c (steps): NeuroSim's per-write noise sigma·(Gmax − Gmin) in units of the nominal step "
            "(Gmax − Gmin)/states_ltp. "
            "w_s, F'(w_s): the device's symmetry point and the slope of its asymmetry function there "
            "(F' < 0: no restoring point). λ: mean per-weight plug-in penalty `E|g_i| F'(w_s)` of each layer "
            "(non-bias weights; n/a without a restoring symmetry point); pulses/cell/sample: programming pulses "
            "of the layer per cell (bias column included) per training sample over the whole run; requests "
            "below dw_min/2 round to no pulse (ranking.json also has the mean request lr·E|g| / dw_min over "
            "the averaging window).",
            "",
            *lines,
            "",
            f"Digital MLP (same data order and initial weights, no decay): test accuracy {_f(digital)}"
            + (" (mean over the seeds)." if len(setup["seeds"]) > 1 else "."),
            "",
            f"**Spearman rank correlation** with NeuroSim's MNIST accuracy (final weights, {len(rows)} devices): "
            f"ρ = {_f(an['spearman_rho'], '.3f')} (p = {_f(an['spearman_p'], '.2g')}); with the time-averaged "
            f"weights ρ = {_f(an['spearman_rho_mean_weights'], '.3f')} "
            f"(p = {_f(an['spearman_p_mean_weights'], '.2g')}).",
            "",
            "## Where the rankings disagree", ""]
    if an["disagree"]:
        for d in an["disagree"]:
            traits = "; ".join(d["traits"]) if d["traits"] else "none of the listed traits"
            noise = ""
            if d["swaps_within_seed_noise"]:
                noise = (" Its order against " + ", ".join(d["swaps_within_seed_noise"]) + " is within seed noise "
                         "(mean accuracies closer than two standard errors of their difference).")
            text.append(f"* **{d['name']}**: rank {d['rank_here']} here, {d['rank_neurosim']} in NeuroSim "
                        f"(swapped with {', '.join(d['swapped_with'])}).{noise} Notable here: {traits}.")
    else:
        text.append("No device moves by two or more ranks.")
    text += ["", "Traits of every device (same rules): " + "; ".join(
        f"{name}: {', '.join(t) if t else '—'}" for name, t in an["traits"].items()) + ".", ""]
    text += ["## Caveats", "",
             f"Digits is not MNIST: 8x8 images (64 standardised features), {setup['n_train']} training images, "
             "a much smaller "
             "network and a few epochs, against NeuroSim's 20x20 MNIST crops, 60,000 images and a 400-100-10 "
             "network with its own learning rate and update scheme. NeuroSim's accuracies also include its "
             "periphery (ADC, read-out) which is off here, and memsim's exp_step differs from NeuroSim in "
             "stated ways (exact label conversion; LTD programmed with the LTP quantum, so GST PCM's 100/120 "
             "states move LTD 0.83 of NeuroSim's). Seven devices give a rank correlation with a wide uncertainty "
             f"(the p-value above), {len(setup['seeds'])} seed(s) leave the accuracies uncertain by the "
             "standard deviations shown, and four of NeuroSim's numbers are approximate. What agrees or "
             "disagrees here says which device properties matter for *this* small task at *this* learning "
             "rate.", ""]
    if result.get("notes"):
        text += ["## Reading of the full run", "",
                 "_Hand-written interpretation of the full run of 2026-11-23 (memsim 0.1.0, config.toml as "
                 "committed). The numbers it quotes come from that run; the table above is this run's, "
                 "computed. If they disagree, the table is right and this text is stale._", "",
                 result["notes"], ""]
    text.append(f"Run time: {result['wall_s']:.0f} s.")
    return "\n".join(text) + "\n"


def figure(result: dict[str, Any], path: Path) -> Path:
    """ranking.png: accuracy here vs NeuroSim's (labelled), and the per-layer plug-in lambda (memsim style)."""
    import textwrap

    from memsim.plotting.style import OKABE_ITO, PALETTE, save_figure, styled, subplots

    @styled
    def draw() -> Path:
        rows, an = result["devices"], result["analysis"]
        fig, (ax, ax2) = subplots(2, 1, width=3.5, height=6.4, gridspec_kw={"height_ratios": [1.25, 1]})
        x = np.array([r["neurosim_mnist_accuracy"] for r in rows])
        y = np.array([r["test_accuracy_final"] for r in rows])
        ym = np.array([r["test_accuracy_mean_weights"] for r in rows])
        ye = np.array([r.get("test_accuracy_final_std", math.nan) for r in rows])
        ax.scatter(x, ym, s=28, facecolor="none", edgecolor="0.45", zorder=2, label="time-averaged weights")
        nseeds = len(result["setup"]["seeds"])
        if nseeds > 1 and np.all(np.isfinite(ye)):
            ax.errorbar(x, y, yerr=ye, fmt="o", ms=4.5, color=OKABE_ITO["blue"], zorder=3,
                        label=f"final weights (mean ± sd, {nseeds} seeds)")
        else:
            ax.scatter(x, y, s=22, color=OKABE_ITO["blue"], zorder=3, label="final weights")
        # NeuroSim's top three (0.88-0.92) crowd together: their labels go into the empty upper middle,
        # stacked in the order of the points' heights, with leader lines.
        crowded = sorted([i for i, xi in enumerate(x) if xi >= 0.85], key=lambda i: -y[i])
        slot = {i: k for k, i in enumerate(crowded)}
        for i, (r, xi, yi) in enumerate(zip(rows, x, y)):
            if i in slot:
                ax.annotate(r["name"], (xi, yi), xytext=(0.50, 0.86 - 0.08 * slot[i]), textcoords="data", ha="left",
                            va="center", arrowprops=dict(arrowstyle="-", color="0.5", lw=0.6, shrinkA=2, shrinkB=4))
            else:  # a label near the right edge goes to the left of its point
                right = xi > 0.75
                ax.annotate(r["name"], (xi, yi), xytext=(-5 if right else 5, -4), textcoords="offset points",
                            ha="right" if right else "left", va="top")
        digital = float(np.mean([r["digital_test_accuracy"] for r in rows]))
        ax.axhline(digital, color="k", ls=":", lw=1, label=f"digital MLP ({digital:.3f})")
        ax.axhline(0.1, color="0.5", ls="--", lw=0.8, label="chance (0.1)")
        ax.set(xlabel="NeuroSim V3.0: MNIST accuracy (400-100-10 MLP)",
               ylabel="memsim: digits test accuracy", xlim=(0.1, 1.0), ylim=(0.0, 1.02))
        ax.set_title(f"Spearman ρ = {_f(an['spearman_rho'], '.2f')} (p = {_f(an['spearman_p'], '.2g')}), "
                     f"{len(rows)} devices")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, columnspacing=1.0)

        order = sorted(rows, key=lambda r: r["rank_neurosim"])
        names = list(order[0]["per_layer"])
        width = 0.8 / len(names)
        pos = np.arange(len(order))
        for k, n in enumerate(names):
            vals = [r["per_layer"][n]["lambda_plugin_mean"] for r in order]
            vals = [v if math.isfinite(v) else 0.0 for v in vals]
            shape = order[0]["per_layer"][n]["shape"]
            ax2.bar(pos + (k - (len(names) - 1) / 2) * width, vals, width, color=PALETTE[(k + 1) % len(PALETTE)],
                    hatch=("", "//", "..")[k % 3], edgecolor="white", lw=0,
                    label=f"layer {k} ({shape[0]}x{shape[1]})")
        ax2.set_yscale("log")
        for p, r in zip(pos, order):
            if not all(math.isfinite(L["lambda_plugin_mean"]) for L in r["per_layer"].values()):
                ax2.text(p, 0.03, "no restoring\nsymmetry point", transform=ax2.get_xaxis_transform(), ha="center",
                         va="bottom", color="0.3", rotation=90)
        ax2.set_xticks(pos, [f"{r['name']} ({r['states_ltp']:g})" for r in order], rotation=35, ha="right")
        ax2.set(ylabel="mean plug-in λ_i = E|g_i| F'(w_s)")
        ax2.set_title("per-layer penalty, by NeuroSim accuracy (states)")
        ax2.legend(loc="upper left", ncol=1)
        setup = result["setup"]
        fig.suptitle("\n".join(textwrap.wrap(
            f"NeuroSim V3.0 devices in place on digits: {'-'.join(map(str, setup['layer_sizes']))} "
            f"{setup['activation']} MLP, deterministic rounding, lr {setup['lr']:g}, {setup['epochs']} epochs"
            + (" (smoke)" if setup["smoke"] else ""), 52)))
        return save_figure(fig, path)

    return draw()


# --------------------------------------------------------------------------------------- main
def _reading(doc: dict[str, Any]) -> str | None:
    """The hand-written reading of the full run (``[notes] full_run`` of config.toml), if there is one."""
    text = doc.get("notes", {}).get("full_run")
    return " ".join(text.split()) if text else None


def run_experiment(smoke: bool = False, out: str | Path = "neurosim-ranking", quiet: bool = False) -> dict[str, Any]:
    """Run every device, write ranking.md/.json/.png to ``out``; return the result."""
    doc = load_experiment(smoke)
    run = doc["run"]
    t0 = time.perf_counter()
    rows = []
    seeds = [int(v) for v in doc["seeds"]]
    for device in doc["devices"]:
        row = run_device(run, device, seeds)
        rows.append(row)
        if not quiet:
            print(f"{row['name']:<16} digits acc {row['test_accuracy_final']:.3f} (mean w "
                  f"{row['test_accuracy_mean_weights']:.3f})  NeuroSim MNIST {row['neurosim_mnist_accuracy']:.2f}  "
                  f"lambda per layer " + ", ".join(f"{L['lambda_plugin_mean']:.3g}" for L in row["per_layer"].values())
                  + f"  ({row['wall_s']:.1f} s)", flush=True)
    config = resolve_config({**device_run_config(run, doc["devices"][0]), "seed": seeds[0]})
    data = config.task.load(config.seed)
    setup = {"smoke": smoke, "seeds": seeds, "layer_sizes": [data.X_train.shape[1], *config.model.hidden, 10],
             "activation": config.model.activation, "lr": config.train.lr, "epochs": config.train.epochs,
             "batch_size": config.train.batch_size, "update": config.update.kind,
             "n_train": len(data.X_train), "n_test": len(data.X_test), "run_config": config.to_dict()}
    result = {"setup": setup, "devices": rows, "analysis": analyse(rows),
              "notes": None if smoke else _reading(doc),
              "source": "NeuroSim V3.0 user manual, section 9, Table II (copied in config.toml)",
              "wall_s": time.perf_counter() - t0}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "ranking.md"
    tmp = md.with_name(".ranking.md.tmp")
    tmp.write_text(markdown(result))
    tmp.replace(md)
    write_json_atomic(out / "ranking.json", result)
    figure(result, out / "ranking.png")
    if not quiet:
        an = result["analysis"]
        print(f"Spearman rho = {an['spearman_rho']:.3f} (p = {an['spearman_p']:.2g}); "
              f"wrote {md}, {out / 'ranking.json'}, {out / 'ranking.png'} ({result['wall_s']:.0f} s)")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="neurosim-ranking", help="output folder (default: ./neurosim-ranking)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    run_experiment(args.smoke, args.out, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
