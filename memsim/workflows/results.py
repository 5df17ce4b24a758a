"""Assemble a sweep's point files into one labelled ``xarray.Dataset`` and save it as netCDF.

The dataset has one dimension per swept key (a grid key is its own dimension and coordinate; a
zip group or the explicit points form one dimension, with each of their keys as a coordinate on
it), plus ``seed`` (coordinate ``seed`` = seed index, ``seed_value`` = the run seed). Data
variables: every scalar of ``summary.json`` (float64; JSON null = NaN), every per-weight vector
(dimension ``weight``, padded with NaN when lengths differ, e.g. with a bias column), the
per-epoch curves (dimension ``epoch``), and per point ``status`` ('done', 'failed', 'missing'),
``error`` ('' unless failed), ``config_hash``, ``run_backend`` (the backend that ran) and
``wall_time_s``. Failed and missing points are NaN. Attributes hold the sweep config and the
provenance as JSON strings. Nested summary tables other than ``curves`` and ``provenance`` are
flattened with '_' (``a.b`` -> ``a_b``); lists of messages (``regime_warnings``) become one
newline-joined string per point.

xarray is imported inside the functions, so ``import memsim`` stays light.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MemsimError

__all__ = ["collect", "build_dataset", "save_dataset", "open_results", "read_manifest", "read_points",
           "TIMING_VARIABLES", "SEED_DIM"]

#: Data variables that depend on the machine and its load, not only on the config.
TIMING_VARIABLES = ("wall_time_s", "train_updates_per_s")
#: Summary entries that are lists of messages (stored as one newline-joined string per point).
STRING_LISTS = ("regime_warnings",)
SEED_DIM = "seed"
_SKIP = ("provenance",)
_CURVES = "curves"


def _xarray():
    try:
        import xarray
    except ImportError:
        raise MemsimError("Sweep results need xarray and netCDF4, which are not installed. Install them with "
                          "pip install memsim (xarray and netCDF4 are dependencies).") from None
    return xarray


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    """The sweep pinned in ``DIR/sweep.json`` (dimensions, seeds, point hashes, raw config).

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The sweep folder.

    Returns
    -------
    dict
        The content of ``sweep.json``.
    """
    path = Path(out_dir) / "sweep.json"
    if not path.exists():
        raise MemsimError(f"{str(out_dir)!r} holds no sweep ({path} does not exist); run memsim sweep CONFIG "
                          f"--out {out_dir} first.")
    return json.loads(path.read_text())


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"status": "failed", "error": f"unreadable point file {path.name}: {exc}"}


def read_points(out_dir: str | Path, manifest: dict[str, Any]) -> list[dict[str, Any] | None]:
    """The record of every point of the manifest, in its order (``None``: not run yet).

    Only the exact names ``points/<hash>.json`` and ``points/<hash>.failed.json`` are read; the
    temporary files of an interrupted write (``.<name>.*.tmp``) are never looked at.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The sweep folder.
    manifest : dict
        The sweep's manifest (:func:`read_manifest`).

    Returns
    -------
    list of (dict or None)
        One record per point.
    """
    folder = Path(out_dir) / "points"
    records = []
    for entry in manifest["points"]:
        done, failed = folder / f"{entry['hash']}.json", folder / f"{entry['hash']}.failed.json"
        records.append(_read(done) if done.exists() else _read(failed) if failed.exists() else None)
    return records


# --- variables -----------------------------------------------------------------------------------

def _kind(name: str, value: Any) -> str | None:
    """'scalar', 'string', 'strings', 'vector' or 'matrix'; ``None`` when the value does not tell."""
    if name in STRING_LISTS:
        return "strings"
    if value is None:
        return None
    if isinstance(value, (bool, int, float)):
        return "scalar"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return "strings"
        try:
            arr = np.squeeze(np.asarray(value, dtype=float), axis=0) if len(value) == 1 and \
                isinstance(value[0], list) else np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return None
        return {1: "vector", 2: "matrix"}.get(arr.ndim)
    return None


def _entries(summary: dict[str, Any]) -> dict[str, Any]:
    """Flatten a summary: nested tables joined with '_', curves kept apart, provenance dropped."""
    out = {}
    for key, value in summary.items():
        if key in _SKIP or key == _CURVES:
            continue
        if isinstance(value, dict):
            out.update({f"{key}_{k}": v for k, v in _entries(value).items()})
        else:
            out[key] = value
    return out


def _specs(records: list[dict[str, Any] | None]) -> tuple[dict[str, str], list[str], list[Any]]:
    """Variable kinds (first telling value wins), curve names, and the longest epoch axis."""
    kinds: dict[str, str | None] = {}
    curves: list[str] = []
    epochs: list[Any] = []
    for rec in records:
        if not rec or rec.get("status") != "done":
            continue
        summary = rec["summary"]
        for name, value in _entries(summary).items():
            if kinds.get(name) is None:
                kinds[name] = _kind(name, value)
        c = summary.get(_CURVES, {})
        curves += [k for k in c if k != "epoch" and k not in curves]
        if len(c.get("epoch", [])) > len(epochs):
            epochs = list(c["epoch"])
    return {k: v or "scalar" for k, v in kinds.items()}, curves, epochs


def _array(value: Any) -> np.ndarray:
    arr = np.asarray(value if value is not None else [], dtype=float)
    while arr.ndim > 1 and arr.shape[0] == 1:
        arr = arr[0]
    return arr


def _empty(kind: str, shape: tuple[int, ...], n_weight: int, n_out: int, n_epoch: int) -> np.ndarray:
    if kind in ("string", "strings"):
        return np.full(shape, "", dtype=object)
    extra = {"scalar": (), "vector": (n_weight,), "matrix": (n_out, n_weight), "curve": (n_epoch,)}[kind]
    return np.full(shape + extra, np.nan)


def _put(target: np.ndarray, pos: tuple[int, ...], kind: str, value: Any) -> None:
    if value is None:
        return
    if kind == "scalar":
        target[pos] = float(value) if isinstance(value, (bool, int, float)) else np.nan
    elif kind == "string":
        target[pos] = str(value)
    elif kind == "strings":
        target[pos] = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    else:
        arr = _array(value)
        if kind == "matrix" and arr.ndim == 1:
            arr = arr[None, :]
        target[pos + tuple(slice(0, n) for n in arr.shape)] = arr


def _sizes(records, kinds) -> tuple[int, int]:
    n_weight, n_out = 0, 1
    for rec in records:
        if not rec or rec.get("status") != "done":
            continue
        for name, value in _entries(rec["summary"]).items():
            if kinds[name] in ("vector", "matrix") and value is not None:
                arr = _array(value)
                n_weight = max(n_weight, arr.shape[-1])
                if arr.ndim == 2:
                    n_out = max(n_out, arr.shape[0])
    return n_weight, n_out


# --- the dataset ---------------------------------------------------------------------------------

def _coords(manifest: dict[str, Any]) -> dict[str, Any]:
    coords: dict[str, Any] = {}
    for dim in manifest["dims"]:
        for j, key in enumerate(dim["keys"]):
            values = [row[j] for row in dim["values"]]
            coords[key] = (dim["name"], np.asarray(values, dtype=object if any(isinstance(v, str) for v in values)
                                                  else None))
    seeds = manifest["seeds"]
    coords[SEED_DIM] = (SEED_DIM, np.arange(len(seeds)))
    coords["seed_value"] = (SEED_DIM, np.asarray(seeds, dtype=np.int64))
    return coords


def _provenance(manifest: dict[str, Any], records: list[dict[str, Any] | None]) -> dict[str, Any]:
    done = [r for r in records if r and r.get("status") == "done"]
    prov = [r["summary"].get("provenance", {}) for r in done]

    def values(key):
        return sorted({str(p.get(key)) for p in prov if p.get(key) is not None})

    return {"memsim_version": values("memsim_version") or [manifest.get("memsim_version")],
            "git_commit": values("git_commit"), "backend": values("backend"), "dtype": values("dtype"),
            "python": values("python"), "platform": values("platform"),
            "sweep_signature": manifest.get("signature"), "collected_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "n_points": len(records), "n_done": len(done),
            "n_failed": sum(1 for r in records if r and r.get("status") != "done"),
            "n_missing": sum(1 for r in records if r is None),
            "total_wall_time_s": float(sum(r.get("wall_time_s") or 0.0 for r in records if r))}


def build_dataset(manifest: dict[str, Any], records: list[dict[str, Any] | None]):
    """Label every point's record by its position on the sweep's dimensions.

    Parameters
    ----------
    manifest : dict
        Content of ``sweep.json`` (see :meth:`memsim.workflows.sweeps.Sweep.manifest`).
    records : list of dict or None
        One record per manifest point, in its order (``None``: not run yet).

    Returns
    -------
    xarray.Dataset
        One data variable per summary entry, on the sweep's dimensions plus ``seed``.
    """
    xr = _xarray()
    dims = [d["name"] for d in manifest["dims"]] + [SEED_DIM]
    shape = tuple(len(d["values"]) for d in manifest["dims"]) + (len(manifest["seeds"]),)
    kinds, curve_names, epochs = _specs(records)
    n_weight, n_out = _sizes(records, kinds)
    kinds.update({name: "curve" for name in curve_names})
    kinds.update({"status": "string", "error": "string", "config_hash": "string", "run_backend": "string",
                  "wall_time_s": "scalar"})
    arrays = {name: _empty(kind, shape, n_weight, n_out, len(epochs)) for name, kind in kinds.items()}
    arrays["status"][...] = "missing"
    for entry, rec in zip(manifest["points"], records):
        pos = tuple(entry["index"])
        arrays["config_hash"][pos] = entry["hash"]
        if rec is None:
            continue
        _fill(arrays, kinds, pos, rec)
    extra = {"vector": ("weight",), "matrix": ("output", "weight"), "curve": ("epoch",)}
    data_vars = {name: (dims + list(extra.get(kinds[name], ())), arr) for name, arr in arrays.items()}
    coords = _coords(manifest)
    if n_weight:
        coords["weight"] = ("weight", np.arange(n_weight))
    if epochs:
        coords["epoch"] = ("epoch", np.asarray(epochs))
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs = {"title": "memsim sweep", "sweep_config": json.dumps(manifest.get("config", {})),
                "dims": json.dumps(manifest["dims"]),
                "provenance": json.dumps(_provenance(manifest, records)),
                "timing_variables": json.dumps(list(TIMING_VARIABLES))}
    return ds


def _fill(arrays: dict[str, np.ndarray], kinds: dict[str, str], pos: tuple[int, ...], rec: dict[str, Any]) -> None:
    status = rec.get("status", "failed")
    arrays["status"][pos] = status
    _put(arrays["wall_time_s"], pos, "scalar", rec.get("wall_time_s"))
    if status != "done":
        arrays["error"][pos] = str(rec.get("error") or "unknown error")
        return
    summary = rec["summary"]
    _put(arrays["run_backend"], pos, "string", summary.get("provenance", {}).get("backend"))
    for name, value in _entries(summary).items():
        if name in arrays:
            _put(arrays[name], pos, kinds[name], value)
    for name, value in summary.get(_CURVES, {}).items():
        if name != "epoch":
            _put(arrays[name], pos, "curve", value)


def collect(out_dir: str | Path):
    """All points of the sweep in ``out_dir`` as one ``xarray.Dataset`` (unfinished points are NaN).

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The sweep folder.

    Returns
    -------
    xarray.Dataset
        The sweep's results (:func:`build_dataset`).
    """
    manifest = read_manifest(out_dir)
    return build_dataset(manifest, read_points(out_dir, manifest))


def save_dataset(ds, path: str | Path) -> Path:
    """Write ``ds`` as netCDF atomically: a temporary file in the same folder, then a rename.

    Parameters
    ----------
    ds : xarray.Dataset
        The results.
    path : str or pathlib.Path
        The netCDF file.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    encoding = {name: {"zlib": True, "complevel": 4} for name, var in ds.data_vars.items()
                if var.dtype.kind == "f" and var.ndim > 1}
    try:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 -> the usual permissions of a new file
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        from .outputs import disk_full, is_disk_full

        if is_disk_full(exc):
            raise disk_full(exc, path, "the sweep results", "re-run the same command: it resumes (finished "
                            f"points are skipped) and collects again, as does memsim sweep --collect "
                            f"{str(path.parent)!r}") from exc
        raise
    finally:  # on any exit (an error, Ctrl-C, SIGTERM turned into SystemExit): no temporary file stays
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def open_results(path: str | Path):
    """Load a saved ``results.nc`` (or the ``results.nc`` of a sweep folder) fully into memory.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``results.nc`` file or a sweep folder.

    Returns
    -------
    xarray.Dataset
        The results, loaded into memory.
    """
    xr = _xarray()
    path = Path(path)
    if path.is_dir():
        path = path / "results.nc"
    with xr.open_dataset(path, engine="netcdf4") as ds:
        return ds.load()
