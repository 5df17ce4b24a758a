r"""Your own data: a task that reads a CSV, ``.npz`` or ``.npy`` file (``[task] kind = "file"``).

Files (chosen by the extension of ``path``; ``test_path`` must have the same extension)

``.csv``
    A header row of column names, then one row per sample (comma-separated, UTF-8, quotes as in
    Python's ``csv``). ``target`` names the target column (required); ``features`` lists the
    feature columns (default: every other column, in file order). Feature cells must be numbers;
    target cells are numbers or, for classification, any text (class names).
``.npz``
    Arrays of one length ``n``. ``target`` names the target array (default ``"y"``; 1-D or
    (n, 1), numbers or strings); ``features`` lists the feature arrays, each 1-D (one feature) or
    (n, k) (k features), concatenated in the order given (default: the array ``"X"`` if there is
    one, else every other array in file order). Object arrays (pickles) are refused.
``.npy``
    A pair: ``path`` is the feature matrix X, (n, d) (or (n,): one feature), and ``target`` is the
    path of a second ``.npy`` file holding y, (n,) or (n, 1). ``features`` and ``test_path`` are not
    available (use ``test_fraction``, or a CSV / ``.npz`` file for a separate test set).

Relative paths (``path``, ``test_path``, and ``target`` of a ``.npy`` pair) are resolved against the
folder of the config file when the config is read by :func:`memsim.workflows.config.load_config`
(or a sweep file), against the working directory otherwise; the resolved config keeps the absolute
paths.

Train / test: a separate ``test_path`` file with the same columns (arrays), or a random
``test_fraction`` (default 0.3) of the rows held out by a permutation from ``seed`` (default: the run
seed), with ``n_test = min(max(1, round(test_fraction * n)), n - 2)``. At least 2 training rows and 1
test row are required.

Problem: ``problem = "regression"`` or ``"classification"``; the default ``"auto"`` picks
classification when the target holds text, or when it is integer-valued with at most
:data:`MAX_AUTO_CLASSES` (20) distinct values and at most half as many distinct values as rows
(training and test rows together); regression otherwise. The resolved config records the choice.
Classification labels are mapped to ``0 .. K-1`` in sorted order of the distinct values (numbers
numerically, text lexicographically, over training and test rows); :attr:`FileTask.class_labels` keeps
the original names (the run's provenance records them as ``class_labels``).

Scaling: with ``standardize = true`` (default) every feature is standardised with the training
rows' mean and standard deviation (:func:`~memsim.tasks.classification.standardize`; a constant
feature keeps scale 1), and so is a regression target (the crossbar's weights are bounded, so
targets in the thousands would not fit them; losses are then in units of the target's training
standard deviation). Classification labels are never scaled.

The file is read, checked and hashed when the task is built, i.e. when the config is resolved
(before any training); every problem raises :class:`~memsim.errors.ConfigError` naming the key
(``path``, ``target``, ``features``, ``test_path``, ...). The SHA-256 of every file read is kept in
``sha256`` (a table ``{path = ..., target = ..., test_path = ...}`` by role) and so enters the
resolved config, the config hash of a sweep point and the run's provenance (``data_sha256``); when
a config gives ``sha256``, the files must still match it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..params import check_bool, check_choice, check_float, check_int, invalid
from .classification import ClassificationData
from .classification import standardize as standardize_features
from .registry import Dataset, _Task, data_generator, register_task

__all__ = ["FileTask", "EXTENSIONS", "MAX_AUTO_CLASSES", "file_sha256"]

OWNER = "task 'file'"
EXTENSIONS = (".csv", ".npz", ".npy")
MAX_AUTO_CLASSES = 20
"""``problem = "auto"``: at most this many distinct integer values make a classification task."""
PROBLEMS = ("auto", "regression", "classification")
_ROLES = ("path", "target", "test_path")
_TAG_FILE = 14  # data_generator tag of the split (the other tasks use 1, 2, 10-13)
_HEX = re.compile(r"[0-9a-f]{64}")
_CACHE: dict[tuple[str, str], Any] = {}
_CACHE_SIZE = 8


def file_sha256(path: str) -> str:
    """SHA-256 (hex) of a file's bytes.

    Parameters
    ----------
    path : str
        The file.

    Returns
    -------
    str
        The SHA-256 of its bytes, in hex.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


# ---------------------------------------------------------------------------- reading files
@dataclass(frozen=True)
class _Columns:
    """A parsed file: names in file order, and per name a numeric array (or None) plus the raw values."""

    names: tuple[str, ...]
    numeric: dict[str, np.ndarray | None]
    """float64 array (n,) or (n, k); ``None`` when some value is not a number."""
    raw: dict[str, Any]
    """CSV: the cell strings; npz/npy: the array as stored."""
    lines: tuple[int, ...] | None
    """CSV: the file line of every data row (for messages)."""
    n: int


def _read(path: str, key: str) -> tuple[bytes, str]:
    """The bytes of a data file and their SHA-256 (``ConfigError`` naming ``key`` if unreadable)."""
    if not os.path.isfile(path):
        raise invalid(OWNER, key, "an existing data file (" + ", ".join(EXTENSIONS) + ")", path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise invalid(OWNER, key, f"a readable data file ({exc})", path) from None
    return raw, hashlib.sha256(raw).hexdigest()


def _parse_csv(raw: bytes, key: str, path: str) -> _Columns:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid(OWNER, key, f"a UTF-8 text CSV file ({exc})", path) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows, lines = None, [], []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if header is None:
                header = [c.strip() for c in row]
                continue
            if len(row) != len(header):
                raise invalid(OWNER, key, f"a CSV file whose rows all have the {len(header)} columns of its header "
                              f"(line {reader.line_num} has {len(row)})", path)
            rows.append([c.strip() for c in row])
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise invalid(OWNER, key, f"a readable CSV file ({exc})", path) from None
    if header is None:
        raise invalid(OWNER, key, "a CSV file with a header row of column names", path)
    if any(not h for h in header) or len(set(header)) != len(header):
        raise invalid(OWNER, key, f"a CSV file whose header names every column once (header: {header})", path)
    numeric, rawcols = {}, {}
    for j, name in enumerate(header):
        cells = [r[j] for r in rows]
        rawcols[name] = cells
        try:
            numeric[name] = np.array(cells, dtype=np.float64)
        except ValueError:
            numeric[name] = None
    return _Columns(tuple(header), numeric, rawcols, tuple(lines), len(rows))


def _load_array(raw: bytes, key: str, path: str, npz: bool):
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's file
        what = "an .npz archive of arrays" if npz else "an .npy array"
        raise invalid(OWNER, key, f"{what} without Python objects ({type(exc).__name__}: {exc})", path) from None


def _array_columns(arrays: dict[str, np.ndarray], key: str, path: str) -> _Columns:
    numeric, n = {}, None
    for name, a in arrays.items():
        if a.ndim not in (1, 2):
            raise invalid(OWNER, key, f"a file of 1-D or 2-D arrays (array {name!r} has shape {a.shape})", path)
        numeric[name] = a.astype(np.float64) if a.dtype.kind in "biuf" else None
        n = len(a) if n is None else n
    return _Columns(tuple(arrays), numeric, dict(arrays), None, n or 0)


def _parse_npz(raw: bytes, key: str, path: str) -> _Columns:
    archive = _load_array(raw, key, path, True)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise invalid(OWNER, key, "an .npz archive of arrays", path)
    try:
        arrays = {name: archive[name] for name in archive.files}
    except Exception as exc:  # noqa: BLE001
        raise invalid(OWNER, key, f"an .npz archive of arrays without Python objects ({type(exc).__name__}: {exc})",
                      path) from None
    if not arrays:
        raise invalid(OWNER, key, "an .npz archive holding at least one array", path)
    return _array_columns(arrays, key, path)


def _parse_npy(raw: bytes, key: str, path: str) -> _Columns:
    a = _load_array(raw, key, path, False)
    if not isinstance(a, np.ndarray):
        raise invalid(OWNER, key, "an .npy array", path)
    return _array_columns({"": a}, key, path)


def _columns(path: str, key: str) -> tuple[_Columns, str]:
    """Parse a data file (cached by path and content hash) -> (columns, sha256)."""
    raw, sha = _read(path, key)
    hit = _CACHE.get((path, sha))
    if hit is None:
        parse = {".csv": _parse_csv, ".npz": _parse_npz, ".npy": _parse_npy}[_ext(path)]
        hit = parse(raw, key, path)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[(path, sha)] = hit
    return hit, sha


# ---------------------------------------------------------------------------- checking values
def _bad_cell(cols: _Columns, name: str) -> str:
    """Where the first non-number of a CSV column is (for messages)."""
    for cell, line in zip(cols.raw[name], cols.lines or ()):
        try:
            float(cell)
        except ValueError:
            return f"line {line}: " + ("an empty cell" if cell == "" else repr(cell))
    return "?"


def _feature_block(cols: _Columns, name: str, key: str, path: str) -> np.ndarray:
    a = cols.numeric[name]
    if a is None:
        where = _bad_cell(cols, name) if cols.lines is not None else f"dtype {cols.raw[name].dtype}"
        raise invalid(OWNER, key, f"a file whose feature columns hold numbers only (column {name!r}, {where})", path)
    a = a.reshape(len(a), -1)
    if not np.all(np.isfinite(a)):
        i = int(np.argwhere(~np.isfinite(a))[0][0])
        where = f"line {cols.lines[i]}" if cols.lines is not None else f"row {i}"
        raise invalid(OWNER, key, f"a file whose feature values are finite numbers, without NaN, inf or empty "
                      f"cells (column {name!r}, {where})", path)
    return a


def _target_values(cols: _Columns, name: str, key: str, path: str) -> np.ndarray:
    """The target as a 1-D float64 array, or a 1-D array of str (class names)."""
    a = cols.numeric[name]
    if a is not None:
        if a.ndim == 2 and a.shape[1] != 1:
            raise invalid(OWNER, "target", f"one target per row (shape (n,) or (n, 1); {name or 'y'!r} has shape "
                          f"{a.shape})", name or path)
        a = a.reshape(-1)
        if not np.all(np.isfinite(a)):
            i = int(np.argwhere(~np.isfinite(a))[0][0])
            where = f"line {cols.lines[i]}" if cols.lines is not None else f"row {i}"
            raise invalid(OWNER, key, f"a file whose target values are finite numbers or class names, without NaN, "
                          f"inf or empty cells (column {name!r}, {where})", path)
        return a
    values = cols.raw[name]
    if cols.lines is None:  # an array: strings or bytes only
        if values.dtype.kind not in "US" or not (values.ndim == 1 or values.shape[1] == 1):
            raise invalid(OWNER, "target", "a 1-D array of numbers or strings", f"{name or path} with dtype "
                          f"{values.dtype} and shape {values.shape}")
        values = values.reshape(-1)
        values = np.char.decode(values, "utf-8") if values.dtype.kind == "S" else values
        return np.asarray([str(v).strip() for v in values], dtype=str)
    if "" in values:
        line = cols.lines[values.index("")]
        raise invalid(OWNER, key, f"a file whose target values are finite numbers or class names, without NaN, inf "
                      f"or empty cells (column {name!r}, line {line}: an empty cell)", path)
    return np.asarray(values, dtype=str)


# ---------------------------------------------------------------------------- the task
@dataclass(frozen=True)
class _Loaded:
    X: np.ndarray
    y: np.ndarray
    """float64 targets (regression) or int64 labels 0..K-1 (classification)."""
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    labels: tuple | None


@register_task
@dataclass(frozen=True)
class FileTask(_Task):
    """Your own data from a CSV, ``.npz`` or ``.npy`` file (module docstring: formats and rules).

    Parameters
    ----------
    path : str
        The data file: ``.csv`` (with a header row), ``.npz``, or ``.npy`` (X; y in ``target``).
    target : str or None
        CSV: the target column (required); npz: the target array (default 'y'); npy: the y ``.npy`` file.
    features : tuple of str or None
        Feature columns (CSV) or arrays (npz); ``None``: every other column / ``X``. Not for ``.npy``.
    test_fraction : float or None
        Fraction of rows held out for testing, in (0, 1); default 0.3. Not with ``test_path``.
    test_path : str or None
        A second file (same extension, same columns or arrays) used as the test set.
    standardize : bool
        Standardise features, and a regression target, with the training rows' statistics.
    problem : str
        'auto', 'regression' or 'classification' (module docstring: the 'auto' rule).
    seed : int or None
        Split seed; ``None``: the run seed.
    sha256 : dict or None
        SHA-256 of the files by role ('path', 'target', 'test_path'); filled in; if given, must match.
    """

    path: str = ""
    """The data file: ``.csv`` (with a header row), ``.npz``, or ``.npy`` (X; y in ``target``)."""
    target: str | None = None
    """CSV: the target column (required); npz: the target array (default 'y'); npy: the y ``.npy`` file."""
    features: tuple[str, ...] | None = None
    """Feature columns (CSV) or arrays (npz); ``None``: every other column / ``X``. Not for ``.npy``."""
    test_fraction: float | None = None
    """Fraction of rows held out for testing, in (0, 1); default 0.3. Not with ``test_path``."""
    test_path: str | None = None
    """A second file (same extension, same columns or arrays) used as the test set."""
    standardize: bool = True
    """Standardise features, and a regression target, with the training rows' statistics."""
    problem: str = "auto"
    """'auto', 'regression' or 'classification' (module docstring: the 'auto' rule)."""
    seed: int | None = None
    """Split seed; ``None``: the run seed."""
    sha256: Any = None
    """SHA-256 of the files by role ('path', 'target', 'test_path'); filled in; if given, must match."""

    kind: ClassVar[str] = "file"
    path_keys: ClassVar[tuple[str, ...]] = ("path", "test_path")
    """Keys holding file names, resolved against the config file's folder (``target`` too for ``.npy``)."""

    @classmethod
    def with_base_dir(cls, table: dict[str, Any], base_dir: str) -> dict[str, Any]:
        """``table`` with its relative file names joined to ``base_dir`` (the config file's folder).

        Parameters
        ----------
        table : dict
            The ``[task]`` table.
        base_dir : str
            The config file's folder.
        """
        out = dict(table)
        keys = list(cls.path_keys)
        if isinstance(out.get("path"), str) and _ext(out["path"]) == ".npy":
            keys.append("target")
        for key in keys:
            value = out.get(key)
            if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                out[key] = os.path.join(base_dir, value)
        return out

    # --- validation and loading -----------------------------------------------------------------
    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        allowed_ext = "a data file name ending in " + ", ".join(EXTENSIONS)
        if not isinstance(self.path, (str, os.PathLike)) or not str(self.path):
            raise invalid(OWNER, "path", allowed_ext, self.path)
        put("path", _absolute(str(self.path)))
        ext = _ext(self.path)
        if ext not in EXTENSIONS:
            raise invalid(OWNER, "path", allowed_ext, self.path)
        if self.target is not None and (not isinstance(self.target, (str, os.PathLike)) or not str(self.target)):
            raise invalid(OWNER, "target", "a column or array name (a non-empty string)", self.target)
        if ext == ".npy":
            if self.target is None or _ext(str(self.target)) != ".npy":
                raise invalid(OWNER, "target", "the .npy file holding y (path holds X)", self.target)
            put("target", _absolute(str(self.target)))
            if self.features is not None:
                raise invalid(OWNER, "features", "absent for a .npy pair (its columns have no names)", self.features)
        elif self.target is not None:
            put("target", str(self.target))
        if self.features is not None:
            feats = self.features
            if isinstance(feats, str) or not isinstance(feats, (list, tuple)) or not feats \
                    or not all(isinstance(f, str) and f for f in feats) or len(set(feats)) != len(feats):
                raise invalid(OWNER, "features", "a non-empty list of distinct column (array) names", feats)
            put("features", tuple(feats))
        if self.test_path is not None:
            if not isinstance(self.test_path, (str, os.PathLike)) or not str(self.test_path):
                raise invalid(OWNER, "test_path", f"a data file name ending in {ext} (as path)", self.test_path)
            put("test_path", _absolute(str(self.test_path)))
            if ext == ".npy":
                raise invalid(OWNER, "test_path", "absent for a .npy pair (use test_fraction, or CSV / .npz files)",
                              self.test_path)
            if _ext(self.test_path) != ext:
                raise invalid(OWNER, "test_path", f"a data file name ending in {ext} (as path)", self.test_path)
            if self.test_fraction is not None:
                raise invalid(OWNER, "test_fraction", "absent when test_path is given", self.test_fraction)
        else:
            fraction = 0.3 if self.test_fraction is None else self.test_fraction
            put("test_fraction", check_float(OWNER, "test_fraction", fraction, 0.0, 1.0, lo_open=True, hi_open=True))
        put("standardize", check_bool(OWNER, "standardize", self.standardize))
        check_choice(OWNER, "problem", self.problem, PROBLEMS)
        if self.seed is not None:
            put("seed", check_int(OWNER, "seed", self.seed, 0, 2 ** 63 - 1))
        given = self._given_sha()
        self._load_files(given)

    def _given_sha(self) -> dict[str, str]:
        value = self.sha256
        if value is None:
            return {}
        if isinstance(value, (tuple, list)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in value):
            value = dict(value)
        allowed = "a table of 64-digit lowercase hex SHA-256 digests by role (path, target, test_path)"
        if not isinstance(value, dict) or not all(k in _ROLES and isinstance(v, str) and _HEX.fullmatch(v)
                                                  for k, v in value.items()):
            raise invalid(OWNER, "sha256", allowed, self.sha256)
        return dict(value)

    def _load_files(self, given: dict[str, str]) -> None:
        ext = _ext(self.path)
        shas = {}
        cols, shas["path"] = _columns(self.path, "path")
        if ext == ".npy":
            ycols, shas["target"] = _columns(self.target, "target")
            X = _feature_block(cols, "", "path", self.path)
            y = _target_values(ycols, "", "target", self.target)
            if len(y) != len(X):
                raise invalid(OWNER, "target", f"a .npy file with one target per row of path ({len(X)} rows; it "
                              f"has {len(y)})", self.target)
            features = None
        else:
            features, target = self._names(cols)
            X, y = self._extract(cols, features, target, "path", self.path)
        Xt = yt = None
        if self.test_path is not None:
            tcols, shas["test_path"] = _columns(self.test_path, "test_path")
            if set(tcols.names) != set(cols.names):
                raise invalid(OWNER, "test_path", f"a file with the same columns (arrays) as path: "
                              f"{list(cols.names)}; it has {list(tcols.names)}", self.test_path)
            Xt, yt = self._extract(tcols, features, target, "test_path", self.test_path)
        for role, digest in given.items():
            if shas.get(role) != digest:
                raise invalid(OWNER, "sha256", f"the SHA-256 of the data files (the {role} file "
                              f"{getattr(self, role)} now has {shas.get(role)}: it changed since this config was "
                              "resolved)", {role: digest})
        self._check_rows(len(y), None if yt is None else len(yt))
        problem, y_all, labels = self._problem(y if yt is None else np.concatenate([y, yt]))
        y_enc, yt_enc = (y_all, None) if yt is None else (y_all[:len(y)], y_all[len(y):])
        object.__setattr__(self, "features", None if features is None else tuple(features))
        if ext != ".npy":
            object.__setattr__(self, "target", target)  # the resolved name (an .npz file's default 'y')
        object.__setattr__(self, "problem", problem)
        object.__setattr__(self, "sha256", tuple(sorted(shas.items())))
        object.__setattr__(self, "_loaded", _Loaded(X, y_enc, Xt, yt_enc, labels))

    def _names(self, cols: _Columns) -> tuple[list[str], str]:
        csv_file = cols.lines is not None
        target = self.target if self.target is not None or csv_file else "y"
        names = list(cols.names)
        if target not in names:
            what = "column of the CSV file" if csv_file else "array of the .npz file"
            raise invalid(OWNER, "target", f"the name of one {what}: " + ", ".join(map(repr, names)), self.target)
        if self.features is None:
            features = [n for n in names if n != target]
            if not csv_file and "X" in features:
                features = ["X"]
        else:
            features = list(self.features)
            unknown = [f for f in features if f not in names or f == target]
            if unknown:
                raise invalid(OWNER, "features", "a list of column (array) names other than the target "
                              f"{target!r}, from: " + ", ".join(repr(n) for n in names if n != target),
                              list(self.features))
        if not features:
            raise invalid(OWNER, "features", "at least one feature column besides the target "
                          f"{target!r} (the file has only {names})", self.features)
        return features, target

    def _extract(self, cols: _Columns, features: list[str], target: str, key: str,
                 path: str) -> tuple[np.ndarray, np.ndarray]:
        lengths = {name: len(cols.raw[name]) for name in [*features, target]}
        if len(set(lengths.values())) > 1:
            raise invalid(OWNER, key, f"a file whose feature and target arrays have one length (lengths: {lengths})",
                          path)
        X = np.concatenate([_feature_block(cols, f, key, path) for f in features], axis=1)
        return X, _target_values(cols, target, key, path)

    def _check_rows(self, n: int, n_test: int | None) -> None:
        if n_test is None:
            if n < 3:
                raise invalid(OWNER, "path", f"a file with at least 3 data rows (2 for training, 1 for testing; it "
                              f"has {n})", self.path)
        else:
            if n < 2:
                raise invalid(OWNER, "path", f"a file with at least 2 training rows (it has {n})", self.path)
            if n_test < 1:
                raise invalid(OWNER, "test_path", "a file with at least 1 test row (it has 0)", self.test_path)

    def _problem(self, y: np.ndarray) -> tuple[str, np.ndarray, tuple | None]:
        """Resolve ``problem`` and encode the targets (float64, or int64 labels with their names)."""
        text = y.dtype.kind == "U"
        values, codes = np.unique(y, return_inverse=True)
        problem = self.problem
        if problem == "auto":
            integral = bool(np.all(y == np.round(y))) if not text else True
            few = 2 <= len(values) <= MAX_AUTO_CLASSES and 2 * len(values) <= len(y)
            problem = "classification" if text or (integral and few) else "regression"
        if problem == "regression":
            if text:
                raise invalid(OWNER, "target", "a column of numbers for problem = 'regression' (or problem = "
                              "'classification' for class names)", self.target)
            return problem, y.astype(np.float64), None
        if len(values) < 2:
            raise invalid(OWNER, "target", f"a column with at least 2 distinct classes for problem = "
                          f"'classification' (it holds only {values.tolist()})", self.target)
        names = tuple(str(v) if text else (int(v) if float(v).is_integer() else float(v)) for v in values)
        return problem, codes.reshape(-1).astype(np.int64), names

    # --- the task interface -----------------------------------------------------------------------
    @property
    def is_classification(self) -> bool:
        """Whether the (resolved) problem is classification."""
        return self.problem == "classification"

    @property
    def n_classes(self) -> int | None:
        """Number of classes K (labels 0..K-1); ``None`` for regression."""
        labels = self._loaded.labels
        return None if labels is None else len(labels)

    @property
    def class_labels(self) -> tuple | None:
        """The original label of each class index 0..K-1 (str or number); ``None`` for regression."""
        return self._loaded.labels

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return self._loaded.X.shape[1]

    @property
    def data_sha256(self) -> dict[str, str]:
        """``{absolute file path: SHA-256}`` of every file read."""
        return {getattr(self, role): digest for role, digest in self.sha256}

    def to_dict(self) -> dict[str, Any]:
        """All parameters (resolved: absolute paths, features, problem, the files' SHA-256) plus ``kind``.

        Returns
        -------
        dict
            Every parameter plus ``kind``.
        """
        out = super().to_dict()
        out["sha256"] = dict(self.sha256)
        return out

    def load(self, run_seed: int) -> Dataset:
        """Split (unless ``test_path``) and standardise the data read when the task was built.

        Parameters
        ----------
        run_seed : int
            The run seed, used where the task's own ``seed`` is ``None``.

        Returns
        -------
        memsim.tasks.registry.Dataset
            The training and test data.
        """
        d = self._loaded
        if d.X_test is None:
            n = len(d.y)
            perm = data_generator(self.seed if self.seed is not None else run_seed, _TAG_FILE).permutation(n)
            n_test = min(max(1, int(round(self.test_fraction * n))), n - 2)
            test, train = perm[:n_test], perm[n_test:]
            Xtr, ytr, Xte, yte = d.X[train], d.y[train], d.X[test], d.y[test]
        else:
            Xtr, ytr, Xte, yte = d.X, d.y, d.X_test, d.y_test
        if self.standardize:
            Xtr, Xte = standardize_features(Xtr, Xte)
        else:
            Xtr, Xte = np.array(Xtr, dtype=np.float64), np.array(Xte, dtype=np.float64)
        if self.is_classification:
            return ClassificationData(Xtr, ytr.copy(), Xte, yte.copy(), None, len(d.labels))
        if self.standardize:
            mu, sd = ytr.mean(), ytr.std()
            sd = sd if sd > 0 else 1.0
            ytr, yte = (ytr - mu) / sd, (yte - mu) / sd
        return Dataset(Xtr, np.array(ytr, dtype=np.float64)[:, None], Xte, np.array(yte, dtype=np.float64)[:, None],
                       None)
