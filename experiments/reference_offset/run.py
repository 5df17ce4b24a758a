"""A misprogrammed reference (Rasch, Carta, Fagbohungbe & Gokmen, Nat. Commun. 15:7133, 2024, Fig. 3).

    python experiments/reference_offset/run.py [--smoke] [--out DIR] [--figure PATH]

A 5x5 weight matrix learns a teacher ``W*`` (uniform in [-0.5, 0.5]) from noise-free pairs
``(x, W* x)``, ``x ~ N(0, I)``, one per-sample update per step (per-sample lr 0.1), on soft-bounds
devices on [-1, 1] with ``dw_min = 0.001`` for both arrays (A: the fast array, C: the weights). A's
reference is offset to -0.8 (every cell; the symmetry point is 0) or, as the control, at the symmetry
point. TTv2, c-TTv2 and AGAD (``fast_lr`` 0.1, one column read per step, one pulse per transfer
write) are run through :class:`memsim.models.compound.CompoundTile`; the figure shows the relative
error ``||W - W*||_F / ||W*||_F`` of the model weight against the step.

The paper's Fig. 3 drives the arrays with a "constant gradient"; memsim uses the noise-free
least-squares fit above (an expected gradient ``W - W*`` that vanishes at the solution), so that
"converges" has a target. Writes ``results.json`` and ``reference_offset.png`` to OUT (default
``./reference-offset``); a full run also writes the figure to ``docs/figures/``.
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
from memsim.workflows.io import write_json_atomic

HERE = Path(__file__).resolve().parent
FIGURE = HERE.parents[1] / "docs" / "figures" / "reference_offset.png"
FULL = {"steps": 30000, "seeds": [1, 2, 3], "every": 250}
SMOKE = {"steps": 300, "seeds": [1], "every": 50}
KINDS = ("ttv2", "c_ttv2", "agad")
OFFSET = -0.8
LR = 0.1
DEVICE = SoftBounds(w_max=1.0, dw_min=0.001)


def scheme(kind: str, offset: bool):
    """The scheme of one curve."""
    ref = {"reference": "offset", "reference_mean": OFFSET} if offset else {"reference": "symmetry"}
    return scheme_from_dict({"kind": kind, "fast_lr": 0.1, "fast_device": DEVICE, **ref})


def curve(kind: str, offset: bool, seed: int, steps: int, every: int) -> dict[str, Any]:
    """Relative error of the model weight every ``every`` steps."""
    g = np.random.default_rng(seed)
    target = g.uniform(-0.5, 0.5, (5, 5))
    tile = CompoundTile(5, 5, DEVICE, scheme(kind, offset), seed=seed)
    tile.program(0.0)
    err = []
    for k in range(steps):
        x = g.standard_normal(5)
        tile.update(x, tile.weights @ x - target @ x, LR)
        if (k + 1) % every == 0:
            err.append(float(np.linalg.norm(tile.weights - target) / np.linalg.norm(target)))
    s = tile.statistics()
    return {"kind": kind, "offset": offset, "seed": seed, "error": err,
            "transfer_writes": int(s["transfer_writes"]), "slow_pulses": int(np.sum(s["slow_pulses"]))}


def figure(result: dict[str, Any], path: Path) -> Path:
    """Relative error against the step: offset reference (solid) and symmetry reference (dotted)."""
    from memsim.plotting.style import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    every = result["setup"]["every"]
    for i, kind in enumerate(KINDS):
        for offset, ls in ((True, "-"), (False, ":")):
            curves = np.array([c["error"] for c in result["curves"] if c["kind"] == kind and c["offset"] == offset])
            steps = every * np.arange(1, curves.shape[1] + 1)
            label = f"{kind}, reference {'-0.8' if offset else 'at symmetry point'}"
            ax.plot(steps, curves.mean(axis=0), ls, color=f"C{i}", label=label)
    ax.set_yscale("log")
    ax.set(xlabel="step (per-sample updates)", ylabel="||W - W*|| / ||W*||")
    ax.set_title("5x5 teacher, soft bounds [-1, 1], A's reference offset -0.8" + (" (smoke)" if result["smoke"]
                                                                                  else ""), fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def run_experiment(smoke: bool = False, out: str | Path = "reference-offset", figure_path: str | Path | None = None,
                   quiet: bool = False) -> dict[str, Any]:
    """Every scheme with and without the offset, every seed; write results.json and the figure."""
    setup = SMOKE if smoke else FULL
    t0 = time.perf_counter()
    curves = []
    for kind in KINDS:
        for offset in (True, False):
            for seed in setup["seeds"]:
                curves.append(curve(kind, offset, seed, setup["steps"], setup["every"]))
                if not quiet:
                    print(f"{kind:7s} offset={offset!s:5s} seed {seed}: final error {curves[-1]['error'][-1]:.3g}",
                          flush=True)
    final = {f"{k}_{'offset' if o else 'symmetry'}": float(np.mean([c["error"][-1] for c in curves
                                                                     if c["kind"] == k and c["offset"] == o]))
             for k in KINDS for o in (True, False)}
    result = {"smoke": smoke, "setup": {**setup, "lr": LR, "offset": OFFSET, "device": DEVICE.to_dict()},
              "final_error": final, "curves": curves, "wall_s": time.perf_counter() - t0}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", result)
    figure(result, out / "reference_offset.png")
    if figure_path is not None:
        figure(result, Path(figure_path))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="reference-offset", help="output folder")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--figure", default=None, help=f"also write the figure here (full runs default: {FIGURE})")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    fig = args.figure if args.figure is not None else (None if args.smoke else FIGURE)
    run_experiment(args.smoke, args.out, fig, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
