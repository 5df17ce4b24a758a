r"""Classification tasks: scikit-learn digits and breast cancer, MNIST from local IDX files, a teacher-student task.

Every task is a frozen dataclass with ``kind`` (registered in :data:`memsim.tasks.registry.TASKS`), and
``task.load(run_seed)`` returns a :class:`ClassificationData`: features ``X`` of shape (n, d) and
integer labels ``y`` of shape (n,) in ``0 .. n_classes - 1``. Nothing is downloaded: digits and
breast cancer ship with scikit-learn, MNIST is read from a folder the user points to.

Standardisation (digits, breast cancer, and MNIST with ``scaling = "standardize"``) uses the
training rows only: :math:`x \leftarrow (x - \mu_{\rm train}) / s_{\rm train}` per feature, where a
feature that is constant on the training rows keeps scale 1 (scikit-learn's ``StandardScaler``
convention), so it is 0 on the training rows.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .registry import Dataset, _Task, data_generator, register_task
from ..params import MAX_FEATURES, MAX_MAGNITUDE, check_choice, check_float, check_int, invalid

__all__ = ["ClassificationData", "DigitsTask", "BreastCancerTask", "MNISTTask", "TeacherClassificationTask",
           "read_idx", "write_idx", "standardize", "CLASSIFICATION_TASKS"]

#: ``data_generator`` tags of the tasks (distinct from the regression tasks' 1 and 2).
_TAG_DIGITS, _TAG_CANCER, _TAG_TEACHER, _TAG_MNIST = 10, 11, 12, 13


@dataclass(frozen=True)
class ClassificationData(Dataset):
    """Training and test arrays of a classification task.

    ``y_train`` and ``y_test`` are integer labels of shape (n,) in ``0 .. n_classes - 1`` (not
    the (n, outputs) targets of a regression :class:`~memsim.tasks.registry.Dataset`); ``w_true`` is the
    teacher of a teacher-student task (else ``None``).

    Parameters
    ----------
    X_train : numpy.ndarray
        Training inputs, shape (n_train, d).
    y_train : numpy.ndarray
        Training labels in ``0 .. n_classes - 1``, shape (n_train,).
    X_test : numpy.ndarray
        Test inputs, shape (n_test, d).
    y_test : numpy.ndarray
        Test labels in ``0 .. n_classes - 1``, shape (n_test,).
    w_true : numpy.ndarray or None
        The teacher weights of a teacher-student task; ``None`` otherwise.
    n_classes : int
        Number of classes.
    """

    n_classes: int = 2
    """Number of classes."""


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Standardise both sets with the training rows' statistics.

    .. math::  x_j \leftarrow (x_j - \mu_j) / s_j, \qquad \mu_j, s_j \text{ from the training rows},
               \ s_j := 1 \text{ where } s_j = 0

    Parameters
    ----------
    X_train : numpy.ndarray
        Training inputs, shape (n_train, d).
    X_test : numpy.ndarray
        Test inputs, shape (n_test, d).

    Returns
    -------
    X_train : numpy.ndarray
        Standardised training inputs (float64).
    X_test : numpy.ndarray
        Standardised test inputs (float64).
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    mu, sd = X_train.mean(axis=0), X_train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (X_train - mu) / sd, (X_test - mu) / sd


def _split(n: int, test_fraction: float, seed: int, tag: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, test) row indices: a permutation from ``data_generator(seed, tag)``."""
    perm = data_generator(seed, tag).permutation(n)
    n_test = min(max(1, int(round(test_fraction * n))), n - 1)
    return perm[n_test:], perm[:n_test]


class _ClassificationTask(_Task):
    """Common behaviour: ``is_classification`` and the seed/test-fraction validation."""

    is_classification: ClassVar[bool] = True

    def _check_seed(self, owner: str) -> None:
        if self.seed is not None:
            object.__setattr__(self, "seed", check_int(owner, "seed", self.seed, 0, 2 ** 63 - 1))

    def _check_fraction(self, owner: str) -> None:
        object.__setattr__(self, "test_fraction", check_float(owner, "test_fraction", self.test_fraction, 0.0, 1.0,
                                                              lo_open=True, hi_open=True))

    def _seed(self, run_seed: int) -> int:
        return self.seed if self.seed is not None else run_seed


@dataclass(frozen=True)
class DigitsTask(_ClassificationTask):
    """scikit-learn's 8x8 handwritten digits (1797 x 64, 10 classes, shipped with scikit-learn).

    A random ``test_fraction`` of the rows (from ``seed``) is held out; the 64 pixel features are
    standardised with the training rows' statistics (:func:`standardize`).

    Parameters
    ----------
    test_fraction : float
        Fraction of rows held out for testing; in (0, 1).
    seed : int or None
        Split seed; ``None``: the run seed.
    """

    test_fraction: float = 0.3
    """Fraction of rows held out for testing; in (0, 1)."""
    seed: int | None = None
    """Split seed; ``None``: the run seed."""

    kind: ClassVar[str] = "digits"

    def __post_init__(self) -> None:
        owner = "task 'digits'"
        self._check_fraction(owner)
        self._check_seed(owner)

    @property
    def n_classes(self) -> int:
        """10."""
        return 10

    def load(self, run_seed: int) -> ClassificationData:
        """Split and standardise the data.

        Parameters
        ----------
        run_seed : int
            The run seed, used where the task's own ``seed`` is ``None``.

        Returns
        -------
        ClassificationData
            The training and test data.
        """
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        train, test = _split(len(y), self.test_fraction, self._seed(run_seed), _TAG_DIGITS)
        Xtr, Xte = standardize(X[train], X[test])
        return ClassificationData(Xtr, y[train].astype(np.int64), Xte, y[test].astype(np.int64), None, 10)


@dataclass(frozen=True)
class BreastCancerTask(_ClassificationTask):
    """scikit-learn's Wisconsin breast-cancer data (569 x 30, binary, shipped with scikit-learn).

    Label 1 = benign, 0 = malignant (scikit-learn's coding). A random ``test_fraction`` of the rows
    is held out; features are standardised with the training rows' statistics.

    Parameters
    ----------
    test_fraction : float
        Fraction of rows held out for testing; in (0, 1).
    seed : int or None
        Split seed; ``None``: the run seed.
    """

    test_fraction: float = 0.3
    """Fraction of rows held out for testing; in (0, 1)."""
    seed: int | None = None
    """Split seed; ``None``: the run seed."""

    kind: ClassVar[str] = "breast_cancer"

    def __post_init__(self) -> None:
        owner = "task 'breast_cancer'"
        self._check_fraction(owner)
        self._check_seed(owner)

    @property
    def n_classes(self) -> int:
        """2."""
        return 2

    def load(self, run_seed: int) -> ClassificationData:
        """Split and standardise the data.

        Parameters
        ----------
        run_seed : int
            The run seed, used where the task's own ``seed`` is ``None``.

        Returns
        -------
        ClassificationData
            The training and test data.
        """
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        train, test = _split(len(y), self.test_fraction, self._seed(run_seed), _TAG_CANCER)
        Xtr, Xte = standardize(X[train], X[test])
        return ClassificationData(Xtr, y[train].astype(np.int64), Xte, y[test].astype(np.int64), None, 2)


@dataclass(frozen=True)
class TeacherClassificationTask(_ClassificationTask):
    r"""Teacher-student classification with a known linear teacher.

    .. math::
        x \sim N(0, I_d), \qquad W_{\rm true} \in \mathbb{R}^{K' \times d},\
        (W_{\rm true})_{kj} \sim N(0, \sigma_t^2 / d), \qquad z = W_{\rm true}\,x

    so every teacher logit has standard deviation :math:`\sigma_t` whatever ``d``. Binary
    (``n_classes = 2``): :math:`K' = 1` and :math:`P(y = 1 \mid x) = \sigma(z)`; multi-class:
    :math:`K' = K` and :math:`P(y = k \mid x) = \mathrm{softmax}(z)_k`. With ``labels = "sample"``
    the labels are drawn from these probabilities (label noise: the data are not separable and the
    unpenalised maximum-likelihood fit exists for ``n_train`` well above ``d``); with ``"argmax"``
    they are the teacher's most likely class (noise-free, separable). No intercept; ``w_true``
    of the loaded data is :math:`W_{\rm true}`, shape (K', d).

    Parameters
    ----------
    n_train : int
        Training samples; >= 1.
    n_test : int
        Test samples; >= 1.
    n_features : int
        Input dimension d; >= 1.
    n_classes : int
        Number of classes K; >= 2.
    teacher_std : float
        Standard deviation sigma_t of each teacher logit; >= 0.
    labels : str
        'sample' (drawn from the teacher's probabilities) or 'argmax' (the teacher's most likely class).
    seed : int or None
        Data seed; ``None``: the run seed.
    """

    n_train: int = 500
    """Training samples; >= 1."""
    n_test: int = 2000
    """Test samples; >= 1."""
    n_features: int = 10
    """Input dimension d; >= 1."""
    n_classes: int = 2
    """Number of classes K; >= 2."""
    teacher_std: float = 2.0
    """Standard deviation sigma_t of each teacher logit; >= 0."""
    labels: str = "sample"
    """'sample' (drawn from the teacher's probabilities) or 'argmax' (the teacher's most likely class)."""
    seed: int | None = None
    """Data seed; ``None``: the run seed."""

    kind: ClassVar[str] = "teacher_classification"

    def __post_init__(self) -> None:
        owner = "task 'teacher_classification'"
        for name in ("n_train", "n_test"):
            object.__setattr__(self, name, check_int(owner, name, getattr(self, name), 1))
        object.__setattr__(self, "n_features", check_int(owner, "n_features", self.n_features, 1, MAX_FEATURES))
        object.__setattr__(self, "n_classes", check_int(owner, "n_classes", self.n_classes, 2))
        object.__setattr__(self, "teacher_std", check_float(owner, "teacher_std", self.teacher_std, 0.0,
                                                            MAX_MAGNITUDE))
        check_choice(owner, "labels", self.labels, ("sample", "argmax"))
        self._check_seed(owner)

    def _labels(self, g: np.random.Generator, z: np.ndarray) -> np.ndarray:
        if self.n_classes == 2:
            if self.labels == "argmax":
                return (z[:, 0] > 0).astype(np.int64)
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return (g.random(len(z)) < p).astype(np.int64)
        if self.labels == "argmax":
            return np.argmax(z, axis=1).astype(np.int64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        u = g.random(len(z))[:, None]
        return np.minimum(np.sum(cdf < u, axis=1), self.n_classes - 1).astype(np.int64)

    def load(self, run_seed: int) -> ClassificationData:
        """Draw the teacher, the training set and the test set.

        Parameters
        ----------
        run_seed : int
            The run seed, used where the task's own ``seed`` is ``None``.

        Returns
        -------
        ClassificationData
            The training and test data.
        """
        g = data_generator(self._seed(run_seed), _TAG_TEACHER)
        k = 1 if self.n_classes == 2 else self.n_classes
        w_true = self.teacher_std / math.sqrt(self.n_features) * g.standard_normal((k, self.n_features))
        X_train = g.standard_normal((self.n_train, self.n_features))
        X_test = g.standard_normal((self.n_test, self.n_features))
        y_train = self._labels(g, X_train @ w_true.T)
        y_test = self._labels(g, X_test @ w_true.T)
        return ClassificationData(X_train, y_train, X_test, y_test, w_true, self.n_classes)


# ---------------------------------------------------------------------------- IDX files (MNIST format)
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw (detected from the content).

    Format: two zero bytes, a type byte (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D
    float32, 0x0E float64), the number of dimensions, one big-endian uint32 size per dimension,
    then the data in C order, big-endian.

    Parameters
    ----------
    path : str or pathlib.Path
        The IDX file.

    Returns
    -------
    numpy.ndarray
        Shape as in the header, native byte order.
    """
    path = Path(path)
    owner = "read_idx"
    if not path.is_file():
        raise invalid(owner, "path", "an existing IDX file", str(path))
    try:
        with _open(path) as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise invalid(owner, "path", f"a readable IDX file ({exc})", str(path)) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise invalid(owner, "path", "an IDX file (header 0x00 0x00 <type> <ndim>)", str(path))
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise invalid(owner, "path", "an IDX file with a complete header", str(path))
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise invalid(owner, "path", f"an IDX file whose data match its header shape {shape}", str(path))
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: Any, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress`` or the name ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (the inverse of :func:`read_idx`).

    Parameters
    ----------
    path : str or pathlib.Path
        The file to write.
    array : array_like
        The data.
    compress : bool or None
        Whether to gzip the file; ``None``: when the name ends in ``.gz``.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    a = np.asarray(array)
    codes = {v.newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    dt = a.dtype.newbyteorder("=")
    if dt not in codes or a.ndim > 255:
        raise invalid("write_idx", "array", "an array of dtype uint8, int8, int16, int32, float32 or float64",
                      a.dtype)
    code = codes[dt]
    body = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes() \
        + np.ascontiguousarray(a, dtype=_IDX_TYPES[code]).tobytes()
    path = Path(path)
    compress = path.suffix == ".gz" if compress is None else compress
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as fh:
        fh.write(body)
    return path


_MNIST_FILES = {"train_images": ("train", "images", 3), "train_labels": ("train", "labels", 1),
                "test_images": ("t10k", "images", 3), "test_labels": ("t10k", "labels", 1)}


def _mnist_file(folder: Path, split: str, what: str, dims: int) -> Path | None:
    """The first existing one of the usual MNIST file names (dash or dot before ``idx``, optional .gz)."""
    for stem in (f"{split}-{what}-idx{dims}-ubyte", f"{split}-{what}.idx{dims}-ubyte"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


@dataclass(frozen=True)
class MNISTTask(_ClassificationTask):
    """MNIST (or any data set in its IDX layout, e.g. Fashion-MNIST) read from a local folder.

    The folder must hold ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``; a dot instead
    of the dash before ``idx`` is accepted too). Nothing is downloaded. Images are flattened to
    784 features; the first ``n_train`` / ``n_test`` rows of each file are used.

    ``scaling``: ``"unit"`` divides the pixels by 255 (range [0, 1]); ``"standardize"`` applies
    :func:`standardize` (per pixel, training statistics; rare pixels then take large values).

    Parameters
    ----------
    path : str
        Folder with the four IDX files.
    n_train : int or None
        Training rows to use (the first ones); ``None``: all.
    n_test : int or None
        Test rows to use (the first ones); ``None``: all.
    scaling : str
        'unit' (pixels / 255) or 'standardize' (training mean and standard deviation per pixel).
    seed : int or None
        Unused by the data (the rows are taken in file order); kept for a uniform task interface.
    """

    path: str = "data/mnist"
    """Folder with the four IDX files."""
    n_train: int | None = None
    """Training rows to use (the first ones); ``None``: all."""
    n_test: int | None = None
    """Test rows to use (the first ones); ``None``: all."""
    scaling: str = "unit"
    """'unit' (pixels / 255) or 'standardize' (training mean and standard deviation per pixel)."""
    seed: int | None = None
    """Unused by the data (the rows are taken in file order); kept for a uniform task interface."""

    kind: ClassVar[str] = "mnist"

    def __post_init__(self) -> None:
        owner = "task 'mnist'"
        if not isinstance(self.path, (str, Path)) or not str(self.path):
            raise invalid(owner, "path", "a folder path (a non-empty string)", self.path)
        object.__setattr__(self, "path", str(self.path))
        for name in ("n_train", "n_test"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_int(owner, name, getattr(self, name), 1))
        check_choice(owner, "scaling", self.scaling, ("unit", "standardize"))
        self._check_seed(owner)

    @property
    def n_classes(self) -> int:
        """10."""
        return 10

    def files(self) -> dict[str, Path]:
        """The four IDX files found in ``path`` (``ConfigError`` naming ``path`` if one is missing).

        Returns
        -------
        dict of {str: pathlib.Path}
            ``train_images``, ``train_labels``, ``test_images``, ``test_labels`` -> file.
        """
        folder = Path(self.path).expanduser()
        found = {key: _mnist_file(folder, *spec) for key, spec in _MNIST_FILES.items()}
        missing = [f"{s}-{w}-idx{d}-ubyte[.gz]" for key, (s, w, d) in _MNIST_FILES.items() if found[key] is None]
        if missing:
            raise invalid("task 'mnist'", "path", "a folder holding " + ", ".join(missing), self.path)
        return found  # type: ignore[return-value]

    def check_available(self) -> None:
        """Fail now (``ConfigError`` naming ``path``) when the files are missing: called by config resolution."""
        self.files()

    def load(self, run_seed: int) -> ClassificationData:
        """Read, subset, flatten and scale the IDX files.

        Parameters
        ----------
        run_seed : int
            The run seed (unused: the rows are taken in file order).

        Returns
        -------
        ClassificationData
            The training and test data.
        """
        f = self.files()
        parts = {}
        for split, n in (("train", self.n_train), ("test", self.n_test)):
            images, labels = read_idx(f[f"{split}_images"]), read_idx(f[f"{split}_labels"])
            if images.ndim < 2 or labels.ndim != 1 or len(images) != len(labels):
                raise invalid("task 'mnist'", "path", f"matching {split} image and label files", self.path)
            n = len(labels) if n is None else min(n, len(labels))
            parts[split] = (images[:n].reshape(n, -1).astype(np.float64), labels[:n].astype(np.int64))
        (Xtr, ytr), (Xte, yte) = parts["train"], parts["test"]
        if self.scaling == "unit":
            Xtr, Xte = Xtr / 255.0, Xte / 255.0
        else:
            Xtr, Xte = standardize(Xtr, Xte)
        if ytr.size and (ytr.min() < 0 or max(ytr.max(), yte.max(initial=0)) >= 10):
            raise invalid("task 'mnist'", "path", "a folder whose label files hold classes 0..9", self.path)
        return ClassificationData(Xtr, ytr, Xte, yte, None, 10)


CLASSIFICATION_TASKS = (DigitsTask, BreastCancerTask, MNISTTask, TeacherClassificationTask)
for _cls in CLASSIFICATION_TASKS:
    register_task(_cls)
