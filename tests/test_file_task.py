"""Your own data in a config (``[task] kind = "file"``): CSV / npz / npy, relative paths, bad input,
SHA-256, sweeps; and the progress bars (``progress=None`` shows a ``tqdm.auto`` bar; ``False``,
``--quiet`` and ``progress = false`` show none)."""

import hashlib
import io
import json
import sys
import tomllib

import numpy as np
import pytest

from memsim.cli import main
from memsim.errors import ConfigError
from memsim.tasks import ClassificationData, Dataset, FileTask, task_from_dict
from memsim.workflows.config import load_config, resolve_config
from memsim.workflows.sweeps import config_hash, parse_sweep, run_sweep

SETTINGS = """\
seed = 5
backend = "numpy"
[device]
kind = "soft_bounds"
dw_min = 0.01
[train]
lr = 0.05
epochs = 3
"""


def _csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def _regression_rows(n=24, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, 3))
    y = X @ np.array([0.5, -0.3, 0.2]) + 0.1 * g.standard_normal(n)
    return [[*np.round(x, 6), round(float(t), 6)] for x, t in zip(X, y)]


def _class_rows(n=30, seed=1):
    g = np.random.default_rng(seed)
    names = ["setosa", "versicolor", "virginica"]
    rows = []
    for i in range(n):
        k = i % 3
        rows.append([round(float(k + 0.3 * g.standard_normal()), 6), round(float(-k + 0.3 * g.standard_normal()), 6),
                     names[k]])
    return rows


def _config(folder, task_toml, extra=""):
    path = folder / "run.toml"
    path.write_text(SETTINGS + extra + "[task]\n" + task_toml)
    return path


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- formats
def test_csv_regression_through_the_cli_with_paths_relative_to_the_config(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    data = _csv(folder / "data" / "houses.csv", ["a", "b", "c", "price"], _regression_rows())
    cfg = _config(folder, 'kind = "file"\npath = "data/houses.csv"\ntarget = "price"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the path is resolved against the config's folder, not the working directory
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    prov = summary["provenance"]
    task = prov["config"]["task"]
    assert task["path"] == str(data) and task["problem"] == "regression" and task["features"] == ["a", "b", "c"]
    assert task["test_fraction"] == 0.3 and task["sha256"] == {"path": _sha(data)}
    assert prov["data_sha256"] == {str(data): _sha(data)} and "class_labels" not in prov
    assert len(summary["curves"]["test_loss"]) == 3 and np.isfinite(summary["test_loss_final"])
    config = load_config(cfg)
    d = config.task.load(config.seed)
    assert type(d) is Dataset and d.y_train.shape == (17, 1) and d.y_test.shape == (7, 1) and d.X_train.shape[1] == 3
    np.testing.assert_allclose(d.X_train.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose([d.y_train.mean(), d.y_train.std()], [0.0, 1.0], atol=1e-12)
    assert resolve_config(config.to_dict()) == config  # what a sweep worker does: absolute paths, same data


def test_csv_classification_with_string_labels(tmp_path):
    data = _csv(tmp_path / "iris.csv", ["x1", "x2", "species"], _class_rows())
    task = FileTask(path=str(data), target="species")
    assert task.problem == "classification" and task.n_classes == 3
    assert task.class_labels == ("setosa", "versicolor", "virginica")
    d = task.load(0)
    assert isinstance(d, ClassificationData) and d.n_classes == 3 and d.y_train.dtype == np.int64
    assert set(np.concatenate([d.y_train, d.y_test])) == {0, 1, 2} and len(d.y_test) == 9
    assert resolve_config({"task": {"kind": "file", "path": str(data), "target": "species"}}).model.loss == "softmax"
    cfg = _config(tmp_path, 'kind = "file"\npath = "iris.csv"\ntarget = "species"\nfeatures = ["x2", "x1"]\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["provenance"]["class_labels"] == ["setosa", "versicolor", "virginica"]
    assert summary["layer_sizes"] == [2, 3] and summary["loss"] == "softmax"


def test_auto_problem_rule_and_override(tmp_path):
    rows = [[i, i % 2] for i in range(10)]  # 2 integer values in 10 rows: classification
    path = _csv(tmp_path / "a.csv", ["x", "t"], rows)
    assert FileTask(path=str(path), target="t").problem == "classification"
    assert FileTask(path=str(path), target="t", problem="regression").problem == "regression"
    many = _csv(tmp_path / "b.csv", ["x", "t"], [[i, 3 * i] for i in range(10)])  # 10 distinct in 10 rows
    assert FileTask(path=str(many), target="t").problem == "regression"
    labels = FileTask(path=str(many), target="t", problem="classification")
    assert labels.n_classes == 10 and labels.class_labels[:3] == (0, 3, 6)


def test_npz_default_and_named_arrays(tmp_path):
    g = np.random.default_rng(2)
    X, y = g.standard_normal((20, 4)), g.standard_normal(20)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    task = FileTask(path=str(tmp_path / "d.npz"))
    assert task.features == ("X",) and task.target == "y" and task.problem == "regression"
    d = task.load(3)
    assert d.X_train.shape == (14, 4) and d.y_train.shape == (14, 1)
    np.savez(tmp_path / "e.npz", a=X[:, 0], b=X[:, 1:3], label=(X[:, 0] > 0).astype(int), unused=y)
    task = FileTask(path=str(tmp_path / "e.npz"), target="label", features=["b", "a"], standardize=False)
    d = task.load(3)
    assert task.problem == "classification" and d.X_train.shape == (14, 3)
    rows = np.concatenate([d.X_train, d.X_test])
    full = np.column_stack([X[:, 1:3], X[:, 0]])
    assert sorted(map(tuple, rows)) == sorted(map(tuple, full))  # the same rows, features in the order given


def test_npy_pair_relative_to_the_config(tmp_path):
    g = np.random.default_rng(4)
    np.save(tmp_path / "X.npy", g.standard_normal((15, 2)))
    np.save(tmp_path / "y.npy", g.integers(0, 2, 15))
    cfg = _config(tmp_path, 'kind = "file"\npath = "X.npy"\ntarget = "y.npy"\ntest_fraction = 0.2\n')
    config = load_config(cfg)
    assert config.task.target == str(tmp_path / "y.npy") and config.task.problem == "classification"
    assert set(config.task.data_sha256) == {str(tmp_path / "X.npy"), str(tmp_path / "y.npy")}
    d = config.task.load(config.seed)
    assert d.X_train.shape == (12, 2) and d.X_test.shape == (3, 2) and config.model.loss == "logistic"


def test_test_path_is_the_test_set(tmp_path):
    rows = _regression_rows(30)
    train = _csv(tmp_path / "train.csv", ["a", "b", "c", "y"], rows[:20])
    _csv(tmp_path / "test.csv", ["y", "c", "b", "a"], [r[::-1] for r in rows[20:]])  # same columns, other order
    cfg = _config(tmp_path, 'kind = "file"\npath = "train.csv"\ntest_path = "test.csv"\ntarget = "y"\n')
    config = load_config(cfg)
    assert config.task.test_fraction is None and set(config.task.to_dict()["sha256"]) == {"path", "test_path"}
    d = config.task.load(config.seed)
    assert d.X_train.shape == (20, 3) and d.X_test.shape == (10, 3)
    X = np.array(rows, dtype=float)
    mu, sd = X[:20, :3].mean(0), X[:20, :3].std(0)
    np.testing.assert_allclose(d.X_test, (X[20:, :3] - mu) / sd)  # training statistics, file order kept
    assert str(train) in config.task.data_sha256


def test_split_follows_the_seed(tmp_path):
    path = _csv(tmp_path / "d.csv", ["a", "b", "c", "y"], _regression_rows())
    task = FileTask(path=str(path), target="y")
    assert np.array_equal(task.load(1).y_test, task.load(1).y_test)
    assert not np.array_equal(task.load(1).y_test, task.load(2).y_test)
    fixed = FileTask(path=str(path), target="y", seed=9)
    assert np.array_equal(fixed.load(1).y_test, fixed.load(2).y_test)


# ---------------------------------------------------------------------------- bad input
def _bad_cases(tmp_path):
    header = ["a", "b", "c", "y"]
    rows = _regression_rows(12)
    _csv(tmp_path / "good.csv", header, rows)
    _csv(tmp_path / "text.csv", header, rows[:5] + [[1, "abc", 2, 3]] + rows[6:])
    _csv(tmp_path / "nan.csv", header, rows[:5] + [[1, "nan", 2, 3]] + rows[6:])
    _csv(tmp_path / "empty.csv", header, rows[:5] + [[1, "", 2, 3]] + rows[6:])
    _csv(tmp_path / "ragged.csv", header, rows[:5] + [[1, 2, 3]] + rows[6:])
    _csv(tmp_path / "two.csv", header, rows[:2])
    _csv(tmp_path / "other.csv", ["a", "b", "d", "y"], rows[:4])
    _csv(tmp_path / "labels.csv", ["a", "y"], [[1, "x"], [2, "z"], [3, "x"], [4, "z"]])
    (tmp_path / "data.xlsx").write_bytes(b"PK\x03\x04")
    np.save(tmp_path / "X.npy", np.ones((5, 2)))
    np.save(tmp_path / "y3.npy", np.ones(3))
    base = 'kind = "file"\npath = "good.csv"\ntarget = "y"\n'
    return [
        ('kind = "file"\npath = "missing.csv"\ntarget = "y"\n', "task.path", "missing.csv"),
        ('kind = "file"\npath = "data.xlsx"\ntarget = "y"\n', "task.path", ".csv, .npz, .npy"),
        ('kind = "file"\npath = "good.csv"\ntarget = "price"\n', "task.target", "'price'"),
        ('kind = "file"\npath = "good.csv"\n', "task.target", "'a', 'b', 'c', 'y'"),
        (base + 'features = ["a", "zz"]\n', "task.features", "'zz'"),
        (base + 'features = ["a", "y"]\n', "task.features", "other than the target"),
        ('kind = "file"\npath = "text.csv"\ntarget = "y"\n', "task.path", "'abc'"),
        ('kind = "file"\npath = "nan.csv"\ntarget = "y"\n', "task.path", "NaN"),
        ('kind = "file"\npath = "empty.csv"\ntarget = "y"\n', "task.path", "an empty cell"),
        ('kind = "file"\npath = "ragged.csv"\ntarget = "y"\n', "task.path", "line 7 has 3"),
        ('kind = "file"\npath = "two.csv"\ntarget = "y"\n', "task.path", "at least 3 data rows"),
        (base + 'test_path = "two.csv"\ntest_fraction = 0.2\n', "task.test_fraction", "absent when test_path"),
        (base + 'test_path = "other.csv"\n', "task.test_path", "same columns"),
        (base + 'test_path = "X.npy"\n', "task.test_path", "ending in .csv"),
        ('kind = "file"\npath = "labels.csv"\ntarget = "y"\nproblem = "regression"\n', "task.target",
         "a column of numbers"),
        (base + 'problem = "ordinal"\n', "task.problem", "'ordinal'"),
        (base + 'test_fraction = 1.5\n', "task.test_fraction", "1.5"),
        (base + 'standardize = "yes"\n', "task.standardize", "'yes'"),
        (base + 'sha256 = {path = "' + "0" * 64 + '"}\n', "task.sha256", "changed"),
        (base + 'sha256 = "abc"\n', "task.sha256", "'abc'"),
        (base + 'columns = ["a"]\n', "task.columns", "allowed keys"),
        ('kind = "file"\npath = "X.npy"\ntarget = "y3.npy"\n', "task.target", "one target per row"),
        ('kind = "file"\npath = "X.npy"\ntarget = "y3.npy"\nfeatures = ["a"]\n', "task.features", "absent"),
    ]


def test_bad_input_exits_2_naming_the_key_and_writes_nothing(tmp_path, capsys):
    for i, (task, key, detail) in enumerate(_bad_cases(tmp_path)):
        cfg = tmp_path / f"bad{i}.toml"
        cfg.write_text(SETTINGS + "[task]\n" + task)
        out = tmp_path / f"out{i}"
        assert main(["run", str(cfg), "--out", str(out)]) == 2, task
        err = capsys.readouterr().err
        assert f"Invalid config key '{key}'" in err and "Got" in err and detail in err, (task, err)
        assert not out.exists()


# ---------------------------------------------------------------------------- SHA-256 and sweeps
SWEEP = SETTINGS + """\
[task]
kind = "file"
path = "d.csv"
target = "y"
[sweep]
seeds = 1
[sweep.grid]
"train.lr" = [0.05]
"""


def test_sweep_refuses_to_resume_after_the_data_file_changed(tmp_path, capsys):
    data = _csv(tmp_path / "d.csv", ["a", "b", "c", "y"], _regression_rows(12))
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(SWEEP)
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert "1 done" in capsys.readouterr().out
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["data_sha256"] == {str(data): _sha(data)}
    assert main(["sweep", str(cfg), "--out", str(out), "--quiet"]) == 0  # same data: resumes (nothing to do)
    assert "1 skipped" in capsys.readouterr().out
    _csv(data, ["a", "b", "c", "y"], _regression_rows(12, seed=1))  # same config, other data
    assert main(["sweep", str(cfg), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "different sweep" in err and f"data file {data}" in err
    assert len(list((out / "points").iterdir())) == 1


def test_progress_key_is_not_hashed(tmp_path):
    _csv(tmp_path / "d.csv", ["a", "b", "c", "y"], _regression_rows(12))
    raw = json.loads(json.dumps(tomllib.loads(SWEEP)))
    plain = parse_sweep(raw, base_dir=tmp_path)
    quiet = parse_sweep({**raw, "progress": False}, base_dir=tmp_path)
    assert [p.hash for p in plain.points] == [p.hash for p in quiet.points]
    assert plain.signature() == quiet.signature() and quiet.points[0].config.progress is False
    assert config_hash(resolve_config({})) == config_hash(resolve_config({"progress": False}))
    with pytest.raises(ConfigError, match="Invalid config key 'progress'"):
        resolve_config({"progress": "no"})
    with pytest.raises(ConfigError, match="'progress'"):
        parse_sweep({**raw, "sweep": {"grid": {"progress": [True, False]}}}, base_dir=tmp_path)


def test_task_round_trips_and_checks_its_hash(tmp_path):
    path = _csv(tmp_path / "d.csv", ["a", "b", "c", "y"], _regression_rows(12))
    task = task_from_dict({"kind": "file", "path": str(path), "target": "y"})
    assert task_from_dict(task.to_dict()) == task
    stored = task.to_dict()
    _csv(path, ["a", "b", "c", "y"], _regression_rows(12, seed=3))
    with pytest.raises(ConfigError, match="'sha256' parameter of task 'file'.*changed"):
        task_from_dict(stored)  # a sweep worker re-resolving a point after the file changed


def test_sweep_runs_through_run_sweep_with_quiet_config(tmp_path, monkeypatch):
    """``progress = false`` in a sweep config turns the sweep bar off (progress=None)."""
    import memsim.workflows.sweeps as sweeps

    _csv(tmp_path / "d.csv", ["a", "b", "c", "y"], _regression_rows(12))
    seen = []
    monkeypatch.setattr(sweeps, "_pending", lambda sweep, out: [])  # no point runs: only the bar matters here
    monkeypatch.setattr(sweeps, "_bar", lambda total, progress: seen.append(progress))
    raw = tomllib.loads("progress = false\n" + SWEEP)
    outcome = run_sweep(parse_sweep(raw, base_dir=tmp_path), tmp_path / "out", collect=False)
    assert outcome.skipped == 1 and seen == []  # nothing pending: no bar at all
    monkeypatch.setattr(sweeps, "_pending", lambda sweep, out: list(sweep.points))
    monkeypatch.setattr(sweeps, "_execute", lambda todo, out, w, s, progress, log, replicas="auto":
                        (seen.append(progress), (0, []))[1])
    run_sweep(parse_sweep(raw, base_dir=tmp_path), tmp_path / "out", collect=False)
    assert seen == [False]


# ---------------------------------------------------------------------------- progress bars
class _Recorder:
    """Stands in for ``tqdm.auto.tqdm``: records every bar created."""

    bars = []

    def __init__(self, *args, **kwargs):
        self.kwargs = kwargs
        self.updates = 0
        _Recorder.bars.append(self)

    def update(self, n=1):
        self.updates += n

    def close(self):
        pass


@pytest.fixture
def recorder(monkeypatch):
    import tqdm.auto

    _Recorder.bars = []
    monkeypatch.setattr(tqdm.auto, "tqdm", _Recorder)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    return _Recorder.bars


SMALL = """\
seed = 1
backend = "numpy"
[task]
kind = "linear_regression"
n_train = 10
n_test = 10
n_features = 2
[train]
epochs = 2
"""


def test_progress_none_shows_a_tqdm_auto_bar_without_a_terminal(recorder):
    from memsim.workflows.run import run_summary

    assert not sys.stderr.isatty()
    run_summary(resolve_config(tomllib.loads(SMALL)), progress=None)
    assert len(recorder) == 1 and recorder[0].updates == 2 and recorder[0].kwargs["total"] == 2
    run_summary(resolve_config(tomllib.loads(SMALL)), progress=False)
    assert len(recorder) == 1


@pytest.mark.parametrize("quiet,config_progress,bars", [(False, None, 1), (True, None, 0), (False, False, 0),
                                                        (False, True, 1)])
def test_memsim_run_progress_switches(tmp_path, recorder, quiet, config_progress, bars):
    text = SMALL if config_progress is None else f"progress = {str(config_progress).lower()}\n" + SMALL
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    args = ["run", str(cfg), "--out", str(tmp_path / "out")] + (["--quiet"] if quiet else [])
    assert main(args) == 0
    assert len(recorder) == bars
