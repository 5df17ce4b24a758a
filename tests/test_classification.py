"""Classification tasks: shapes, standardisation with training statistics, seeds, the IDX reader, validation."""

import gzip
import subprocess
import sys

import numpy as np
import pytest

from memsim.tasks.classification import (BreastCancerTask, ClassificationData, DigitsTask, MNISTTask,
                                   TeacherClassificationTask, read_idx, standardize, write_idx)
from memsim.workflows.config import resolve_config
from memsim.tasks.registry import TASKS, task_from_dict
from memsim.errors import ConfigError


@pytest.mark.parametrize("task,n,d,k", [(DigitsTask(), 1797, 64, 10), (BreastCancerTask(), 569, 30, 2)])
def test_sklearn_tasks_shapes_and_standardisation(task, n, d, k):
    data = task.load(3)
    assert isinstance(data, ClassificationData) and data.n_classes == k == task.n_classes
    n_test = round(0.3 * n)
    assert data.X_train.shape == (n - n_test, d) and data.X_test.shape == (n_test, d)
    assert data.y_train.shape == (n - n_test,) and data.y_train.dtype == np.int64
    assert set(np.unique(np.concatenate([data.y_train, data.y_test]))) == set(range(k))
    # Standardised with the training rows: mean 0 and sd 1 there (sd 0 for constant pixels).
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-12)
    sd = data.X_train.std(axis=0)
    assert np.all(np.isclose(sd, 1.0) | np.isclose(sd, 0.0))
    # ... and the test rows with the same (training) statistics, not their own.
    assert np.max(np.abs(data.X_test.mean(axis=0))) > 1e-3


def test_standardize_uses_training_statistics_and_keeps_constant_features():
    Xtr = np.array([[1.0, 5.0], [3.0, 5.0]])
    Xte = np.array([[2.0, 7.0]])
    a, b = standardize(Xtr, Xte)
    np.testing.assert_allclose(a, [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(b, [[0.0, 2.0]])  # constant feature: scale 1


def test_split_follows_the_run_seed_unless_the_task_has_one():
    a, b = DigitsTask().load(1), DigitsTask().load(2)
    assert not np.array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(DigitsTask().load(1).X_train, a.X_train)
    np.testing.assert_array_equal(DigitsTask(seed=5).load(1).y_test, DigitsTask(seed=5).load(2).y_test)


@pytest.mark.parametrize("k", [2, 4])
def test_teacher_task_labels_follow_the_teacher(k):
    task = TeacherClassificationTask(n_train=3000, n_test=10, n_features=6, n_classes=k, teacher_std=2.0, seed=1)
    data = task.load(0)
    rows = 1 if k == 2 else k
    assert data.w_true.shape == (rows, 6) and data.X_train.shape == (3000, 6) and data.n_classes == k
    z = data.X_train @ data.w_true.T
    np.testing.assert_allclose(np.var(z, axis=0), np.sum(data.w_true ** 2, axis=1), rtol=0.1)  # x ~ N(0, I)
    if k == 2:
        p = 1 / (1 + np.exp(-z[:, 0]))
        assert data.y_train.mean() == pytest.approx(p.mean(), abs=4 * np.sqrt(0.25 / 3000))
        agree = np.mean(data.y_train == (z[:, 0] > 0))
    else:
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        freq = np.bincount(data.y_train, minlength=k) / 3000
        np.testing.assert_allclose(freq, p.mean(axis=0), atol=4 * np.sqrt(0.25 / 3000))
        agree = np.mean(data.y_train == np.argmax(z, axis=1))
    assert 0.6 < agree < 0.95  # noisy labels, mostly the teacher's choice
    hard = TeacherClassificationTask(n_train=500, n_features=6, n_classes=k, labels="argmax", seed=1).load(0)
    expected = (hard.X_train @ hard.w_true.T)
    expected = (expected[:, 0] > 0) if k == 2 else np.argmax(expected, axis=1)
    np.testing.assert_array_equal(hard.y_train, expected)


# ---------------------------------------------------------------------------- IDX / MNIST
@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(np.dtype(dtype).newbyteorder("="))
    if dtype == "u1":
        a = np.abs(a).astype("u1")
    path = write_idx(tmp_path / ("a.idx.gz" if compress else "a.idx"), a)
    with open(path, "rb") as fh:
        assert (fh.read(2) == b"\x1f\x8b") == compress
    b = read_idx(path)
    assert b.shape == a.shape and b.dtype == a.dtype
    np.testing.assert_array_equal(a, b)


def _write_mnist(folder, compress, n_train=7, n_test=5, dot=False):
    g = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = g.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        arrays[split] = (images, labels)
        sep = "." if dot else "-"
        suffix = ".gz" if compress else ""
        # Written by hand (big-endian header), independent of write_idx.
        for what, a, dims in (("images", images, 3), ("labels", labels, 1)):
            body = bytes([0, 0, 8, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes() + a.tobytes()
            path = folder / f"{split}-{what}{sep}idx{dims}-ubyte{suffix}"
            with (gzip.open(path, "wb") if compress else open(path, "wb")) as fh:
                fh.write(body)
    return arrays


@pytest.mark.parametrize("compress,dot", [(False, False), (True, False), (True, True)])
def test_mnist_loader_reads_small_idx_files(tmp_path, compress, dot):
    arrays = _write_mnist(tmp_path / "m", compress, dot=dot)
    data = task_from_dict({"kind": "mnist", "path": str(tmp_path / "m")}).load(0)
    assert data.X_train.shape == (7, 784) and data.X_test.shape == (5, 784) and data.n_classes == 10
    np.testing.assert_allclose(data.X_train, arrays["train"][0].reshape(7, -1) / 255.0)
    np.testing.assert_array_equal(data.y_test, arrays["t10k"][1])
    sub = MNISTTask(path=str(tmp_path / "m"), n_train=3, n_test=2, scaling="standardize").load(0)
    assert sub.X_train.shape == (3, 784) and sub.X_test.shape == (2, 784)
    np.testing.assert_allclose(sub.X_train.mean(axis=0), 0.0, atol=1e-12)


def test_mnist_missing_or_corrupt_files_name_the_path(tmp_path):
    with pytest.raises(ConfigError, match="'path' parameter of task 'mnist'.*t10k-labels-idx1-ubyte"):
        MNISTTask(path=str(tmp_path)).load(0)
    _write_mnist(tmp_path / "m", compress=False)
    (tmp_path / "m" / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(ConfigError, match="'path' parameter of read_idx"):
        MNISTTask(path=str(tmp_path / "m")).load(0)
    (tmp_path / "junk").write_bytes(b"not an idx file")
    with pytest.raises(ConfigError, match="'path' parameter of read_idx"):
        read_idx(tmp_path / "junk")


# ---------------------------------------------------------------------------- registry and validation
def test_tasks_are_registered_and_round_trip():
    for kind in ("digits", "breast_cancer", "mnist", "teacher_classification"):
        assert kind in TASKS
        task = task_from_dict({"kind": kind})
        assert task_from_dict(task.to_dict()) == task


@pytest.mark.parametrize("table,key", [
    ({"kind": "digits", "test_fraction": 1.0}, "test_fraction"),
    ({"kind": "breast_cancer", "seed": -1}, "seed"),
    ({"kind": "teacher_classification", "n_classes": 1}, "n_classes"),
    ({"kind": "teacher_classification", "labels": "soft"}, "labels"),
    ({"kind": "teacher_classification", "n_train": 0}, "n_train"),
    ({"kind": "mnist", "scaling": "minmax"}, "scaling"),
    ({"kind": "mnist", "n_train": 0}, "n_train"),
    ({"kind": "digits", "n_train": 10}, "n_train"),
])
def test_bad_task_values_name_the_parameter(table, key):
    with pytest.raises(ConfigError, match=f"'{key}' parameter of task"):
        task_from_dict(table)
    with pytest.raises(ConfigError, match=f"Invalid config key 'task.{key}'"):
        resolve_config({"task": table})


def test_loss_defaults_follow_the_task():
    assert resolve_config({"task": {"kind": "digits"}}).model.loss == "softmax"
    assert resolve_config({"task": {"kind": "breast_cancer"}}).model.loss == "logistic"
    assert resolve_config({}).model.loss == "mse"
    with pytest.raises(ConfigError, match="Invalid config key 'model.loss'"):
        resolve_config({"task": {"kind": "digits"}, "model": {"loss": "logistic"}})


def test_registering_the_tasks_keeps_import_light():
    code = "import memsim, memsim.tasks.registry, memsim.workflows.config, sys; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
