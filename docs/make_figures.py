"""Regenerate every figure in ``docs/figures/``, the gallery ``docs/gallery.md`` and ``docs/readme_numbers.json``.

    python docs/make_figures.py                 # full sizes (about 10 minutes on 2 busy cores)
    python docs/make_figures.py --smoke --out /tmp/figs   # tiny sizes (a minute): the test's run
    python docs/make_figures.py --neurosim-json ranking.json   # NeuroSim figure from an earlier run

Every figure kind memsim writes is drawn from a real run, by the same code the commands use:

* ``memsim run`` on the README example (``experiments/readme_example/config.toml``): ``run_curves``,
  ``run_weights``, ``run_ridge``;
* ``memsim run`` on the digits MLP of ``experiments/neurosim_ranking/attribution_digits.toml``:
  ``network_curves``, ``network_lambda``;
* ``memsim demo``: ``hardware_vs_ridge`` (the README figure), ``demo_lambda_fit_vs_pred``, ``demo_noise``;
* ``memsim report`` on ``experiments/sweep_example/config.toml`` (the points run in this process):
  ``report_lambda_fit_vs_lambda_pred``, ``report_test_loss_vs_<dim>``, ``report_hardware_vs_ridge``;
* ``memsim attribute`` on ``attribution_digits.toml`` for seeds 0, 1, 2 (mean ± sd; the README's numbers
  are those of seed 0, the documented command): ``attribution_digits``;
* ``memsim devices plot ag_a_si``: ``device_ag_a_si``, and every device model's figure under
  ``figures/devices/`` (``docs/device_figures.py``) when that script is there;
* ``experiments/neurosim_ranking/run.py``: ``neurosim_ranking`` and the Spearman rank correlation.

Every number README.md quotes from these runs goes into ``readme_numbers.json`` (``numbers``: flat
keys such as ``readme_example.lambda_fit``); ``tests/test_readme_numbers.py`` checks the README
against it. Not regenerated here (recorded under ``not_regenerated``): the speed table and the timings
(``memsim bench`` on a quiet machine; read from ``--bench-json`` when given) and the test-suite time.
With ``--smoke`` every run is tiny: the numbers and figures are then only a check of the machinery.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXPERIMENTS = ROOT / "experiments"
README_CONFIG = EXPERIMENTS / "readme_example" / "config.toml"
ATTRIBUTION_CONFIG = EXPERIMENTS / "neurosim_ranking" / "attribution_digits.toml"
SWEEP_CONFIG = EXPERIMENTS / "sweep_example" / "config.toml"
NEUROSIM_SCRIPT = EXPERIMENTS / "neurosim_ranking" / "run.py"
ATTRIBUTION_SEEDS = (0, 1, 2)
#: With --smoke, the digits MLP's task and training are replaced by these (a few seconds per run).
SMOKE_NETWORK = {"task": {"kind": "teacher_classification", "n_train": 60, "n_test": 40, "n_features": 8,
                          "n_classes": 3},
                 "train": {"lr": 0.05, "epochs": 2, "batch_size": 8, "average_from": 0.5}}

#: Figures in the gallery that experiment scripts draw (a smoke run of this script does not).
EXTERNAL = {"neurosim_ranking", "analog_sgd_vs_range", "tiki_taka_symmetry_shift", "reference_offset"}

#: (file stem in figures/, one sentence for the gallery), in gallery order, by section.
GALLERY: list[tuple[str, list[tuple[str, str]]]] = [
    ("memsim run: one linear-regression run", [
        ("run_curves", "Training and test loss per epoch of the README example, with the OLS test loss and the "
                       "averaging window over which the weights are time-averaged shaded."),
        ("run_weights", "The time-averaged hardware weights against OLS, against the generalized-Tikhonov "
                        "prediction w_pred and against ridge at the fitted λ_fit: the last two lie on the diagonal."),
        ("run_ridge", "The digital ridge test-loss curve over λ, the hardware's test loss, and λ_fit and λ_pred "
                      "drawn with different line styles and markers, so that both stay visible when they agree."),
    ]),
    ("memsim run: a network", [
        ("network_curves", "Loss and accuracy of an in-place digits MLP against the digital network trained "
                           "without weight decay, with the averaging window shaded."),
        ("network_lambda", "Histogram of the per-weight plug-in penalty λ_i = E|g_i| F'(w_s) by layer; the legend "
                           "says how many weights each layer has and how many with λ_i = 0 are not shown."),
    ]),
    ("memsim demo", [
        ("hardware_vs_ridge", "Every in-place run on the ridge test-loss curve at its fitted λ (filled) and at the "
                              "λ predicted from device physics (open); λ = 0 (OLS, and the constant-step control "
                              "when it does not regularise) sits on the broken axis at the left."),
        ("demo_lambda_fit_vs_pred", "Fitted against predicted penalty for the range and the noise sweeps."),
        ("demo_noise", "Cycle-to-cycle noise leaves λ_fit and λ_pred in place (top) while the weights' jitter "
                       "in the averaging window grows (bottom)."),
    ]),
    ("memsim report: a sweep", [
        ("report_lambda_fit_vs_lambda_pred", "λ_fit against λ_pred per grid point of the example sweep, mean ± sd "
                                             "over seeds, one colour and marker per point."),
        ("report_test_loss_vs_w_range", "Test loss of the hardware (filled, solid) and of ridge at λ_fit (open, "
                                        "dashed) against the device range, one series per noise level, offset "
                                        "sideways so that identical series stay visible."),
        ("report_test_loss_vs_device_dw_min_std", "The same against the cycle-to-cycle noise, one series per "
                                                  "device range."),
        ("report_hardware_vs_ridge", "The hardware's test loss against that of ridge at λ_fit, per grid point."),
    ]),
    ("memsim attribute", [
        ("attribution_digits", "Change of the penalty, the test loss and the accuracy of a digits MLP when each "
                               "noise source is switched off (one colour: the sign is read from the axis), mean ± "
                               "sd over three seeds with the single seeds as dots."),
    ]),
    ("memsim devices plot", [
        ("device_ag_a_si", "Weight against pulse number of one Ag:a-Si cell and of the nominal device (top), and "
                           "the mean step of one pulse against the weight with the symmetry point (bottom)."),
    ]),
    ("experiments: residual learning (regenerated by each study's run.py)", [
        ("analog_sgd_vs_range", "Analog SGD's asymptotic error against the device range tau, next to memsim's "
                                "predicted stationary point, with digital SGD and Tiki-Taka beside it "
                                "(experiments/analog_sgd_vs_range)."),
        ("tiki_taka_symmetry_shift", "Tiki-Taka with a zero reference drifts once the fast array's symmetry point "
                                     "moves; c-TTv2 and AGAD do not (experiments/tiki_taka_symmetry_shift)."),
        ("reference_offset", "A reference offset of -0.8: TTv2 breaks down, c-TTv2 slows, AGAD converges "
                             "(experiments/reference_offset)."),
    ]),
    ("experiments/neurosim_ranking", [
        ("neurosim_ranking", "The seven NeuroSim V3 devices trained in place on digits against NeuroSim's MNIST "
                             "accuracies, and their per-layer plug-in penalty."),
    ]),
]


def _say(quiet: bool, *args: Any) -> None:
    if not quiet:
        print(*args, flush=True)


def _load_toml(path: Path) -> dict[str, Any]:
    from memsim.workflows.config import load_toml

    return load_toml(path)


def _copy(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` atomically (a temporary file beside ``dst``, then a rename)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)
    return dst


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and isinstance(v, (int, float)) and math.isfinite(v) else None


# ------------------------------------------------------------------------------------------ the runs
def readme_example(smoke: bool, work: Path, figures: Path, numbers: dict[str, Any]) -> None:
    """``memsim run`` on the README example: three figures and the five numbers the README quotes."""
    from memsim.workflows.config import resolve_config
    from memsim.workflows.run import run

    raw = _load_toml(README_CONFIG)
    if smoke:
        raw["task"]["n_test"] = 200
        raw["train"]["epochs"] = 4
    s = run(resolve_config(raw), work / "run", progress=False)
    for name in ("curves", "weights", "ridge"):
        _copy(work / "run" / f"{name}.png", figures / f"run_{name}.png")
    for key in ("lambda_fit", "lambda_pred", "lambda_plugin", "ridge_path_distance", "tikhonov_pred_distance"):
        numbers[f"readme_example.{key}"] = _finite(s[key])


def network(smoke: bool, work: Path, figures: Path, numbers: dict[str, Any]) -> None:
    """``memsim run`` on the attribution's digits MLP: the network figures."""
    from memsim.workflows.config import resolve_config
    from memsim.workflows.run import run

    raw = _load_toml(ATTRIBUTION_CONFIG)
    if smoke:
        raw.update(SMOKE_NETWORK)
    run(resolve_config(raw, base_dir=ATTRIBUTION_CONFIG.parent), work / "network", progress=False)
    for name in ("curves", "lambda"):
        _copy(work / "network" / f"{name}.png", figures / f"network_{name}.png")


def demo(smoke: bool, work: Path, figures: Path, numbers: dict[str, Any]) -> None:
    """``memsim demo``: three figures and the demo's claims in the README."""
    from memsim.workflows.studies import demo_figures, run_demo

    records = run_demo(smoke=smoke, progress=False)
    for r in records:
        wv = r.get("weights_var")
        r["weights_var_mean"] = float(np.mean(wv)) if wv is not None else math.nan
    demo_figures(records, work / "demo")
    for name, target in (("hardware_vs_ridge", "hardware_vs_ridge"), ("lambda_fit_vs_pred", "demo_lambda_fit_vs_pred"),
                         ("noise", "demo_noise")):
        _copy(work / "demo" / f"{name}.png", figures / f"{target}.png")
    rng = [r for r in records if r["group"] == "range"]
    noise = [r for r in records if r["group"] == "noise"]
    control = [r for r in records if r["group"] == "control"]
    gap = [100.0 * abs(r["lambda_pred"] / r["lambda_fit"] - 1.0) for r in rng if r["lambda_fit"] > 0]
    numbers["demo.lambda_pred_vs_fit_pct_min"] = min(gap)
    numbers["demo.lambda_pred_vs_fit_pct_max"] = max(gap)
    ref = [r for r in noise if r["dw_min_std"] == 0.0][0]
    numbers["demo.noise_max_dw_min_std"] = max(r["dw_min_std"] for r in noise)
    numbers["demo.noise_lambda_fit_change_pct_max"] = max(
        100.0 * abs(r["lambda_fit"] / ref["lambda_fit"] - 1.0) for r in noise)
    top = max(noise, key=lambda r: r["dw_min_std"])
    numbers["demo.noise_jitter_growth"] = top["weights_var_mean"] / ref["weights_var_mean"]
    numbers["demo.control_lambda_fit"] = _finite(control[0]["lambda_fit"]) if control else None


def _sweep_dataset(raw: dict[str, Any]):
    """The results of a sweep run point by point in this process (no worker pool)."""
    from memsim.workflows.results import build_dataset
    from memsim.workflows.sweeps import parse_sweep, run_point

    sweep = parse_sweep(raw)
    return build_dataset(sweep.manifest(), [run_point(p.config.to_dict()) for p in sweep.points])


def report(smoke: bool, work: Path, figures: Path, numbers: dict[str, Any]) -> None:
    """``memsim report`` on the example sweep: the four report figures."""
    from memsim.workflows.report import write_report

    raw = _load_toml(SWEEP_CONFIG)
    if smoke:
        raw["task"]["n_test"] = 100
        raw["train"]["epochs"] = 3
        raw["sweep"]["seeds"] = 2
        for group in raw["sweep"].get("zip", {}).values():
            for key in group:
                group[key] = group[key][:2]
    paths = write_report(_sweep_dataset(raw), work / "report")
    for p in paths:
        if p.suffix == ".png":
            _copy(p, figures / f"report_{p.name}")


def _attribution_raw(seed: int, smoke: bool) -> dict[str, Any]:
    raw = _load_toml(ATTRIBUTION_CONFIG)
    raw["seed"] = seed
    if smoke:
        raw.update(SMOKE_NETWORK)
    return raw


def attribution(smoke: bool, work: Path, figures: Path, numbers: dict[str, Any]) -> None:
    """``memsim attribute`` on the digits MLP, seeds 0-2: the README figure and its numbers (seed 0)."""
    from memsim.workflows.attribution import attribution_figure, run_attribution

    seeds = ATTRIBUTION_SEEDS[:2] if smoke else ATTRIBUTION_SEEDS
    from memsim.workflows.io import write_json_atomic

    results = [run_attribution(_attribution_raw(seed, smoke), progress=False) for seed in seeds]
    write_json_atomic(work / "attribution_results.json", results)
    attribution_figure(results, work / "attribution_digits.png")
    _copy(work / "attribution_digits.png", figures / "attribution_digits.png")
    base = results[0]["baseline"]
    by = {r["source"]: r for r in results[0]["sources"]}
    numbers["attribution.seed"] = ATTRIBUTION_SEEDS[0]
    numbers["attribution.baseline_test_loss"] = _finite(base["test_loss_mean_weights"])
    numbers["attribution.baseline_test_accuracy"] = _finite(base["test_accuracy_mean_weights"])
    asym = by["asymmetry"]
    numbers["attribution.asymmetry_test_loss_change_pct"] = _finite(
        100.0 * (asym["test_loss_mean_weights"] / base["test_loss_mean_weights"] - 1.0))
    numbers["attribution.asymmetry_accuracy_change_points"] = _finite(
        100.0 * (asym["test_accuracy_mean_weights"] - base["test_accuracy_mean_weights"]))
    others = [100.0 * abs(by[s]["test_accuracy_mean_weights"] - base["test_accuracy_mean_weights"])
              for s in ("cycle_to_cycle", "device_to_device", "read_noise", "quantisation") if s in by]
    numbers["attribution.other_sources_accuracy_change_points_max"] = max(others)
    if len(results) > 1:
        loss = [100.0 * ({r["source"]: r for r in res["sources"]}["asymmetry"]["test_loss_mean_weights"]
                         / res["baseline"]["test_loss_mean_weights"] - 1.0) for res in results]
        numbers["attribution.asymmetry_test_loss_change_pct_mean_over_seeds"] = float(np.mean(loss))
        numbers["attribution.asymmetry_test_loss_change_pct_sd_over_seeds"] = float(np.std(loss, ddof=1))


def device(smoke: bool, work: Path, figures: Path, numbers: dict[str, Any]) -> None:
    """``memsim devices plot ag_a_si`` (the README figure) and, if present, every device model's figure."""
    from memsim.workflows.devices import plot_preset

    plot_preset("ag_a_si", figures / "device_ag_a_si.png", cycles=1 if smoke else 3, seed=0)
    script = DOCS / "device_figures.py"
    if script.exists() and not smoke:
        module = _module(script, "memsim_docs_device_figures")
        from memsim.physics.devices import DEVICE_MODELS

        for kind in sorted(DEVICE_MODELS):
            if kind in module.FIGURE_DEVICES:
                out = plot_preset(module.device_for(kind), figures / "devices" / f"{kind}.png", cycles=2, seed=0)
                module.shrink(out)


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


#: A ``ranking.json`` of an earlier run of the NeuroSim experiment to draw from instead of rerunning it.
NEUROSIM_RESULT: list[Path] = []


def _nan(value: Any) -> Any:
    """JSON ``null`` back to NaN (``ranking.json`` stores NaN as null)."""
    if isinstance(value, dict):
        return {k: _nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan(v) for v in value]
    return math.nan if value is None else value


def neurosim(smoke: bool, work: Path, figures: Path, numbers: dict[str, Any]) -> None:
    """``experiments/neurosim_ranking/run.py``: the ranking figure, Spearman rho and the penalty ratio."""
    import json

    module = _module(NEUROSIM_SCRIPT, "memsim_neurosim_ranking")
    if NEUROSIM_RESULT:
        result = _nan(json.loads(NEUROSIM_RESULT[0].read_text()))
        module.figure(result, figures / "neurosim_ranking.png")
    else:
        result = module.run_experiment(smoke=smoke, out=work / "neurosim", quiet=True)
        _copy(work / "neurosim" / "ranking.png", figures / "neurosim_ranking.png")
    an = result["analysis"]
    numbers["neurosim.spearman_rho"] = _finite(an["spearman_rho"])
    numbers["neurosim.seeds"] = len(result["setup"]["seeds"])
    rows = result["devices"]
    # the plug-in penalty (mean over layers) of the strongly asymmetric PCMO and Ag:a-Si over that of the HZO FeFET
    lam = {r["name"]: float(np.mean([L["lambda_plugin_mean"] for L in r["per_layer"].values()])) for r in rows}
    fefet = [n for n in lam if "fefet" in n.lower()]
    strong = [n for n in lam if n.startswith(("PCMO", "Ag:a-Si"))]
    if fefet and strong and lam[fefet[0]] > 0:
        ratios = [lam[n] / lam[fefet[0]] for n in strong]
        numbers["neurosim.penalty_ratio_to_fefet_min"] = _finite(min(ratios))
        numbers["neurosim.penalty_ratio_to_fefet_max"] = _finite(max(ratios))
    numbers["neurosim.spearman_p"] = _finite(an["spearman_p"])
    rank = {r["name"]: r["rank_here"] for r in rows}
    alox = [n for n in rank if n.startswith("AlOx")]
    if alox:
        numbers["neurosim.alox_rank_here"] = rank[alox[0]]


STEPS = (("README example (memsim run)", readme_example), ("network run", network), ("memsim demo", demo),
         ("sweep + memsim report", report), ("memsim attribute, seeds 0-2", attribution),
         ("devices plot", device), ("NeuroSim ranking", neurosim))


# ------------------------------------------------------------------------------------------ outputs
def gallery_markdown(figures: Path, smoke: bool) -> str:
    """``gallery.md``: one section per figure kind, with its image and one sentence."""
    lines = ["# Gallery", "",
             "Every kind of figure memsim writes, regenerated by `python docs/make_figures.py` from real runs "
             "(the commands and configurations are listed in that script's docstring). All figures use the "
             "memsim style (`memsim/plotting/memsim.mplstyle`): text of at least 7 pt when printed 3.5 in wide "
             "and the Okabe-Ito colour-blind-safe palette. The commands that write several figures (`memsim run`, "
             "`demo`, `report`, `attribute`) take `--format png|pdf|svg` (PNG at 300 dpi); `memsim devices plot` "
             "writes the format the suffix of `--out` names.", ""]
    if smoke:
        lines += ["*(smoke sizes: these figures only check the machinery)*", ""]
    for section, items in GALLERY:
        lines += [f"## {section}", ""]
        for stem, sentence in items:
            path = figures / f"{stem}.png"
            if path.exists():
                lines += [f"### `{stem}`", "", f"![{stem}](figures/{stem}.png)", "", sentence, ""]
    devices = sorted((figures / "devices").glob("*.png")) if (figures / "devices").is_dir() else []
    if devices:
        lines += ["## Device models (`memsim devices plot`)", "",
                  "One figure per device model, drawn by `docs/device_figures.py` with the function behind "
                  "`memsim devices plot`.", ""]
        for p in devices:
            lines += [f"### `{p.stem}`", "", f"![{p.stem}](figures/devices/{p.name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def make(out: Path = DOCS, smoke: bool = False, bench_json: Path | None = None, skip: tuple[str, ...] = (),
         quiet: bool = False, work_dir: Path | None = None) -> dict[str, Any]:
    """Run every step, write ``out/figures/*.png``, ``out/gallery.md`` and ``out/readme_numbers.json``.

    Parameters
    ----------
    out : Path
        Output folder (``docs/`` by default).
    smoke : bool
        Tiny sizes.
    bench_json : Path, optional
        A ``memsim bench --json`` file: its figures are recorded under ``bench``.
    skip : tuple of str
        Step functions to skip (``"neurosim"``, ...): their numbers keep the values of an existing JSON.
    quiet : bool
        No progress lines.
    work_dir : Path, optional
        Keep the runs' own outputs (run folders, attribution figures, ranking.json) there instead of in a
        temporary folder.

    Returns
    -------
    dict
        The JSON document written.
    """
    import json

    from memsim.version import __version__
    from memsim.workflows.io import write_json_atomic

    out = Path(out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    old_path = out / "readme_numbers.json"
    old = json.loads(old_path.read_text()) if old_path.exists() else {}
    numbers: dict[str, Any] = {}
    timing: dict[str, float] = {}
    doc = {"generated_by": "python docs/make_figures.py" + (" --smoke" if smoke else ""), "smoke": smoke,
           "memsim_version": __version__, "numbers": numbers, "wall_s": timing,
           "not_regenerated": ["README 'Speed' table and its prose (memsim bench on a quiet machine)",
                               "Quick start: demo time and test-suite time (measured by .ci/run)",
                               "the scikit-learn snippet's printed difference (~3e-4)"]}
    if bench_json is not None:
        doc["bench"] = json.loads(Path(bench_json).read_text())
    with contextlib.ExitStack() as stack:
        work = Path(work_dir) if work_dir else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="memsim-figures-")))
        work.mkdir(parents=True, exist_ok=True)
        for title, step in STEPS:
            if step.__name__ in skip:
                kept = {k: v for k, v in old.get("numbers", {}).items() if k.startswith(step.__name__ + ".")}
                numbers.update(kept)
                _say(quiet, f"{title}: skipped ({len(kept)} numbers kept from {old_path.name})")
            else:
                t0 = time.perf_counter()
                step(smoke, work, figures, numbers)
                timing[step.__name__] = round(time.perf_counter() - t0, 1)
                _say(quiet, f"{title}: done ({timing[step.__name__]:.0f} s)")
            doc["numbers"] = dict(sorted(numbers.items()))
            write_json_atomic(out / "readme_numbers.json", doc)  # after every step: a failed step keeps the others
    write_text_atomic(out / "gallery.md", gallery_markdown(figures, smoke))
    _say(quiet, f"wrote {figures}/, {out / 'gallery.md'}, {out / 'readme_numbers.json'}")
    return doc


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python docs/make_figures.py [--smoke] [--out DIR] [--bench-json FILE] [--skip STEP]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(DOCS), help="output folder (default: docs/): figures/, gallery.md, "
                                                    "readme_numbers.json")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (about a minute)")
    p.add_argument("--bench-json", default=None, help="a 'memsim bench --json' file to record")
    p.add_argument("--skip", action="append", default=[], choices=[s.__name__ for _, s in STEPS],
                   help="skip a step (its numbers are kept from the existing JSON); repeatable")
    p.add_argument("--work", default=None, help="keep the runs' own outputs in this folder")
    p.add_argument("--neurosim-json", default=None,
                   help="draw the NeuroSim figure and numbers from this ranking.json instead of rerunning")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.neurosim_json:
        NEUROSIM_RESULT.append(Path(args.neurosim_json))
    make(Path(args.out), args.smoke, Path(args.bench_json) if args.bench_json else None, tuple(args.skip), args.quiet,
         Path(args.work) if args.work else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
