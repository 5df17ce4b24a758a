"""Parameter sweeps: a grid over dotted config keys x seeds, resumable, on a process pool or a Dask cluster.

A sweep config is a run config (``memsim run``) plus a ``[sweep]`` table::

    seed = 1                      # root seed of the sweep's seeds
    [sweep]
    seeds = 3                     # seed index k = 0, 1, 2 at every grid point
    [sweep.grid]                  # one dimension per key (cartesian product)
    "device.dw_min_std" = [0.0, 1.0]
    [sweep.zip.w_range]           # keys varied together: one dimension named 'w_range'
    "device.w_max" = [0.5, 1.0, 2.0]
    "device.w_min" = [-0.5, -1.0, -2.0]
    [[sweep.points]]              # explicit points: one dimension named 'point'
    "train.lr" = 0.01
    "train.epochs" = 100

The dimensions are the grid keys (in file order), then the zip groups, then ``point``, then
``seed``. Seed index ``k`` gives the same run seed at every grid point (common random numbers):
``generate_state(1, uint64)[0]`` of child ``k`` of ``SeedSequence(seed)``, masked to 63 bits
(the range of a run's ``seed``).

Each point's result is written atomically to ``DIR/points/<hash>.json`` (``<hash>.failed.json``
when it failed), the hash being that of the point's full resolved config, so a re-run skips
finished points and retries failed ones. ``DIR/sweep.json`` pins the sweep: a re-run with a
different config in the same folder is refused; the point hashes include the SHA-256 of every data
file a task reads (``kind = "file"``), so a changed data file makes a different sweep too. The
top-level ``progress`` key is left out of the hash (``progress = false`` only silences the bar).
Relative data paths are resolved against the sweep file's folder. Points run in a local process
pool, or on a Dask cluster (``--scheduler``) through the same ``concurrent.futures`` interface: one
call of :func:`run_point` per point.

A sweep owns its folder through an advisory lock (``DIR/.memsim.lock``, holding its PID and host;
:func:`memsim.workflows.outputs.folder_lock`): a second sweep (or ``--collect``) on the same folder
is refused, naming them; the lock of a dead process is taken over. Local-pool workers end when the
sweep's process dies (:func:`_worker_init`), and an interrupted sweep (Ctrl-C, SIGTERM, an error)
kills its workers instead of waiting for their points. A Dask worker lost mid-sweep costs only its
in-flight points: dask.distributed reschedules them on the other workers.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import sys
import time
import traceback
from concurrent.futures import as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .config import SECTIONS, RunConfig, config_dir, load_toml, resolve_config
from ..errors import ConfigError, MemsimError
from .io import config_differences, config_hash, json_sha256
from ..params import check_int, invalid

__all__ = ["Dim", "Point", "Sweep", "SweepOutcome", "parse_sweep", "load_sweep", "sweep_seeds", "config_hash",
           "run_point", "run_sweep", "add_sweep_arguments", "sweep_main", "SWEEP_JSON", "POINTS_DIR", "RESULTS_NC"]

SWEEP_JSON = "sweep.json"
POINTS_DIR = "points"
RESULTS_NC = "results.nc"
FORMAT = 1
SWEEP_KEYS = ("seeds", "grid", "zip", "points")
#: Summary entries that must be finite for a point to count as done (others may be NaN/null).
REQUIRED_FINITE = ("weights_final", "weights_mean", "test_loss_final", "test_loss_mean_weights")
REQUIRED_FINITE_CURVES = ("train_loss", "test_loss")
_MASK63 = (1 << 63) - 1
_RESERVED_NAMES = ("seed", "seed_value", "weight", "epoch", "output", "point")


@dataclass(frozen=True)
class Dim:
    """One dimension of a sweep: one key (grid) or several varied together (zip group, points).

    Parameters
    ----------
    name : str
        Dimension name: the dotted key for a grid key, the group name for a zip group, 'point'.
    keys : tuple of str
        The dotted config keys set along this dimension.
    values : tuple
        One tuple of values (aligned with ``keys``) per position.
    kind : str
        'grid', 'zip' or 'points'.
    """

    name: str
    """Dimension name: the dotted key for a grid key, the group name for a zip group, 'point'."""
    keys: tuple[str, ...]
    """The dotted config keys set along this dimension."""
    values: tuple[tuple[Any, ...], ...]
    """One tuple of values (aligned with ``keys``) per position."""
    kind: str
    """'grid', 'zip' or 'points'."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in sweep.json and results.nc).

        Returns
        -------
        dict
            ``name``, ``kind``, ``keys`` and ``values`` as lists.
        """
        return {"name": self.name, "kind": self.kind, "keys": list(self.keys),
                "values": [list(v) for v in self.values]}


@dataclass(frozen=True)
class Point:
    """One run of a sweep: a position on every dimension and a seed index.

    Parameters
    ----------
    index : tuple of int
        Position along each dimension, then the seed index.
    overrides : dict
        Dotted key -> value applied to the base config.
    seed_index : int
        Position along the seed dimension.
    seed : int
        The point's run seed (:func:`sweep_seeds`).
    config : memsim.workflows.config.RunConfig
        The point's resolved run configuration.
    hash : str
        :func:`config_hash` of ``config``: the name of the point's result file.
    """

    index: tuple[int, ...]
    """Position along each dimension, then the seed index."""
    overrides: dict[str, Any]
    """Dotted key -> value applied to the base config."""
    seed_index: int
    seed: int
    config: RunConfig
    hash: str
    """:func:`config_hash` of ``config``: the name of the point's result file."""


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the base run config, its dimensions and its seeds.

    Parameters
    ----------
    raw : dict
        The whole document (run config plus the [sweep] table), as parsed.
    base : dict
        The run config without the [sweep] table.
    dims : tuple of Dim
        The sweep's dimensions (grid keys, zip groups, points).
    seeds : tuple of int
        The run seed of every seed index.
    points : tuple of Point
        Every run, dimensions first, the seed index last.
    """

    raw: dict[str, Any]
    """The whole document (run config plus the [sweep] table), as parsed."""
    base: dict[str, Any]
    """The run config without the [sweep] table."""
    dims: tuple[Dim, ...]
    seeds: tuple[int, ...]
    points: tuple[Point, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """Sizes of the dimensions, then of the seed dimension."""
        return tuple(len(d.values) for d in self.dims) + (len(self.seeds),)

    def signature(self) -> str:
        """Hash of what the sweep computes (dimensions, seeds and every point's config).

        Returns
        -------
        str
            SHA-256 (hex) of the dimensions, seeds and point hashes.
        """
        return json_sha256({"dims": [d.to_dict() for d in self.dims], "seeds": list(self.seeds),
                     "points": [p.hash for p in self.points]})

    def data_sha256(self) -> dict[str, str]:
        """``{file: SHA-256}`` of every data file the points' tasks read (empty for generated data).

        Returns
        -------
        dict of {str: str}
            File -> SHA-256, sorted by file.
        """
        out: dict[str, str] = {}
        for p in self.points:
            out.update(getattr(p.config.task, "data_sha256", None) or {})
        return dict(sorted(out.items()))

    def manifest(self) -> dict[str, Any]:
        """Content of ``sweep.json``: enough for :func:`memsim.workflows.results.collect` to label every point.

        Returns
        -------
        dict
            The manifest (format, signature, version, config, data hashes, dimensions, seeds, points).
        """
        from ..version import __version__

        return {"format": FORMAT, "signature": self.signature(), "memsim_version": __version__,
                "config": self.raw, "data_sha256": self.data_sha256(), "dims": [d.to_dict() for d in self.dims],
                "seeds": list(self.seeds),
                "points": [{"hash": p.hash, "index": list(p.index)} for p in self.points]}


@dataclass(frozen=True)
class SweepOutcome:
    """What one call of :func:`run_sweep` did.

    Parameters
    ----------
    total : int
        Points of the sweep.
    done : int
        Points computed successfully by this call.
    failed : int
        Points that failed in this call (recorded with their error).
    skipped : int
        Points already finished before this call.
    results : Path or None
        ``DIR/results.nc`` when collected.
    failures : tuple of dict
        The failures of this call (coordinates, seed index, error).
    """

    total: int
    done: int
    """Points computed successfully by this call."""
    failed: int
    """Points that failed in this call (recorded with their error)."""
    skipped: int
    """Points already finished before this call."""
    results: Path | None
    """``DIR/results.nc`` when collected."""
    failures: tuple[dict[str, Any], ...] = ()


def sweep_seeds(root_seed: int, n: int) -> tuple[int, ...]:
    """Run seeds of seed indices ``0..n-1``: one integer from each child of ``SeedSequence(root_seed)``.

    Parameters
    ----------
    root_seed : int
        The config's top-level ``seed``.
    n : int
        Number of seeds.

    Returns
    -------
    tuple of int
        ``int(child_k.generate_state(1, np.uint64)[0])`` masked to 63 bits, for ``k < n``.
    """
    children = np.random.SeedSequence(root_seed).spawn(n)
    return tuple(int(c.generate_state(1, np.uint64)[0]) & _MASK63 for c in children)


# --- parsing and validation ------------------------------------------------------------------------

def _check_key(owner: str, key: Any, value: Any) -> str:
    """A swept key must be 'backend', 'dtype' or 'section.param' (the seed is swept by [sweep] seeds)."""
    if not isinstance(key, str):
        raise invalid(owner, str(key), "a dotted key of the run config such as 'device.w_max'", value)
    if key == "seed":
        raise invalid(owner, key, "absent (seeds are swept by '[sweep] seeds = N', common to every grid point)",
                      value)
    parts = key.split(".")
    top = parts[0]
    if not ((top in ("backend", "dtype") and len(parts) == 1) or (top in SECTIONS and len(parts) == 2)
            or (top == "scheme" and len(parts) in (2, 3))):  # scheme.fast_lr, scheme.fast_device.dw_min
        raise invalid(owner, key, "a dotted key of the run config: 'backend', 'dtype' or 'section.param' with "
                      "section one of " + ", ".join(SECTIONS) + " (e.g. 'device.w_max')", value)
    return key


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (bool, int, float, str)) and not (isinstance(v, float) and not math.isfinite(v))


def _check_values(owner: str, key: str, values: Any, length: int | None = None) -> tuple[Any, ...]:
    allowed = "a non-empty list of distinct numbers, strings or booleans"
    if length is not None:
        allowed = f"a list of {length} distinct numbers, strings or booleans (as long as the group's first list)"
    if not isinstance(values, list) or not values or not all(_is_scalar(v) for v in values):
        raise invalid(owner, key, allowed, values)
    if length is not None and len(values) != length:
        raise invalid(owner, key, allowed, values)
    if len(set(map(repr, values))) != len(values):
        raise invalid(owner, key, allowed, values)
    return tuple(values)


def _table(owner: str, name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(owner, name, "a table", value)
    return value


def _grid_dims(grid: Any) -> list[Dim]:
    grid = _table("sweep", "grid", grid)
    dims = []
    for key, values in grid.items():
        key = _check_key("sweep.grid", key, values)
        dims.append(Dim(key, (key,), tuple((v,) for v in _check_values("sweep.grid", key, values)), "grid"))
    return dims


def _zip_dims(groups: Any) -> list[Dim]:
    groups = _table("sweep", "zip", groups)
    dims = []
    for name, group in groups.items():
        owner = f"sweep.zip.{name}"
        group = _table("sweep.zip", name, group)
        if not group:
            raise invalid("sweep.zip", name, "a table of dotted keys, each with a list of values", group)
        if name in _RESERVED_NAMES or "." in name:
            raise invalid("sweep.zip", name, "a group name without dots, other than " + ", ".join(_RESERVED_NAMES),
                          group)
        columns, length = [], None
        for key, values in group.items():
            _check_key(owner, key, values)
            columns.append(_check_values(owner, key, values, length))
            length = len(columns[0])
        dims.append(Dim(name, tuple(group), tuple(zip(*columns)), "zip"))
    return dims


def _points_dim(points: Any) -> list[Dim]:
    allowed = "a non-empty list of tables ([[sweep.points]]) with the same dotted keys, each set to one value"
    if not isinstance(points, list) or not points or not all(isinstance(p, dict) and p for p in points):
        raise invalid("sweep", "points", allowed, points)
    keys = tuple(points[0])
    for i, p in enumerate(points):
        owner = f"sweep.points[{i}]"
        if tuple(p) != keys:
            raise invalid("sweep", "points", allowed + f" (point {i} has keys {list(p)}, point 0 has {list(keys)})",
                          points)
        for key, v in p.items():
            _check_key(owner, key, v)
            if not _is_scalar(v):
                raise invalid(owner, key, "a number, string or boolean", v)
    rows = tuple(tuple(p[k] for k in keys) for p in points)
    if len(set(map(repr, rows))) != len(rows):
        raise invalid("sweep", "points", "a list of distinct points", points)
    return [Dim("point", keys, rows, "points")]


def _with_overrides(base: dict[str, Any], overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    raw = copy.deepcopy(base)
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if name:
            table = raw.setdefault(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"Invalid config key '{section}': must be a table ([{section}]) to sweep "
                                  f"'{key}'. Got {table!r} instead.")
            table[name] = value
        else:
            raw[key] = value
    raw["seed"] = seed
    return raw


def _expand(base: dict[str, Any], dims: list[Dim], seeds: tuple[int, ...],
            base_dir: str | Path | None = None) -> tuple[Point, ...]:
    points, seen = [], {}
    ranges = [range(len(d.values)) for d in dims]
    for index in itertools.product(*ranges):
        overrides = {k: v for d, i in zip(dims, index) for k, v in zip(d.keys, d.values[i])}
        for k, seed in enumerate(seeds):
            try:
                config = resolve_config(_with_overrides(base, overrides, seed), base_dir=base_dir)
            except ConfigError as exc:
                where = ", ".join(f"{key} = {v!r}" for key, v in overrides.items()) or "the base config"
                raise ConfigError(f"Invalid sweep point ({where}): {exc}") from None
            h = config_hash(config)
            if h in seen:
                raise ConfigError(f"Invalid sweep: the points {seen[h]} and {overrides} resolve to the same run "
                                  "config (a swept key has no effect there).")
            seen[h] = overrides
            points.append(Point(index + (k,), overrides, k, seed, config, h))
    return tuple(points)


def parse_sweep(raw: dict[str, Any], base_dir: str | Path | None = None) -> Sweep:
    """Validate a parsed sweep document and expand every point (nothing runs).

    Every point's config is resolved here, so a bad key or value fails before any point runs,
    with a :class:`~memsim.errors.ConfigError` naming the dotted key.

    Parameters
    ----------
    raw : dict
        The parsed TOML: a run config plus a ``sweep`` table.
    base_dir : str or Path, optional
        Folder that relative data paths are resolved against (the sweep file's; ``None``: the
        working directory).

    Returns
    -------
    Sweep
        The validated sweep, every point expanded.
    """
    if "sweep" not in raw:
        raise ConfigError("Invalid config key 'sweep': a sweep config needs a [sweep] table (with 'seeds' and "
                          "[sweep.grid], [sweep.zip.NAME] or [[sweep.points]]). Got no such table instead.")
    spec = _table("config", "sweep", raw["sweep"])
    for key in spec:
        if key not in SWEEP_KEYS:
            raise invalid("sweep", key, "absent (unknown key; allowed keys: " + ", ".join(SWEEP_KEYS) + ")",
                          spec[key])
    n_seeds = check_int("sweep", "seeds", spec.get("seeds", 1), 1, 100_000)
    dims = _grid_dims(spec.get("grid", {})) + _zip_dims(spec.get("zip", {}))
    if "points" in spec:
        dims += _points_dim(spec["points"])
    owners: dict[str, str] = {}
    for d in dims:
        for key in d.keys:
            if key in owners:
                raise invalid("sweep", key, f"swept in one place only (it is in both {owners[key]} and {d.name})",
                              None)
            owners[key] = d.name
    base = {k: v for k, v in raw.items() if k != "sweep"}
    try:
        root = check_int("config", "seed", base.get("seed", 0), 0, 2 ** 63 - 1)
    except ConfigError as exc:
        raise ConfigError(f"Invalid config key 'seed': {exc}") from None
    seeds = sweep_seeds(root, n_seeds)
    return Sweep(raw=copy.deepcopy(raw), base=base, dims=tuple(dims), seeds=seeds,
                 points=_expand(base, dims, seeds, base_dir))


def load_sweep(path: str | Path) -> Sweep:
    """Parse, validate and expand a sweep config file (relative data paths: against its folder).

    Parameters
    ----------
    path : str or pathlib.Path
        The sweep's TOML file.

    Returns
    -------
    Sweep
        The validated sweep, every point expanded.
    """
    return parse_sweep(load_toml(path), base_dir=config_dir(path))


# --- one point -----------------------------------------------------------------------------------

def _limit_threads(threads: int | None, backend: str) -> None:
    """Numba threads per point, so that parallel points do not oversubscribe the cores."""
    if threads is None or backend not in ("numba", "auto"):
        return
    try:
        from ..backends.numba.threads import set_num_threads, max_threads
    except ImportError:  # no numba here: 'auto' falls back by itself
        return
    set_num_threads(max(1, min(int(threads), max_threads())))


def _non_finite(summary: dict[str, Any]) -> list[str]:
    bad = [k for k in REQUIRED_FINITE
           if k in summary and not np.all(np.isfinite(np.asarray(summary[k], dtype=float)))]
    curves = summary.get("curves", {})
    bad += [f"curves.{k}" for k in REQUIRED_FINITE_CURVES
            if k in curves and not np.all(np.isfinite(np.asarray(curves[k], dtype=float)))]
    return bad


def run_point(config: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    """Run one point and return its record; never raises on a failing run.

    This is the function submitted to the executor (process pool or Dask), once per point.

    Parameters
    ----------
    config : dict
        A fully resolved run config (``RunConfig.to_dict()``).
    threads : int or None
        Numba threads for this point (``None``: leave as is).

    Returns
    -------
    dict
        ``{"status": "done", "summary": ...}`` (JSON-ready), or ``{"status": "failed", "error": ...,
        "traceback": ...}`` when the run raised or produced non-finite weights or losses.
    """
    from .io import to_jsonable
    from .run import run_summary

    t0 = time.perf_counter()
    try:
        _limit_threads(threads, config.get("backend", "numba"))
        summary, _ = run_summary(resolve_config(config), progress=False)
        bad = _non_finite(summary)
        if bad:
            raise FloatingPointError("non-finite values in " + ", ".join(bad))
        return {"status": "done", "summary": to_jsonable(summary), "wall_time_s": time.perf_counter() - t0}
    except Exception as exc:  # a failing point is recorded; the sweep goes on
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                "wall_time_s": time.perf_counter() - t0}


def run_points(configs: list[dict[str, Any]], threads: int | None = None) -> list[dict[str, Any]]:
    """Run a replica batch of points (:func:`replica_batches`) and return their records, in order.

    Their networks train together (:func:`memsim.workflows.run.run_summaries`); each record equals what
    :func:`run_point` gives for that point alone. If the batch raises, every point is run alone, so a
    failing point never takes the others with it.

    Parameters
    ----------
    configs : list of dict
        Fully resolved run configs (``RunConfig.to_dict()``).
    threads : int or None
        Numba threads for the batch (``None``: leave as is).

    Returns
    -------
    list of dict
        One record per config (see :func:`run_point`).
    """
    from .io import to_jsonable
    from .run import run_summaries

    if len(configs) == 1:
        return [run_point(configs[0], threads)]
    t0 = time.perf_counter()
    try:
        _limit_threads(threads, configs[0].get("backend", "numba"))
        summaries = [s for s, _ in run_summaries([resolve_config(c) for c in configs])]
        if any(_non_finite(s) for s in summaries):
            raise FloatingPointError("non-finite values")
    except Exception:  # run each alone: its own record, failed or done
        return [run_point(c, threads) for c in configs]
    wall = (time.perf_counter() - t0) / len(configs)
    return [{"status": "done", "summary": to_jsonable(s), "wall_time_s": wall} for s in summaries]


#: Config sections whose values may differ inside a replica batch (``kind`` excepted): they change no
#: array shape. ``seed`` differs too.
_REPLICA_FREE = ("device", "update", "train")


def _replica_key(config: dict[str, Any]) -> str | None:
    """Points with equal keys can train as replicas of one network; ``None``: never batched."""
    if config.get("backend", "numba") not in ("numba", "auto") or config.get("scheme") is not None:
        return None
    key = {k: v for k, v in config.items() if k not in ("seed",) + _REPLICA_FREE}
    for section in _REPLICA_FREE:
        table = dict(config.get(section) or {})
        key[section] = {name: table[name] for name in ("kind", "epochs") if name in table}
    return json.dumps(key, sort_keys=True, default=str)


def replica_batches(points: list[Any], replicas: int | str = "auto", workers: int = 1) -> list[list[Any]]:
    """Group points into replica batches: points whose networks have one shape (same model, task,
    periphery, device and rule kinds, epochs, backend numba, no compound scheme) train together.

    Parameters
    ----------
    points : list of Point
        The points to run.
    replicas : int or 'auto'
        Largest batch; ``'auto'``: the compatible points spread evenly over the workers, at most 64 per batch.
    workers : int
        Worker processes (for ``'auto'``).

    Returns
    -------
    list of list of Point
        The batches (points that cannot be batched stand alone), in the points' order.
    """
    if replicas != "auto":
        replicas = check_int("sweep", "replicas", replicas, 1, None)
    groups: dict[str, list[Any]] = {}
    batches: list[list[Any]] = []
    for p in points:
        key = _replica_key(p.config.to_dict())
        if key is None:
            batches.append([p])
        else:
            groups.setdefault(key, []).append(p)
    for members in groups.values():
        size = (max(1, min(64, math.ceil(len(members) / max(1, workers)))) if replicas == "auto"
                else replicas)
        batches += [members[i:i + size] for i in range(0, len(members), size)]
    return batches


# --- files ---------------------------------------------------------------------------------------

def point_path(out_dir: str | Path, digest: str, failed: bool = False) -> Path:
    """Where a point's record lives: ``DIR/points/<hash>.json`` or ``<hash>.failed.json``."""
    return Path(out_dir) / POINTS_DIR / (f"{digest}.failed.json" if failed else f"{digest}.json")


def _store(out_dir: Path, point: Point, record: dict[str, Any]) -> None:
    from .io import write_json_atomic

    from .outputs import disk_full, is_disk_full

    failed = record["status"] != "done"
    full = {"format": FORMAT, "hash": point.hash, "coords": point.overrides, "seed_index": point.seed_index,
            "seed": point.seed, "config": point.config.to_dict(), **record}
    path = point_path(out_dir, point.hash, failed)
    try:
        write_json_atomic(path, full)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(exc, path, "the point file", "re-run the same command: it resumes (finished points "
                            "are skipped)") from exc
        raise
    if not failed:
        stale = point_path(out_dir, point.hash, True)
        if stale.exists():
            stale.unlink()


def _remove_stale_temporaries(out: Path) -> None:
    """Delete what a killed writer left (``.results.nc.*.tmp``, ``points/.*.tmp``); call it holding the lock."""
    for tmp in [*out.glob(f".{RESULTS_NC}.*.tmp"), *(out / POINTS_DIR).glob(".*.tmp")]:
        try:
            tmp.unlink()
        except OSError:
            pass


def _pin(sweep: Sweep, out: Path) -> None:
    """Store the sweep in ``out/sweep.json``, or refuse when the folder holds a different sweep."""
    from .io import write_json_atomic

    path = out / SWEEP_JSON
    if path.exists():
        stored = json.loads(path.read_text())
        if stored.get("signature") != sweep.signature():
            diff = config_differences(stored.get("config", {}), sweep.raw)
            if "data_sha256" in stored and stored["data_sha256"] != sweep.data_sha256():
                old, new = stored["data_sha256"], sweep.data_sha256()
                changed = [f"data file {f}: sha256 {old.get(f, '<absent>')[:12]} -> {new.get(f, '<absent>')[:12]}"
                           for f in sorted(set(old) | set(new)) if old.get(f) != new.get(f)]
                diff = "; ".join(([diff] if diff else []) + changed)
            diff = diff or "same file, different expansion (a data file may have changed)"
            raise ConfigError(f"The output folder {str(out)!r} holds a different sweep (pinned in {path}); "
                              f"refusing to mix results. Changes: {diff}. Use another --out folder, or delete "
                              "this one to start over.")
        return
    write_json_atomic(path, sweep.manifest())


# --- executors -----------------------------------------------------------------------------------

def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _dask():
    try:
        import distributed
    except ImportError:
        raise MemsimError("--scheduler needs dask.distributed, which is not installed. Install it with "
                          "pip install 'memsim[dask]'.") from None
    return distributed


def _kill_pool(pool) -> None:
    """SIGKILL the worker processes of a ``ProcessPoolExecutor`` (their points are lost, not stored)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, ValueError, AttributeError):
            pass
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.join(5)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


#: Seconds between a pool worker's checks that the sweep that started it is still alive.
PARENT_POLL_S = 0.5


def _parent_gone(sweep_pid: int, ppid: int) -> bool:
    if os.getppid() != ppid:  # our parent (the sweep, or its forkserver) died
        return True
    try:
        os.kill(sweep_pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass
    try:  # a killed sweep whose own parent has not reaped it yet is a zombie: dead too
        with open(f"/proc/{sweep_pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _worker_init(sweep_pid: int) -> None:
    """Initializer of each local-pool worker: end this process as soon as the sweep's process dies.

    On Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` asks the kernel to kill the worker when its parent
    process ends (with ``spawn`` that is the sweep; with ``forkserver`` it is the forkserver, which
    only exits once its children have). So a daemon thread also polls every :data:`PARENT_POLL_S`
    seconds, on every platform, and calls ``os._exit`` when ``os.getppid()`` changed or the sweep's
    PID is gone (or a zombie: killed, not yet reaped).
    """
    import signal
    import threading

    ppid = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if _parent_gone(sweep_pid, ppid):  # it died before the death signal was set up
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the sweep, which ends the pool

    def watch() -> None:
        while not _parent_gone(sweep_pid, ppid):
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="memsim-parent-watch", daemon=True).start()


#: Seconds to wait for a remote Dask scheduler before refusing the sweep.
SCHEDULER_TIMEOUT_S = 10.0


@contextmanager
def executor(workers: int | None = None, scheduler: str | None = None,
             log=print) -> Iterator[tuple[Any, int | None]]:
    """A ``concurrent.futures``-like executor and the Numba threads each point should use.

    Parameters
    ----------
    workers : int or None
        Processes of the local pool or of a ``LocalCluster`` (default: all cores).
    scheduler : str or None
        ``None``: a local process pool; ``"local"``: a Dask ``LocalCluster`` on this machine
        (dashboard on 127.0.0.1); otherwise the address of a running Dask scheduler, the only
        address contacted.
    log : callable
        Where the dashboard link goes.
    """
    workers = workers or _cores()
    threads = max(1, _cores() // workers)
    if scheduler is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                                   initializer=_worker_init, initargs=(os.getpid(),))
        try:
            yield pool, threads
        except BaseException:  # interrupted (Ctrl-C, SIGTERM, an error): end the workers now, not after their points
            _kill_pool(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    distributed = _dask()
    cluster = None
    if scheduler == "local":
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address="127.0.0.1:0")
        client = distributed.Client(cluster)
        log(f"Dask LocalCluster with {workers} workers; dashboard: {client.dashboard_link}")
    else:
        try:
            client = distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:  # unreachable: one line, not a traceback after the default 30 s
            raise ConfigError(f"Invalid option '--scheduler': the Dask scheduler {scheduler!r} cannot be reached "
                              f"within {SCHEDULER_TIMEOUT_S:g} s ({type(exc).__name__}: {exc}). Check the address "
                              "(tcp://HOST:8786) and that the scheduler is running, or use --scheduler local.") from None
        threads = None  # remote workers: their own cores, their own settings
        log(f"Dask scheduler {scheduler}; dashboard: {client.dashboard_link}")
    try:
        ex = client.get_executor(pure=False)
        try:
            yield ex, threads
        finally:
            ex.shutdown(wait=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --- running a sweep -----------------------------------------------------------------------------

def _bar(total: int, progress: bool | None):
    from tqdm.auto import tqdm  # the widget in notebooks (text without ipywidgets), text elsewhere

    show = True if progress is None else bool(progress)
    return tqdm(total=total, desc="sweep", unit="point", disable=not show, dynamic_ncols=True)


def _pending(sweep: Sweep, out: Path) -> list[Point]:
    return [p for p in sweep.points if not point_path(out, p.hash).exists()]


def run_sweep(sweep: Sweep | dict[str, Any] | str | Path, out_dir: str | Path, workers: int | None = None,
              scheduler: str | None = None, progress: bool | None = None, collect: bool = True,
              log=print, replicas: int | str = "auto") -> SweepOutcome:
    """Run every unfinished point of a sweep, store each result atomically, then collect ``results.nc``.

    Parameters
    ----------
    sweep : Sweep, dict or path
        A parsed sweep, a raw sweep document, or a TOML file.
    out_dir : str or Path
        Output folder; a re-run with the same sweep resumes there (finished points are skipped,
        failed ones retried); a different sweep there raises :class:`~memsim.errors.ConfigError`.
    workers : int or None
        Processes of the local pool or of a ``LocalCluster`` (default: all cores); see :func:`executor`.
    scheduler : str or None
        ``None``: a local process pool; ``"local"``: a Dask ``LocalCluster``; otherwise a Dask scheduler
        address; see :func:`executor`.
    progress : bool or None
        Tqdm bar (points done / failed / remaining, ETA); ``None``: shown (terminals and notebooks)
        unless the config says ``progress = false``. The points never show per-run bars.
    collect : bool
        Assemble ``DIR/results.nc`` at the end.
    log : callable
        Receives the one-line messages (dashboard link).
    replicas : int or 'auto'
        Points whose networks have one shape train together as replicas, at most this many per batch
        (:func:`replica_batches`; ``'auto'``: spread over the workers). ``1``: every point alone. The
        stored points and ``results.nc`` do not depend on it (each replica is bit-identical to its run
        alone); only the wall times do.

    Returns
    -------
    SweepOutcome
        What this call did: points done, failed and skipped, and the results file.

    Notes
    -----
    The local pool starts its workers with ``forkserver`` (``spawn`` where that is missing), never
    ``fork``, so a script that calls this needs the usual ``if __name__ == "__main__":`` guard.
    Each point runs with ``cores // workers`` Numba threads (results never depend on it).
    """
    if not isinstance(sweep, Sweep):
        sweep = parse_sweep(sweep) if isinstance(sweep, dict) else load_sweep(sweep)
    if workers is not None:
        check_int("sweep", "workers", workers, 1, None)
    from .outputs import folder_lock

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, "sweep", log=log):  # one sweep per folder: a second one is refused
        _pin(sweep, out)
        if progress is None and sweep.points and not sweep.points[0].config.progress:
            progress = False  # 'progress = false' in the config (a top-level key: the same at every point)
        todo = _pending(sweep, out)
        done, failures = 0, []
        if todo:
            done, failures = _execute(todo, out, workers, scheduler, progress, log, replicas)
        results = None
        if collect:
            from .results import collect as collect_results, save_dataset

            _remove_stale_temporaries(out)
            results = save_dataset(collect_results(out), out / RESULTS_NC)
    return SweepOutcome(total=len(sweep.points), done=done, failed=len(failures),
                        skipped=len(sweep.points) - len(todo), results=results, failures=tuple(failures))


def _execute(todo: list[Point], out: Path, workers, scheduler, progress, log,
             replicas: int | str = "auto") -> tuple[int, list[dict]]:
    done, failures = 0, []
    bar = _bar(len(todo), progress)
    try:
        with executor(workers, scheduler, log) as (ex, threads):
            n_workers = workers or max(1, _cores() // max(1, threads or 1))
            batches = replica_batches(todo, replicas, n_workers)
            futures = {ex.submit(run_points, [p.config.to_dict() for p in batch], threads): batch
                       for batch in batches}
            remaining = len(todo)
            for fut in as_completed(futures):
                batch = futures.pop(fut)
                try:
                    records = fut.result()
                except Exception as exc:  # the worker itself died (not the run): record it, go on
                    records = [{"status": "failed", "error": f"worker failure: {type(exc).__name__}: {exc}",
                                "traceback": traceback.format_exc()}] * len(batch)
                for point, record in zip(batch, records):
                    _store(out, point, record)
                    if record["status"] == "done":
                        done += 1
                    else:
                        failures.append({"coords": point.overrides, "seed_index": point.seed_index,
                                         "error": record["error"]})
                    remaining -= 1
                    bar.set_postfix(done=done, failed=len(failures), remaining=remaining, refresh=False)
                    bar.update(1)
    finally:
        bar.close()
    return done, failures


# --- command line --------------------------------------------------------------------------------

def add_sweep_arguments(parser) -> None:
    """Arguments of ``memsim sweep``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser, which receives the arguments.
    """
    parser.add_argument("config", nargs="?", help="TOML sweep configuration (a run config plus [sweep])")
    parser.add_argument("--out", help="output folder (points/, sweep.json, results.nc); re-run to resume")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes of the local pool or LocalCluster (default: all cores)")
    parser.add_argument("--scheduler", default=None,
                        help="run on Dask: 'local' (a LocalCluster here) or a scheduler address "
                             "(needs memsim[dask])")
    parser.add_argument("--collect", metavar="DIR", default=None,
                        help="only assemble DIR/results.nc from the finished points of DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--replicas", default="auto",
                        help="train up to N compatible points together as replicas of one network ('auto', the "
                             "default: spread over the workers; 1: every point alone); results do not change")


def _print_outcome(outcome: SweepOutcome, out: Path) -> None:
    print(f"sweep {out}: {outcome.total} points: {outcome.done} done, {outcome.failed} failed, "
          f"{outcome.skipped} skipped (finished before)")
    for f in outcome.failures[:10]:
        where = ", ".join(f"{k} = {v!r}" for k, v in f["coords"].items())
        print(f"failed: {where} seed {f['seed_index']}: {f['error']}", file=sys.stderr)
    if outcome.failed > 10:
        print(f"... and {outcome.failed - 10} more failures (see {out / POINTS_DIR}/*.failed.json)",
              file=sys.stderr)
    if outcome.results is not None:
        print(f"wrote {outcome.results}")


def sweep_main(args) -> int:
    """``memsim sweep``: returns 0, or 1 when some point failed (the others are still stored and collected).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command-line arguments.

    Returns
    -------
    int
        The exit status (0 on success).
    """
    if args.collect is not None:
        if args.config is not None:
            raise ConfigError("memsim sweep --collect DIR takes no config file (the sweep is read from "
                              f"DIR/{SWEEP_JSON}). Got {args.config!r} instead.")
        from .outputs import folder_lock
        from .results import collect, read_manifest, save_dataset

        read_manifest(args.collect)  # a folder that holds no sweep: say so (and create nothing)
        with folder_lock(Path(args.collect), "sweep --collect"):
            _remove_stale_temporaries(Path(args.collect))
            path = save_dataset(collect(args.collect), Path(args.collect) / RESULTS_NC)
        print(f"wrote {path}")
        return 0
    if args.config is None or args.out is None:
        raise ConfigError("memsim sweep needs CONFIG.toml and --out DIR (or --collect DIR). "
                          f"Got config={args.config!r}, out={args.out!r} instead.")
    replicas = getattr(args, "replicas", "auto")
    if replicas != "auto":
        try:
            replicas = int(replicas)
        except (TypeError, ValueError):
            raise ConfigError(f"The 'replicas' option of memsim sweep must be 'auto' or an integer >= 1. "
                              f"Got {replicas!r} instead.") from None
        check_int("sweep", "replicas", replicas, 1, None)
    sweep = load_sweep(args.config)  # validates every point before any work or any file
    outcome = run_sweep(sweep, args.out, workers=args.workers, scheduler=args.scheduler,
                        progress=False if args.quiet else None, replicas=replicas)
    _print_outcome(outcome, Path(args.out))
    return 1 if outcome.failed else 0
