"""Results on disk: strict JSON written atomically, and the provenance every result carries."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..version import __version__

__all__ = ["to_jsonable", "write_json_atomic", "save_npz_atomic", "provenance", "json_sha256", "config_hash",
           "config_differences", "UNHASHED"]


def to_jsonable(value: Any) -> Any:
    """NumPy arrays/scalars -> lists/floats; non-finite floats -> ``None`` (strict JSON).

    Parameters
    ----------
    value : object
        Nested dicts, lists, tuples, arrays and scalars.

    Returns
    -------
    object
        The same structure with plain Python values.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON to a temporary file in the same folder, then rename it into place.

    Parameters
    ----------
    path : str or pathlib.Path
        The JSON file.
    data : object
        The data (through :func:`to_jsonable`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(to_jsonable(data), fh, indent=1, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(config: Any, backend_name: str, t0: float) -> dict[str, Any]:
    """Where a result came from: memsim version, backend, dtype, seed, the full resolved config,
    ``data_sha256`` (``{file: SHA-256}`` of every data file the task read; empty for generated or
    bundled data), ``class_labels`` (only for a task that maps its own labels to 0..K-1), git commit
    (if any), Python, platform and the wall time since ``t0`` (``time.perf_counter``).

    Parameters
    ----------
    config : memsim.workflows.config.RunConfig
        The resolved run configuration.
    backend_name : str
        The backend that ran.
    t0 : float
        Start time (``time.perf_counter``).

    Returns
    -------
    dict
        The provenance record.
    """
    out = {
        "memsim_version": __version__,
        "backend": backend_name,
        "dtype": config.dtype,
        "seed": config.seed,
        "config": config.to_dict(),
        "data_sha256": dict(getattr(config.task, "data_sha256", None) or {}),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wall_time_s": time.perf_counter() - t0,
    }
    labels = getattr(config.task, "class_labels", None)
    if labels is not None:
        out["class_labels"] = list(labels)
    return out


def save_npz_atomic(path: str | Path, arrays: dict[str, Any]) -> None:
    """Write a compressed ``.npz`` to a temporary file in the same folder, then rename it into place.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.npz`` file.
    arrays : dict
        Name -> array.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


#: Top-level config keys that change no result: left out of :func:`config_hash` and of run-folder comparisons.
UNHASHED = ("progress",)


def json_sha256(data: Any) -> str:
    """SHA-256 (hex) of ``data`` as canonical JSON (sorted keys, no spaces; tuples as lists).

    Parameters
    ----------
    data : object
        JSON-able data.

    Returns
    -------
    str
        The SHA-256 in hex.
    """
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False, default=list)
    return hashlib.sha256(text.encode()).hexdigest()


def config_hash(config: Any) -> str:
    """Short hash (20 hex digits) of a fully resolved run config: a sweep point's file name.

    The resolved config includes the SHA-256 of a task's data files (so changed data give other
    hashes); the keys in :data:`UNHASHED` (``progress``) are left out.

    Parameters
    ----------
    config : memsim.workflows.config.RunConfig
        A resolved run configuration.

    Returns
    -------
    str
        The first 20 hex digits of the configuration's SHA-256.
    """
    return json_sha256({k: v for k, v in config.to_dict().items() if k not in UNHASHED})[:20]


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_differences(old: dict[str, Any], new: dict[str, Any], limit: int = 6) -> str:
    """The dotted keys whose values differ between two config tables, ``key: old -> new; ...`` (at most ``limit``).

    Parameters
    ----------
    old : dict
        A config table.
    new : dict
        Another config table.
    limit : int
        Largest number of keys listed.

    Returns
    -------
    str
        ``key: old -> new`` for each differing dotted key, joined by semicolons.
    """
    a, b = _flat(old), _flat(new)
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
    parts = [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}" for k in keys[:limit]]
    return "; ".join(parts) + (f"; and {len(keys) - limit} more" if len(keys) > limit else "")
