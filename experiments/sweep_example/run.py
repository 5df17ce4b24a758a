"""The example sweep: the README example over w_max (w_min = -w_max) x dw_min_std x 3 seeds.

    python experiments/sweep_example/run.py --out sweep-example [--smoke] [--workers N]

Runs the sweep through the library API (resumable: run it again to finish a killed sweep),
writes OUT/results.nc and the standard report in OUT/report/.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from memsim.workflows.config import load_toml
from memsim.workflows.report import write_report
from memsim.workflows.results import open_results
from memsim.workflows.sweeps import parse_sweep, run_sweep

HERE = Path(__file__).resolve().parent
#: Tiny sizes for --smoke: the same 18 points, each in a few milliseconds.
SMOKE = {"train": {"epochs": 5}, "task": {"n_test": 200}}


def sweep_config(smoke: bool = False) -> dict:
    """The raw sweep document of ``config.toml``, with the --smoke sizes when asked."""
    raw = load_toml(HERE / "config.toml")
    if smoke:
        raw = copy.deepcopy(raw)
        for section, values in SMOKE.items():
            raw[section].update(values)
    return raw


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the example sweep and write its report; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="sweep-example", help="output folder (default: ./sweep-example)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    sweep = parse_sweep(sweep_config(args.smoke))
    outcome = run_sweep(sweep, args.out, workers=args.workers, progress=False if args.quiet else None)
    print(f"{outcome.total} points: {outcome.done} done, {outcome.failed} failed, {outcome.skipped} skipped")
    for path in write_report(open_results(outcome.results), Path(args.out) / "report"):
        print(f"wrote {path}")
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
