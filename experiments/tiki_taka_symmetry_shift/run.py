"""Tiki-Taka when the fast device's symmetry point moves (Wu, Xiao, Gokmen, Fagbohungbe & Chen, NeurIPS 2025, Fig. 2).

    python experiments/tiki_taka_symmetry_shift/run.py [--smoke] [--out DIR] [--figure PATH]

Least squares with 50 features and 100 samples (features ``N(0, 1/50)``, teacher ``N(0, 0.5^2)``,
noise-free targets), soft-bounds devices on ``[-3.5, 3.5]`` (tau 3.5) with ``dw_min = 0.01``, the
fast array's with ``up_down`` in {0, 0.1, 0.2, 0.3} (its symmetry point moves away from 0 as
``up_down`` grows; C keeps ``up_down = 0``, see ``SHIFT_BOTH`` and the README), no
cycle-to-cycle noise, stochastic pulse coincidence with BL 8 for every analog write, per-sample lr
0.8 on a sample drawn at random each step, all weights initialised to 1, 1000 steps. Schemes
(:class:`memsim.models.compound.CompoundTile`, ``fast_lr`` 0.8, a full sweep of transfers per step,
``transfer_every = 1/50``): TTv1 with A's reference at zero (what the paper analyses; ``transfer_lr``
0.01, larger rates oscillate), c-TTv2 and AGAD with the same zero reference (``transfer_lr`` 0.1,
one pulse per transfer write), and TTv1 with A referenced at its symmetry point (the control). The
figure shows the final relative error ``||w - w*|| / ||w*||`` against ``up_down``.

Choices where the paper's setting is not spelled out: the feature scale, the teacher, ``dw_min``,
the transfer rates and which array's symmetry point moves. Writes ``results.json`` and ``tiki_taka_symmetry_shift.png`` to OUT
(default ``./tiki-taka-symmetry-shift``); a full run also writes the figure to ``docs/figures/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from memsim.models.compound import CompoundTile
from memsim.physics.devices import SoftBounds
from memsim.physics.schemes import scheme_from_dict
from memsim.physics.updates import PulseCoincidence
from memsim.workflows.io import write_json_atomic

HERE = Path(__file__).resolve().parent
FIGURE = HERE.parents[1] / "docs" / "figures" / "tiki_taka_symmetry_shift.png"
FULL = {"up_downs": [0.0, 0.1, 0.2, 0.3], "seeds": [1, 2, 3], "steps": 1000}
SMOKE = {"up_downs": [0.0, 0.3], "seeds": [1], "steps": 20}
D, N, TAU, LR = 50, 100, 3.5, 0.8
CURVES = {"tiki_taka (zero reference)": {"kind": "tiki_taka", "reference": "zero", "transfer_lr": 0.01},
          "c_ttv2 (zero reference)": {"kind": "c_ttv2", "reference": "zero", "transfer_lr": 0.1},
          "agad (zero reference)": {"kind": "agad", "reference": "zero", "transfer_lr": 0.1},
          "tiki_taka (symmetry reference)": {"kind": "tiki_taka", "reference": "symmetry", "transfer_lr": 0.01}}
#: Shift the symmetry point of A only (the paper's question), or of both arrays (the sensitivity run).
SHIFT_BOTH = False


def device(up_down: float) -> SoftBounds:
    """The device of both arrays."""
    return SoftBounds(w_max=TAU, w_min=-TAU, dw_min=0.01, up_down=up_down)


def one(name: str, up_down: float, seed: int, steps: int) -> dict[str, Any]:
    """Final relative error and training loss of one scheme, device and seed."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((N, D)) / np.sqrt(D)
    w_star = 0.5 * g.standard_normal(D)
    y = X @ w_star
    dev = device(up_down)
    scheme = scheme_from_dict({**CURVES[name], "fast_lr": LR, "fast_device": dev, "transfer_every": 1.0 / D})
    tile = CompoundTile(1, D, dev if SHIFT_BOTH else device(0.0), scheme, update=PulseCoincidence(desired_bl=8),
                        seed=seed)
    tile.program(1.0)
    for _ in range(steps):
        i = g.integers(N)
        tile.update(X[i], tile.weights[0] @ X[i] - y[i:i + 1], LR)
    w = tile.weights[0]
    return {"name": name, "up_down": up_down, "seed": seed, "symmetry_point": dev.symmetry_point(),
            "error": float(np.linalg.norm(w - w_star) / np.linalg.norm(w_star)),
            "loss": float(np.mean((X @ w - y) ** 2) / 2)}


def figure(result: dict[str, Any], path: Path) -> Path:
    """Final relative error against up_down, one line per scheme (mean over seeds; bars: sd)."""
    from memsim.plotting.style import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, name in enumerate(CURVES):
        us = result["setup"]["up_downs"]
        vals = [[r["error"] for r in result["rows"] if r["name"] == name and r["up_down"] == u] for u in us]
        ax.errorbar(us, [np.mean(v) for v in vals], yerr=[np.std(v) for v in vals], fmt="o-" if i < 3 else "k--",
                    capsize=3, label=name)
    ax.set_yscale("log")
    xlabel = "up_down of both arrays" if SHIFT_BOTH else "up_down of the fast array A"
    ax.set(xlabel=xlabel + " (its symmetry point moves off 0)", ylabel="||w - w*|| / ||w*|| after training")
    ax.set_title(f"Least squares {D} features, {N} samples, tau {TAU}, BL 8, lr {LR}"
                 + (" (smoke)" if result["smoke"] else ""), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def run_experiment(smoke: bool = False, out: str | Path = "tiki-taka-symmetry-shift",
                   figure_path: str | Path | None = None, quiet: bool = False) -> dict[str, Any]:
    """Every scheme, up_down and seed; write results.json and the figure."""
    setup = SMOKE if smoke else FULL
    t0 = time.perf_counter()
    rows = []
    for u in setup["up_downs"]:
        for name in CURVES:
            for seed in setup["seeds"]:
                rows.append(one(name, u, seed, setup["steps"]))
                if not quiet:
                    print(f"up_down {u:g} {name:32s} seed {seed}: error {rows[-1]['error']:.3g}", flush=True)
    summary = {name: {f"{u:g}": float(np.mean([r["error"] for r in rows if r["name"] == name and r["up_down"] == u]))
                      for u in setup["up_downs"]} for name in CURVES}
    result = {"smoke": smoke, "setup": {**setup, "d": D, "n": N, "tau": TAU, "lr": LR},
              "symmetry_points": {f"{u:g}": device(u).symmetry_point() for u in setup["up_downs"]},
              "mean_error": summary, "rows": rows, "wall_s": time.perf_counter() - t0}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", result)
    figure(result, out / "tiki_taka_symmetry_shift.png")
    if figure_path is not None:
        figure(result, Path(figure_path))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="tiki-taka-symmetry-shift", help="output folder")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--figure", default=None, help=f"also write the figure here (full runs default: {FIGURE})")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    fig = args.figure if args.figure is not None else (None if args.smoke else FIGURE)
    run_experiment(args.smoke, args.out, fig, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
