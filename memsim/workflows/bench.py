"""The update benchmark: pulsed-update, forward-VMM and Philox normal-variate rates of a Tile.

Workload
--------
Square tiles of 256, 512 and 1024 cells a side (``smoke``: 32 and 64), batches of 1 and 32, the
devices ``ConstantStep(dw_min=0.001, dw_min_std=0.3)`` and ``SoftBounds(dw_min=0.001,
dw_min_std=0.3)`` (both ``w_max = 1``), the rule ``StochasticRounding()`` and ``lr = 0.01``.
Inputs ``x`` and errors ``d`` are uniform in ``[-1, 1]``, drawn once per (size, batch) with
``numpy.random.default_rng(0)``. For every (device, size, batch, backend) a fresh
``Tile(n, n, device, backend=..., seed=1)`` is built and

* the first :meth:`~memsim.models.tile.Tile.update` is timed alone (``first_call_s``); it includes
  Numba compilation, or only loading machine code when Numba's on-disk cache is warm, so
  ``first_call_s`` tells whether this process compiled (seconds) or not (about one call);
* updates are then repeated, in ``ROUNDS = 5`` rounds of at least 0.1 s each (``smoke``: 0.01 s),
  alternating ``d`` and ``-d`` so that the weights stay near their start instead of piling up at a
  bound (the pulse-count statistics are the same for both signs). ``cell_updates_per_s`` is the
  median of the rounds' ``rows * cols * batch * calls / seconds`` (each round's rate is kept in
  ``rounds_cell_updates_per_s``, so the spread shows), ``mean_pulses_per_cell_update`` is the
  increase of the tile's ``pulses_up + pulses_down`` counters over all rounds per cell update, and
  ``pulses_per_s`` is their product; ``compile_s`` is ``first_call_s`` minus the mean per-call
  time (0 when negative);
* the forward VMM with the same ``x`` batch is timed (``forward_s``, seconds per call).

Numba records run with Numba's thread count set to the machine's core count (capped at
``numba.config.NUMBA_NUM_THREADS``); NumPy records run only when asked for, only for sizes
``<= 256``, and carry ``threads = 1``. The rate of the Philox normal variates the kernels use is
measured with :func:`memsim.backends.numba.philox.fill_normals`: once per requested thread count
at the start (``philox_normals`` records), and, for every update record, after each of its
rounds at the record's thread count. ``normals_per_s`` is the median of those interleaved
measurements and ``pulses_per_s_over_normal_rate`` = ``pulses_per_s / normals_per_s``: the
fraction of the raw random-number rate that the update reaches, measured in the same minutes
(a shared machine's speed can drift by a third from one minute to the next; each pulse of a noisy
device consumes one normal variate).

Records
-------
``kind = "update"``: ``device``, ``rule``, ``rows``, ``cols``, ``batch``, ``backend``, ``dtype``,
``lr``, ``cell_updates_per_s``, ``pulses_per_s``, ``mean_pulses_per_cell_update``, ``forward_s``,
``first_call_s``, ``compile_s``, ``threads``, ``rounds_cell_updates_per_s``, ``normals_per_s`` and
``pulses_per_s_over_normal_rate`` (both ``None`` when numba is not available to measure the normal
rate).

``kind = "philox_normals"``: ``threads``, ``normals_per_s``.

The JSON file (``json_path``) holds ``{"memsim_version", "machine": {"cpu_count", "platform"},
"records": [...]}`` and is written atomically. No number here is asserted on by the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..version import __version__
from ..models.tile import Tile
from ..physics.devices import ConstantStep, SoftBounds
from ..errors import BackendUnavailableError
from ..params import invalid
from ..physics.updates import PulseCoincidence, StochasticRounding
from .bench_rates import SEED, core_count, normal_rate, repeat

__all__ = ["run_bench", "add_arguments", "main", "format_table", "train_benchmark",
           "BENCH_BACKENDS", "UPDATE_KEYS", "PHILOX_KEYS"]

BENCH_BACKENDS = ("numba", "numpy", "cupy")
#: tile sizes on the GPU (issue: up to 4096 x 4096)
GPU_SIZES = (256, 1024, 4096)
LR = 0.01
#: pulse-coincidence workload: bl 31 with update and BL management; dense and sparse learning rates
COINCIDENCE_BL = 31
COINCIDENCE_REGIMES = {"dense": 0.1, "sparse": 0.003}
SIZES = (256, 512, 1024)
SMOKE_SIZES = (32, 64)
BATCHES = (1, 32)
NUMPY_MAX_SIZE = 256
MIN_TIME = 0.5
#: update timings are split into this many rounds, with a normal-rate measurement after each
ROUNDS = 5
SMOKE_MIN_TIME = 0.05
FORWARD_MIN_TIME = 0.1
SMOKE_FORWARD_MIN_TIME = 0.01

#: Keys of an update record, in order (``kind`` first, the normal-rate ratio last).
UPDATE_KEYS = ("kind", "device", "rule", "rows", "cols", "batch", "backend", "dtype", "lr",
               "cell_updates_per_s", "pulses_per_s", "mean_pulses_per_cell_update", "forward_s",
               "first_call_s", "compile_s", "threads", "rounds_cell_updates_per_s", "normals_per_s",
               "pulses_per_s_over_normal_rate")
#: Keys of a Philox normal-rate record.
PHILOX_KEYS = ("kind", "threads", "normals_per_s")


#: Keys of a training record.
TRAINING_KEYS = ("kind", "backend", "device", "rows", "cols", "updates", "updates_per_s", "first_call_s",
                 "compile_s", "recording", "path")


# ---------------------------------------------------------------------- helpers
def _devices():
    return (ConstantStep(dw_min=0.001, dw_min_std=0.3, w_max=1.0),
            SoftBounds(dw_min=0.001, dw_min_std=0.3, w_max=1.0))


_core_count = core_count
_repeat = repeat


def _total_pulses(tile: Tile) -> int:
    stats = tile.statistics()
    return int(stats["pulses_up"].sum()) + int(stats["pulses_down"].sum())


def train_benchmark(*, smoke: bool = False, backends: Sequence[str] = ("numba",)) -> list[dict[str, Any]]:
    """Time in-place training of the README example (``memsim run``'s workload) after JIT warm-up.

    The example: linear regression, 100 x 20 plus a bias column (a 1 x 21 tile), soft bounds
    (``dw_min`` 0.001, ``dw_min_std`` 0.3), stochastic rounding, ``lr`` 0.005, 300 epochs of per-sample
    updates (30,000 updates; smoke: 10 epochs) with the statistics recording on from half-way, as
    :func:`memsim.models.train.train` runs it (fused kernel, per-epoch learning curves).
    ``updates_per_s`` = per-sample updates / wall seconds of the whole training call.

    Parameters
    ----------
    smoke : bool
        Quick run (10 epochs instead of 300).
    backends : sequence of str
        The backends to time (``numpy`` only with ``smoke``).

    Returns
    -------
    list of dict
        One record per backend, with ``updates_per_s``.
    """
    from ..tasks import LinearRegressionTask
    from ..models.mlp import AnalogMLP
    from ..models.config import TrainConfig
    from ..models.train import train

    data = LinearRegressionTask(n_train=100, n_test=2000, n_features=20, noise_std=1.0).load(1)
    device = SoftBounds(dw_min=0.001, dw_min_std=0.3, w_max=1.0)
    config = TrainConfig(lr=0.005, epochs=10 if smoke else 300, batch_size=1, average_from=0.5)
    records = []
    for backend in backends:
        if backend == "numpy" and not smoke:
            continue  # the reference is far too slow for 30,000 updates; it is checked in the tests
        def fit(epochs):
            model = AnalogMLP([20, 1], device=device, bias=True, backend=backend, seed=1)
            cfg = TrainConfig(**{**config.to_dict(), "epochs": epochs, "lr_step_epochs": ()})
            t0 = time.perf_counter()
            result = train(model, data, cfg, seed=1, loss="mse", progress=False)
            return time.perf_counter() - t0, model.step, result
        first_s, first_updates, _ = fit(1)  # compiles (or loads the on-disk cache)
        seconds, updates, result = fit(config.epochs)
        per_update = seconds / updates
        records.append({
            "kind": "training", "backend": backend, "device": device.kind, "rows": 1, "cols": 21,
            "updates": updates, "updates_per_s": updates / seconds, "first_call_s": first_s,
            "compile_s": max(first_s - first_updates * per_update, 0.0),
            "recording": result.statistics[0]["events"] > 0, "path": result.path,
        })
    return records


def _check_args(backends, threads) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if isinstance(backends, str):
        backends = (backends,)
    backends = tuple(dict.fromkeys(backends))
    if not backends or any(b not in BENCH_BACKENDS for b in backends):
        raise invalid("run_bench", "backends", "a non-empty sequence of "
                      + ", ".join(repr(b) for b in BENCH_BACKENDS), backends)
    threads = tuple(threads)
    if any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1 for t in threads):
        raise invalid("run_bench", "threads", "a sequence of integers >= 1", threads)
    return backends, tuple(int(t) for t in threads)


# ---------------------------------------------------------------------- measurements
def _bench_update(device, n: int, batch: int, backend: str, threads: int, smoke: bool,
                  rule=None, lr: float = LR, regime: str | None = None,
                  normal_rate: Callable[[float], float] | None = None) -> dict[str, Any]:
    """One update record.

    The updates are timed in ``ROUNDS`` rounds; ``cell_updates_per_s`` is the median of the rounds'
    rates (``rounds_cell_updates_per_s``). With ``normal_rate`` (seconds -> normal variates per
    second at this record's thread count), the normal rate is measured after every round as
    well: ``normals_per_s`` is the median of those, and ``pulses_per_s_over_normal_rate`` divides
    by it, so that both figures come from the same minutes of a machine whose speed drifts.
    With ``rule`` a :class:`~memsim.physics.updates.PulseCoincidence`, the record also has ``regime``,
    ``bl_used`` (mean bit length used), ``mean_coincidences_per_cell`` and ``coincidences_per_s``
    (a coincidence is one pulse).
    """
    min_time = SMOKE_MIN_TIME if smoke else MIN_TIME
    fwd_time = SMOKE_FORWARD_MIN_TIME if smoke else FORWARD_MIN_TIME
    gen = np.random.default_rng(0)
    x = gen.uniform(-1.0, 1.0, size=(batch, n))
    d = gen.uniform(-1.0, 1.0, size=(batch, n))
    neg_d = -d
    rule = StochasticRounding() if rule is None else rule
    tile = Tile(n, n, device, update=rule, backend=backend, seed=SEED)

    t0 = time.perf_counter()
    tile.update(x, d, lr)
    first_call_s = time.perf_counter() - t0

    sign = [False]

    def one_update() -> None:
        sign[0] = not sign[0]
        tile.update(x, neg_d if sign[0] else d, lr)
        tile.backend.synchronize()

    pulses0 = _total_pulses(tile)
    rates, normal_rates, calls, seconds = [], [], 0, 0.0
    for _ in range(ROUNDS):
        c, s = _repeat(one_update, min_time / ROUNDS)
        rates.append(n * n * batch * c / s)
        calls, seconds = calls + c, seconds + s
        if normal_rate is not None:
            normal_rates.append(normal_rate(min_time / ROUNDS))
    pulses = _total_pulses(tile) - pulses0
    cell_updates = n * n * batch * calls
    cell_updates_per_s = float(np.median(rates))
    pulses_per_cell = pulses / cell_updates
    normals_per_s = float(np.median(normal_rates)) if normal_rates else None

    tile.forward(x)  # warm-up (first-call costs of the VMM)
    f_calls, f_seconds = _repeat(lambda: tile.forward(x), fwd_time)
    if backend == "cupy":
        extra_gpu = {"bandwidth_fraction": bandwidth_fraction(tile, cell_updates_per_s)}
    else:
        extra_gpu = {}

    extra = {}
    if rule.kind == "pulse_coincidence":
        extra = {"regime": regime, "bl_used": float(np.mean(tile.backend.last_bl)),
                 "mean_coincidences_per_cell": pulses_per_cell,
                 "coincidences_per_s": cell_updates_per_s * pulses_per_cell}
    return {
        "kind": "update",
        "device": device.kind,
        "rule": rule.kind,
        "rows": n,
        "cols": n,
        "batch": batch,
        "backend": backend,
        "dtype": tile.dtype.name,
        "lr": lr,
        "cell_updates_per_s": cell_updates_per_s,
        "pulses_per_s": cell_updates_per_s * pulses_per_cell,
        "mean_pulses_per_cell_update": pulses_per_cell,
        "forward_s": f_seconds / f_calls,
        "first_call_s": first_call_s,
        "compile_s": max(first_call_s - seconds / calls, 0.0),
        "threads": threads,
        "rounds_cell_updates_per_s": rates,
        "normals_per_s": normals_per_s,
        "pulses_per_s_over_normal_rate": cell_updates_per_s * pulses_per_cell / normals_per_s if normals_per_s else None,
        **extra,
        **extra_gpu,
    }


def bandwidth_fraction(tile, cell_updates_per_s: float) -> float:
    """Achieved fraction of the GPU's peak memory bandwidth of the update kernel.

    Bytes moved per cell update: one read and one write of the cell's weight (the tile's dtype) and
    one read of each per-cell parameter (float64), as the issue counts them.
    """
    n_params = len(tile.device.all_cell_parameters)
    bytes_per_cell = 2 * tile.dtype.itemsize + 8 * n_params
    return cell_updates_per_s * bytes_per_cell / tile.backend.peak_bandwidth()


_normal_rate = normal_rate


def _bench_philox(numba, threads: int, smoke: bool) -> dict[str, Any]:
    """The Philox normal-rate record at ``threads`` Numba threads."""
    seconds = SMOKE_MIN_TIME if smoke else MIN_TIME
    return {"kind": "philox_normals", "threads": threads, "normals_per_s": _normal_rate(numba, threads, seconds, smoke)}


# ---------------------------------------------------------------------- output
def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def format_record(rec: dict[str, Any]) -> str:
    """One table line for a record (update or Philox)."""
    if rec.get("kind") == "philox_normals":
        return (f"{'philox_normals':<14} {'':<13} {'':>5} {'':>5} {'numba':<7} {rec['threads']:>3} "
                f"{'':>11} {_fmt(rec['normals_per_s'], '11.3e')}  (normal variates / s)")
    if rec.get("kind") == "training":
        return (f"{'training':<14} {rec['device']:<13} {'1x21':>5} {1:>5} {rec['backend']:<7} {'':>3} "
                f"{_fmt(rec['updates_per_s'], '11.3e')} updates/s  first call {rec['first_call_s']:.3f} s, "
                f"compile {rec['compile_s']:.3f} s")
    if rec.get("kind") != "update":
        return " ".join(f"{k}={v}" for k, v in rec.items())
    return (f"{'update':<14} {rec['device']:<13} {rec['rows']:>5} {rec['batch']:>5} {rec['backend']:<7} "
            f"{rec['threads']:>3} {_fmt(rec['cell_updates_per_s'], '11.3e')} {_fmt(rec['pulses_per_s'], '11.3e')} "
            f"{_fmt(rec['mean_pulses_per_cell_update'], '8.3f')} {_fmt(rec['forward_s'] * 1e3, '10.4f')} "
            f"{_fmt(rec['first_call_s'], '8.3f')} {_fmt(rec['compile_s'], '8.3f')} "
            f"{_fmt(rec['pulses_per_s_over_normal_rate'], '8.3f')}"
            + (f"  coincidence {rec['regime']} bl={rec['bl_used']:.1f}" if rec.get("regime") else ""))


TABLE_HEADER = (f"{'kind':<14} {'device':<13} {'size':>5} {'batch':>5} {'backend':<7} {'thr':>3} "
                f"{'cell-upd/s':>11} {'pulses/s':>11} {'pls/upd':>8} {'fwd ms':>10} "
                f"{'first s':>8} {'compile':>8} {'p/normal':>8}")


def format_table(records: Iterable[dict[str, Any]]) -> str:
    """The readable table of ``records``: a header and one line per record.

    Parameters
    ----------
    records : iterable of dict
        Benchmark records.

    Returns
    -------
    str
        The table, one line per record after a header.
    """
    return "\n".join([TABLE_HEADER] + [format_record(r) for r in records])


def _write_json(path: str | os.PathLike, records: list[dict[str, Any]]) -> None:
    """Write the benchmark document atomically (temporary file in the same folder, then ``os.replace``)."""
    path = Path(path)
    doc = {
        "memsim_version": __version__,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "records": records,
    }
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    # like tempfile.mkstemp, but created with mode 0o666 so that the umask applies as for open()
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------- the benchmark
def run_bench(*, smoke: bool = False, backends: Sequence[str] = ("numba",), json_path=None,
              threads: Sequence[int] = (1, 2), progress: bool = True, training: bool = False,
              workloads: Sequence[str] = (), network_threads: int | None = None,
              interleave: bool = False) -> list[dict]:
    """Run the update benchmark, print its table and optionally write it as JSON.

    Parameters
    ----------
    smoke : bool
        Small and quick: tiles of 32 and 64, 0.05 s per measurement, a smaller Philox array.
    backends : sequence of {"numba", "numpy"}
        Backends of the update records. NumPy (the slow reference) is only run for sizes <= 256.
    json_path : str or os.PathLike, optional
        Where to write ``{"memsim_version", "machine", "records"}`` (atomically).
    threads : sequence of int
        Numba thread counts of the Philox normal-rate records. The thread count of every update
        record (the core count for numba, 1 for numpy) is measured as well so that each update
        record has its ratio; counts above ``numba.config.NUMBA_NUM_THREADS`` are capped to it.
    progress : bool
        Show a tqdm progress bar over the records (only when stderr is a terminal).
    training : bool
        Run only the training benchmarks: :func:`train_benchmark` (a record of kind ``"training"``),
        then every network workload of :mod:`memsim.workflows.bench_networks` (kind
        ``"network_training"``).
    workloads : sequence of str
        Run these network workloads only (``memsim bench --workload NAME``; with ``training``, after the
        README-example record instead of every workload).
    network_threads : int, optional
        Numba threads of the network workloads (default: the core count).
    interleave : bool
        Time the network workloads in interleaved rounds (A B A B ...; ``memsim bench --workload A
        --workload B --interleave``): every record then also has its samples/s ratio to the first
        workload, round by round (:func:`memsim.workflows.bench_networks.run_interleaved`).

    Returns
    -------
    list of dict
        The Philox records, then the update records (module docstring); or the training records.

    Raises
    ------
    ConfigError
        Unknown backend or a thread count < 1.
    BackendUnavailableError
        A requested backend cannot run here.
    """
    backends, threads = _check_args(backends, threads)
    if training or workloads:
        from .bench_networks import default_workloads, format_network_record, run_interleaved, run_workload

        records = train_benchmark(smoke=smoke, backends=backends) if training else []
        if records:
            print(format_table(records), flush=True)
        for backend in (b for b in backends if b != "numpy"):  # networks: the fused backends
            names = list(workloads or default_workloads(backend))
            if interleave:
                for rec in run_interleaved(names, smoke=smoke, threads=network_threads, backend=backend):
                    records.append(rec)
                    print(format_network_record(rec), flush=True)
                continue
            for name in names:
                rec = run_workload(name, smoke=smoke, threads=network_threads, backend=backend)
                records.append(rec)
                print(format_network_record(rec), flush=True)
        if json_path is not None:
            _write_json(json_path, records)
        return records

    numba = None
    try:
        from ..backends.numba import threads as numba  # thread control and the Philox rate
    except ImportError:
        if "numba" in backends:
            from ..backends import get_backend

            get_backend("numba")  # raises BackendUnavailableError with the fix
    prev_threads = numba.get_num_threads() if numba is not None else None
    max_threads = numba.max_threads() if numba is not None else 1
    update_threads = min(_core_count(), max_threads)

    sizes = SMOKE_SIZES if smoke else SIZES
    plan = [(device, n, batch, backend, None, LR, None)
            for backend in backends
            for device in _devices()
            for n in (GPU_SIZES if backend == "cupy" and not smoke else sizes)
            if backend != "numpy" or n <= NUMPY_MAX_SIZE
            for batch in BATCHES]
    plan += [(device, n, batch, backend, PulseCoincidence(desired_bl=COINCIDENCE_BL), lr, regime)
             for backend in backends
             for regime, lr in COINCIDENCE_REGIMES.items()
             for device in _devices()
             for n in (GPU_SIZES if backend == "cupy" and not smoke else sizes)
             if backend != "numpy" or n <= NUMPY_MAX_SIZE
             for batch in BATCHES]
    rec_threads = {backend: (update_threads if backend == "numba" else 1) for backend in backends}
    philox_threads: list[int] = []
    if numba is not None:
        wanted = list(threads) + [rec_threads[b] for b in backends]
        philox_threads = sorted({min(t, max_threads) for t in wanted})

    from tqdm.auto import tqdm

    show = bool(progress) and sys.stderr.isatty()
    records: list[dict[str, Any]] = []
    with tqdm(total=len(philox_threads) + len(plan), desc="memsim bench", unit="record",
              disable=not show, file=sys.stderr, leave=False) as bar:
        def emit(line: str) -> None:
            if show:
                bar.write(line, file=sys.stdout)
            else:
                print(line, flush=True)

        emit(TABLE_HEADER)
        try:
            for t in philox_threads:
                bar.set_postfix_str(f"philox normals, {t} thread(s)")
                rec = _bench_philox(numba, t, smoke)
                records.append(rec)
                emit(format_record(rec))
                bar.update(1)
            if numba is not None:
                numba.set_num_threads(update_threads)
            for device, n, batch, backend, rule, lr, regime in plan:
                bar.set_postfix_str(f"{device.kind} {n}x{n} batch {batch} {backend} {regime or ''}")
                t = min(rec_threads[backend], max_threads)
                adjacent = (None if numba is None else
                            (lambda seconds, t=t: _normal_rate(numba, t, seconds, smoke)))
                rec = _bench_update(device, n, batch, backend, rec_threads[backend], smoke, rule, lr, regime,
                                    adjacent)
                records.append(rec)
                emit(format_record(rec))
                bar.update(1)
        finally:
            if numba is not None:
                numba.set_num_threads(prev_threads)

    if json_path is not None:
        _write_json(json_path, records)
    return records


# ---------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``memsim bench`` to ``parser`` (a subcommand parser) and return it.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Receives ``--smoke``, ``--json FILE``, ``--backend {numba,numpy}`` (repeatable; default
        numba, or numba and numpy with ``--smoke``), ``--training`` and ``--memory``.

    Returns
    -------
    argparse.ArgumentParser
        ``parser`` itself.
    """
    parser.add_argument("--smoke", action="store_true",
                        help="quick run: tiles of 32 and 64, short measurements")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the records to FILE as JSON (atomically)")
    parser.add_argument("--backend", action="append", choices=BENCH_BACKENDS, default=None,
                        help="backend to benchmark (repeatable; default: numba, plus numpy with --smoke; "
                             "numpy runs only sizes <= 256)")
    parser.add_argument("--training", action="store_true",
                        help="time in-place training instead: the README example (30,000 updates of a 1 x 21 "
                             "tile), then the network workloads")
    from .bench_networks import WORKLOADS

    parser.add_argument("--workload", action="append", choices=tuple(WORKLOADS), default=None,
                        help="run only this network-training workload (repeatable)")
    parser.add_argument("--interleave", action="store_true",
                        help="time the network workloads in interleaved rounds (A B A B ...) and print each "
                             "one's samples/s ratio to the first, round by round")
    parser.add_argument("--threads", type=int, default=None,
                        help="Numba threads of the network workloads (default: the core count)")
    parser.add_argument("--memory", action="store_true",
                        help="bytes per cell and creation time of a 4096 x 4096 float32 tile in a fresh process "
                             "instead (memsim.workflows.bench_memory; --smoke: 1100 x 1100)")
    return parser


def main(args: argparse.Namespace) -> int:
    """Run ``memsim bench`` from parsed arguments (see :func:`add_arguments`); return the exit code.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command-line arguments.

    Returns
    -------
    int
        0 on success, 1 when a backend is unavailable.
    """
    smoke = bool(getattr(args, "smoke", False))
    if getattr(args, "memory", False):
        from .bench_memory import run_memory_bench

        run_memory_bench(smoke=smoke, json_path=getattr(args, "json", None))
        return 0
    backends = getattr(args, "backend", None)
    if not backends:
        backends = ("numba", "numpy") if smoke else ("numba",)
    elif isinstance(backends, str):
        backends = (backends,)
    try:
        run_bench(smoke=smoke, backends=tuple(backends), json_path=getattr(args, "json", None),
                  training=bool(getattr(args, "training", False)),
                  workloads=tuple(getattr(args, "workload", None) or ()),
                  network_threads=getattr(args, "threads", None),
                  interleave=bool(getattr(args, "interleave", False)))
    except BackendUnavailableError as exc:
        print(f"memsim bench: {exc}", file=sys.stderr)
        return 1
    return 0
