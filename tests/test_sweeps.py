"""Sweeps: grid expansion and seeds, resume after SIGKILL, Dask parity, failures, atomic files, results.nc."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from memsim.cli import main
from memsim.errors import ConfigError
from memsim.workflows.io import write_json_atomic
from memsim.workflows.sweeps import (POINTS_DIR, RESULTS_NC, parse_sweep, point_path, run_point, run_sweep, sweep_seeds)

xr = pytest.importorskip("xarray")
from memsim.workflows.results import TIMING_VARIABLES, build_dataset, collect, open_results, save_dataset  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

BASE = """\
seed = 7
backend = "numba"
[task]
kind = "linear_regression"
n_train = 30
n_test = 50
n_features = 4
[device]
kind = "soft_bounds"
w_max = 1.0
w_min = -1.0
dw_min = 0.01
dw_min_std = 0.3
[train]
lr = 0.01
epochs = 4
"""

SWEEP = BASE + """\
[sweep]
seeds = 3
[sweep.grid]
"device.dw_min_std" = [0.0, 1.0]
[sweep.zip.range]
"device.w_max" = [0.5, 1.0]
"device.w_min" = [-0.5, -1.0]
"""


def _toml(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _raw(text):
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def _cli(*args, wrapper=None, **kwargs):
    """``python -m memsim.cli ARGS`` (or ``python -c WRAPPER ARGS``) in a fresh process group."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-c", wrapper] if wrapper else [sys.executable, "-m", "memsim.cli"]
    return subprocess.Popen(cmd + [str(a) for a in args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def _data(path):
    return open_results(path).drop_vars(list(TIMING_VARIABLES))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sweep through the command line (local process pool, 2 workers)."""
    tmp = tmp_path_factory.mktemp("reference")
    config = _toml(tmp, SWEEP)
    proc = _cli("sweep", config, "--out", tmp / "out", "--workers", 2)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "12 points: 12 done, 0 failed, 0 skipped" in out
    return config, tmp / "out"


# --- grid, seeds, hashes ---------------------------------------------------------------------------

def test_seeds_are_common_random_numbers():
    children = np.random.SeedSequence(7).spawn(3)
    expected = [int(c.generate_state(1, np.uint64)[0]) & ((1 << 63) - 1) for c in children]
    assert list(sweep_seeds(7, 3)) == expected
    sweep = parse_sweep(_raw(SWEEP))
    assert sweep.shape == (2, 2, 3) and len(sweep.points) == 12
    for p in sweep.points:  # seed index k -> the same run seed at every grid point
        assert p.seed == expected[p.seed_index] == p.config.seed
    assert len({p.hash for p in sweep.points}) == 12
    assert parse_sweep(_raw(SWEEP)).signature() == sweep.signature()  # deterministic


def test_grid_zip_and_points_expand():
    text = BASE + """\
[sweep]
seeds = 2
[sweep.grid]
"train.lr" = [0.01, 0.02]
[sweep.zip.range]
"device.w_max" = [0.5, 2.0]
"device.w_min" = [-0.5, -2.0]
[[sweep.points]]
"task.n_train" = 20
"train.epochs" = 3
[[sweep.points]]
"task.n_train" = 30
"train.epochs" = 5
"""
    sweep = parse_sweep(_raw(text))
    assert [d.name for d in sweep.dims] == ["train.lr", "range", "point"]
    assert sweep.shape == (2, 2, 2, 2)
    p = next(p for p in sweep.points if p.index == (1, 1, 0, 1))
    c = p.config
    assert (c.train.lr, c.device.w_max, c.device.w_min, c.task.n_train, c.train.epochs) == (0.02, 2.0, -2.0, 20, 3)


@pytest.mark.parametrize("table, key", [
    ('[sweep.grid]\n"device.foo" = [1.0]', "device.foo"),
    ('[sweep.grid]\n"device.w_max" = []', "device.w_max"),
    ('[sweep.grid]\n"device.dw_min" = [0.01, -0.1]', "dw_min"),
    ('[sweep.grid]\n"devices.w_max" = [1.0]', "devices.w_max"),
    ('[sweep.grid]\n"device.w_max" = [1.0, 1.0]', "device.w_max"),
    ('[sweep.grid]\n"seed" = [1, 2]', "seed"),
    ('[sweep.zip.r]\n"device.w_max" = [0.5, 1.0]\n"device.w_min" = [-0.5]', "device.w_min"),
    ('[sweep]\nseeds = 0', "seeds"),
    ('[sweep]\ngird = 1', "gird"),
    ('[sweep.grid]\n"device.w_max" = [0.5]\n[sweep.zip.r]\n"device.w_max" = [1.0]', "device.w_max"),
])
def test_config_errors_fail_before_any_point_runs(tmp_path, capsys, table, key):
    config = _toml(tmp_path, BASE + table + "\n")
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"'{key}'" in err, err
    assert not out.exists()  # nothing ran, nothing was written
    with pytest.raises(ConfigError):
        parse_sweep(_raw(BASE + table + "\n"))


def test_no_sweep_table_is_refused():
    with pytest.raises(ConfigError, match="'sweep'"):
        parse_sweep(_raw(BASE))


# --- one point ---------------------------------------------------------------------------------

def test_run_point_records_failures_and_keeps_nan_metrics(monkeypatch):
    from memsim.workflows import run as runner

    config = parse_sweep(_raw(SWEEP)).points[0].config.to_dict()
    real = runner.run_summary

    def nan_metrics(cfg, progress=None):
        summary, arrays = real(cfg, progress)
        summary.update(lambda_fit_test_loss=float("nan"), regime_warnings=["pinned: injected"])
        return summary, arrays

    monkeypatch.setattr(runner, "run_summary", nan_metrics)
    rec = run_point(config)
    assert rec["status"] == "done" and rec["summary"]["lambda_fit_test_loss"] is None  # NaN metric, regime warning: ok

    def diverged(cfg, progress=None):
        summary, arrays = real(cfg, progress)
        summary["weights_mean"] = summary["weights_mean"] * np.nan
        return summary, arrays

    monkeypatch.setattr(runner, "run_summary", diverged)
    rec = run_point(config)
    assert rec["status"] == "failed" and "non-finite" in rec["error"] and "weights_mean" in rec["error"]

    def raises(cfg, progress=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "run_summary", raises)
    rec = run_point(config)
    assert rec["status"] == "failed" and rec["error"] == "RuntimeError: boom" and "Traceback" in rec["traceback"]


def test_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    # average_from = 0.9999 passes validation but leaves no update in the window: fails at run time.
    raw = _raw(BASE + '[sweep]\nseeds = 2\n[sweep.grid]\n"train.average_from" = [0.5, 0.9999]\n')
    outcome = run_sweep(raw, tmp_path / "out", workers=1, progress=False)
    assert (outcome.total, outcome.done, outcome.failed, outcome.skipped) == (4, 2, 2, 0)
    ds = open_results(outcome.results)
    bad = ds.sel({"train.average_from": 0.9999})
    assert list(bad["status"].values) == ["failed", "failed"]
    assert all("average_from" in e for e in bad["error"].values)
    assert np.all(np.isnan(bad["lambda_fit"])) and np.all(np.isnan(bad["weights_mean"]))
    good = ds.sel({"train.average_from": 0.5})
    assert list(good["error"].values) == ["", ""] and np.all(np.isfinite(good["lambda_fit"]))
    failed_files = list((tmp_path / "out" / POINTS_DIR).glob("*.failed.json"))
    assert len(failed_files) == 2
    assert "Traceback" in json.loads(failed_files[0].read_text())["traceback"]
    # a re-run skips the finished points and retries the failed ones
    again = run_sweep(raw, tmp_path / "out", workers=1, progress=False)
    assert (again.done, again.failed, again.skipped) == (0, 2, 2)


# --- resume, Dask, changed config --------------------------------------------------------------

SLOW_STORE = """\
import sys, time
import memsim.workflows.sweeps as s
_store = s._store
def slow(*args):
    _store(*args)
    time.sleep(0.3)
s._store = slow
from memsim.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _point_files(out):
    return {p.name: p.stat().st_mtime_ns for p in (out / POINTS_DIR).glob("*.json") if not p.name.startswith(".")}


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, reference):
    config, ref = reference
    out = tmp_path / "out"
    # The parent writes every point; slowing its writes down leaves a window to kill it mid-sweep.
    proc = _cli("sweep", config, "--out", out, "--workers", 2, wrapper=SLOW_STORE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_point_files(out) if (out / POINTS_DIR).exists() else {}) < 4:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, as a crash would
    proc.communicate()
    before = _point_files(out)
    assert 4 <= len(before) < 12, before
    assert not (out / RESULTS_NC).exists()

    proc = _cli("sweep", config, "--out", out, "--workers", 2)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"12 points: {12 - len(before)} done, 0 failed, {len(before)} skipped" in stdout
    after = _point_files(out)
    assert len(after) == 12
    assert {k: after[k] for k in before} == before  # finished points were not recomputed
    xr.testing.assert_equal(_data(out / RESULTS_NC), _data(ref / RESULTS_NC))


def test_dask_local_cluster_matches_process_pool(tmp_path, reference):
    pytest.importorskip("distributed")
    config, ref = reference
    proc = _cli("sweep", config, "--out", tmp_path / "out", "--workers", 2, "--scheduler", "local")
    stdout, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "dashboard: http://127.0.0.1:" in stdout
    xr.testing.assert_equal(_data(tmp_path / "out" / RESULTS_NC), _data(ref / RESULTS_NC))


def test_changed_config_in_same_folder_is_refused(tmp_path, reference, capsys):
    config, ref = reference
    out = tmp_path / "copy"
    out.mkdir()
    (out / "sweep.json").write_text((ref / "sweep.json").read_text())
    changed = _toml(tmp_path, SWEEP.replace("[0.0, 1.0]", "[0.0, 2.0]"))
    assert main(["sweep", str(changed), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different sweep" in err and "dw_min_std" in err
    assert not (out / POINTS_DIR).exists()


def test_collect_and_report_from_the_command_line(tmp_path, reference, capsys):
    _, ref = reference
    assert main(["sweep", "--collect", str(ref)]) == 0
    ds = open_results(ref / RESULTS_NC)
    assert ds.sizes["device.dw_min_std"] == 2 and ds.sizes["range"] == 2 and ds.sizes["seed"] == 3
    assert list(ds["device.w_min"].values) == [-0.5, -1.0] and ds["device.w_min"].dims == ("range",)
    assert list(ds["seed_value"].values) == list(sweep_seeds(7, 3))
    assert ds["weights_mean"].dims[-1] == "weight" and ds.sizes["weight"] == 4
    assert ds["test_loss"].dims[-1] == "epoch" and list(ds["epoch"].values) == [1, 2, 3, 4]
    assert set(ds["status"].values.ravel()) == {"done"}
    attrs = {k: json.loads(ds.attrs[k]) for k in ("sweep_config", "provenance")}
    assert attrs["sweep_config"]["sweep"]["seeds"] == 3 and attrs["provenance"]["n_done"] == 12
    report = tmp_path / "report"
    assert main(["report", str(ref), "--out", str(report)]) == 0
    names = {p.name for p in report.iterdir()}
    assert {"lambda_fit_vs_lambda_pred.png", "hardware_vs_ridge.png", "test_loss_vs_range.png",
            "test_loss_vs_device_dw_min_std.png", "summary.md"} <= names
    assert "| grid point |" in (report / "summary.md").read_text()


# --- atomic files and collection --------------------------------------------------------------

def test_atomic_json_writer_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "points" / "abc.json"
    write_json_atomic(target, {"status": "done"})

    def dies_halfway(obj, fh, **kw):
        fh.write('{"status": "do')
        fh.flush()
        raise KeyboardInterrupt  # a kill arriving during the write

    monkeypatch.setattr(json, "dump", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(target, {"status": "failed"})
    assert json.loads(target.read_text()) == {"status": "done"}  # old content intact
    assert [p.name for p in target.parent.iterdir()] == ["abc.json"]  # no temporary file left


def test_collect_ignores_temporary_files(tmp_path, reference):
    _, ref = reference
    out = tmp_path / "out"
    (out / POINTS_DIR).mkdir(parents=True)
    (out / "sweep.json").write_text((ref / "sweep.json").read_text())
    manifest = json.loads((ref / "sweep.json").read_text())
    first, second = manifest["points"][0]["hash"], manifest["points"][1]["hash"]
    src = point_path(ref, first)
    (out / POINTS_DIR / src.name).write_text(src.read_text())
    # what a SIGKILL during a write leaves behind: a partial temporary file next to the final name
    partial = point_path(ref, second).read_text()[:100]
    (out / POINTS_DIR / f".{second}.json.x1y2.tmp").write_text(partial)
    ds = collect(out)
    status = ds["status"].values.ravel()
    assert list(status).count("done") == 1 and list(status).count("missing") == 11
    assert np.isfinite(ds["lambda_fit"].values.ravel()[0]) and np.isnan(ds["lambda_fit"].values.ravel()[1])


def test_save_dataset_is_atomic(tmp_path, reference, monkeypatch):
    _, ref = reference
    ds = open_results(ref / RESULTS_NC)
    path = tmp_path / RESULTS_NC
    save_dataset(ds, path)
    before = path.read_bytes()

    def dies(self, *args, **kwargs):
        pathlib.Path(args[0]).write_bytes(b"CDF partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(ds), "to_netcdf", dies)
    with pytest.raises(KeyboardInterrupt):
        save_dataset(ds, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [RESULTS_NC]


def test_build_dataset_nulls_failures_and_missing_points():
    manifest = {"config": {}, "seeds": [11, 12],
                "dims": [{"name": "device.w_max", "kind": "grid", "keys": ["device.w_max"], "values": [[0.5], [1.0]]}],
                "points": [{"hash": f"h{i}{k}", "index": [i, k]} for i in range(2) for k in range(2)]}
    summary = {"lambda_fit": None, "test_loss_final": 1.5, "weights_mean": [0.1, None, 0.3],
               "weights_var": [[0.01, 0.02, 0.03]], "regime_warnings": ["a", "b"],
               "curves": {"epoch": [1, 2], "train_loss": [2.0, 1.0], "test_loss": [3.0, None]},
               "provenance": {"backend": "numba", "wall_time_s": 0.1}}
    records = [{"status": "done", "summary": summary, "wall_time_s": 0.2},
               {"status": "failed", "error": "RuntimeError: boom", "traceback": "..."}, None,
               {"status": "done", "summary": {**summary, "lambda_fit": 0.7}}]
    ds = build_dataset(manifest, records)
    assert ds["lambda_fit"].dims == ("device.w_max", "seed")
    np.testing.assert_array_equal(ds["lambda_fit"].values, [[np.nan, np.nan], [np.nan, 0.7]])
    np.testing.assert_array_equal(ds["weights_mean"].values[0, 0], [0.1, np.nan, 0.3])
    np.testing.assert_array_equal(ds["weights_var"].values[1, 1], [0.01, 0.02, 0.03])
    np.testing.assert_array_equal(ds["test_loss"].values[0, 0], [3.0, np.nan])
    assert ds["status"].values.tolist() == [["done", "failed"], ["missing", "done"]]
    assert ds["error"].values.tolist() == [["", "RuntimeError: boom"], ["", ""]]
    assert ds["regime_warnings"].values[0, 0] == "a\nb"
    assert ds["seed_value"].values.tolist() == [11, 12]


MLP_SWEEP = """\
seed = 3
backend = "numba"
[task]
kind = "digits"
test_fraction = 0.5
[model]
kind = "mlp"
hidden = [6]
[device]
kind = "soft_bounds"
dw_min = 0.01
dw_min_std = 0.3
[train]
lr = 0.05
epochs = 2
[sweep]
seeds = 2
[sweep.grid]
"device.dw_min_std" = [0.0, 0.3]
"train.lr" = [0.02, 0.05]
"""


def test_replica_batches_change_no_result(tmp_path):
    """The same sweep point by point (--replicas 1) and as replica batches (auto): identical data variables."""
    import memsim.workflows.sweeps as sweeps

    raw = _raw(MLP_SWEEP)
    assert [len(b) for b in sweeps.replica_batches(parse_sweep(raw).points, "auto", workers=1)] == [8]  # one shape
    assert [len(b) for b in sweeps.replica_batches(parse_sweep(raw).points, 3, workers=1)] == [3, 3, 2]
    assert [len(b) for b in sweeps.replica_batches(parse_sweep(raw).points, "auto", workers=3)] == [3, 3, 2]
    alone = run_sweep(raw, tmp_path / "alone", workers=1, progress=False, replicas=1)
    together = run_sweep(raw, tmp_path / "together", workers=1, progress=False, replicas="auto")
    assert alone.done == together.done == 8
    xr.testing.assert_equal(_data(tmp_path / "alone" / RESULTS_NC), _data(tmp_path / "together" / RESULTS_NC))
    records = [json.loads(p.read_text()) for p in (tmp_path / "together" / POINTS_DIR).glob("*.json")]
    assert all(r["summary"]["training_path"] == "fused" for r in records)
    assert len({r["wall_time_s"] for r in records}) == 1  # one batch: its wall time shared by its points
    records = [json.loads(p.read_text()) for p in (tmp_path / "alone" / POINTS_DIR).glob("*.json")]
    assert len({r["wall_time_s"] for r in records}) == 8
