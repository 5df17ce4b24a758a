"""The ``memsim`` command line: ``demo``, ``run``, ``sweep``, ``report``, ``devices``, ``examples``, ``bench``."""

from __future__ import annotations

import argparse
import sys

from .errors import ConfigError, MemsimError

__all__ = ["main"]


def _cmd_run(args) -> int:
    from .workflows.config import load_config
    from .workflows.run import run, summary_lines

    config = load_config(args.config)  # validates everything before any work or any file
    quiet = args.quiet or not config.progress  # --quiet, or progress = false in the config
    summary = run(config, args.out, progress=False if quiet else None, overwrite=args.overwrite,
                  figure_format=args.format)
    print("\n".join(summary_lines(summary)))
    print(f"wrote {args.out}/summary.json")
    return 0


def _cmd_bench(args) -> int:
    from .workflows import bench

    return bench.main(args)


def _cmd_demo(args) -> int:
    from .workflows.studies import demo_main

    return demo_main(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``memsim`` command."""
    p = argparse.ArgumentParser(prog="memsim", description=__doc__)
    from .version import __version__

    p.add_argument("--version", action="version", version=f"memsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("bench", help="benchmark the pulsed update and the Philox generator")
    from .workflows import bench

    bench.add_arguments(b)
    b.set_defaults(func=_cmd_bench)

    r = sub.add_parser("run", help="train one configuration in place and analyse its implicit penalty")
    r.add_argument("config", help="TOML run configuration")
    r.add_argument("--out", required=True, help="output folder (summary.json and figures)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--overwrite", action="store_true",
                   help="replace --out even when it holds a run of another config or files memsim did not write "
                        "(a re-run of the same config replaces its own folder without this)")
    r.add_argument("--format", default="png", choices=("png", "pdf", "svg"),
                   help="figure format (default png, 300 dpi)")
    r.set_defaults(func=_cmd_run)

    d = sub.add_parser("demo", help="the headline study: hardware vs ridge over device range and noise")
    d.add_argument("--out", default="memsim-demo", help="output folder (default: ./memsim-demo)")
    d.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    d.add_argument("--backend", default="numba", choices=("numba", "numpy"))
    d.add_argument("--format", default="png", choices=("png", "pdf", "svg"),
                   help="figure format (default png, 300 dpi)")
    d.set_defaults(func=_cmd_demo)

    # --- memsim attribute (memsim.workflows.attribution) ---
    from .workflows.attribution import add_attribute_arguments, attribute_main

    at = sub.add_parser("attribute", help="rerun a configuration with one noise source off at a time")
    add_attribute_arguments(at)
    at.set_defaults(func=attribute_main)
    # --- end memsim attribute ---

    from .workflows.report import add_report_arguments, report_main
    from .workflows.sweeps import add_sweep_arguments, sweep_main

    s = sub.add_parser("sweep", help="a grid of runs x seeds: resumable, local pool or Dask; results.nc")
    add_sweep_arguments(s)
    s.set_defaults(func=sweep_main)
    rp = sub.add_parser("report", help="standard figures and a Markdown table from a sweep folder")
    add_report_arguments(rp)
    rp.set_defaults(func=report_main)
    from .workflows.devices import add_devices_arguments, devices_main

    dv = sub.add_parser("devices", help="list the device presets; 'devices plot NAME --out FILE.png' draws one")
    add_devices_arguments(dv)
    dv.set_defaults(func=devices_main)
    from .workflows.examples import add_examples_arguments, examples_main

    ex = sub.add_parser("examples", help="list the example configs; 'examples copy NAME DIR' copies one")
    add_examples_arguments(ex)
    ex.set_defaults(func=examples_main)
    return p


def _terminate(signum, frame):
    """SIGTERM -> SystemExit(143): ``finally`` blocks run (worker pools end, temporary files go)."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    Parameters
    ----------
    argv : list of str or None
        The arguments; ``None``: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code.
    """
    import signal
    import threading

    from .workflows.outputs import OutputError

    args = build_parser().parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, OutputError) as exc:
        print(f"memsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"memsim {args.command}: interrupted; re-run the same command to resume or start over",
              file=sys.stderr)
        return 130
    except MemsimError as exc:
        print(f"memsim {args.command}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
