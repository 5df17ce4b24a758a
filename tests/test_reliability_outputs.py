"""Nothing lost, nothing silent: one sweep per folder (lock), worker processes die with their sweep,
collect cleans up and names a full disk, ``memsim run`` publishes a whole folder or nothing."""

import errno
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from memsim.cli import main
from memsim.workflows.outputs import LOCK_NAME, OutputError, folder_lock
from memsim.workflows.sweeps import POINTS_DIR, RESULTS_NC

xr = pytest.importorskip("xarray")
psutil = pytest.importorskip("psutil")
from memsim.workflows.results import TIMING_VARIABLES, open_results  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

BASE = """\
seed = 5
backend = "numpy"
progress = false
[task]
kind = "linear_regression"
n_train = 12
n_test = 12
n_features = 2
[train]
lr = 0.01
epochs = 1
"""
SWEEP = BASE + '[sweep]\nseeds = 1\n[sweep.grid]\n"device.dw_min_std" = [0.0, 0.5]\n'
OTHER = BASE + '[sweep]\nseeds = 1\n[sweep.grid]\n"device.dw_min_std" = [0.1, 0.2, 0.3]\n'
#: Points that run for minutes: a sweep of them is always mid-point when killed.
LONG = SWEEP.replace("n_train = 12", "n_train = 400").replace("epochs = 1", "epochs = 100000")

#: A sweep whose pinning is slow (before and after the check): two launches overlap for sure.
SLOW_PIN = """\
import sys, time
import memsim.workflows.sweeps as s
_pin = s._pin
def slow(*args):
    time.sleep(1.0)
    _pin(*args)
    time.sleep(1.0)
s._pin = slow
from memsim.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _toml(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _cli(*args, wrapper=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-c", wrapper] if wrapper else [sys.executable, "-m", "memsim.cli"]
    return subprocess.Popen(cmd + [str(a) for a in args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _data(path):
    return open_results(path).drop_vars(list(TIMING_VARIABLES))


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny sweep (2 points, in this process, 1 worker)."""
    tmp = tmp_path_factory.mktemp("finished")
    assert main(["sweep", str(_toml(tmp, SWEEP)), "--out", str(tmp / "out"), "--workers", "1", "--quiet"]) == 0
    return tmp / "out"


# --- A: one sweep per folder -------------------------------------------------------------------------

def test_two_different_sweeps_at_once_exactly_one_proceeds(tmp_path):
    out = tmp_path / "out"
    a = _cli("sweep", _toml(tmp_path, SWEEP, "a.toml"), "--out", out, "--workers", 1, "--quiet", wrapper=SLOW_PIN)
    b = _cli("sweep", _toml(tmp_path, OTHER, "b.toml"), "--out", out, "--workers", 1, "--quiet", wrapper=SLOW_PIN)
    results = {p.pid: (p,) + p.communicate(timeout=120) for p in (a, b)}
    codes = sorted(p.returncode for p, _, _ in results.values())
    assert codes == [0, 2], results
    (winner, _, _), = [r for r in results.values() if r[0].returncode == 0]
    (loser, _, err), = [r for r in results.values() if r[0].returncode == 2]
    assert "in use by another memsim sweep" in err, err
    assert f"PID {winner.pid} on host {socket.gethostname()}" in err, err
    ds = open_results(out / RESULTS_NC)  # one sweep's grid, not a mix
    assert ds.sizes["device.dw_min_std"] == (2 if winner is a else 3)
    assert set(ds["status"].values.ravel()) == {"done"}
    assert not (out / LOCK_NAME).exists()  # released on exit


def test_held_lock_refuses_a_second_sweep_and_collect(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out):
        assert main(["sweep", str(_toml(tmp_path, SWEEP)), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"PID {os.getpid()} on host {socket.gethostname()}" in err
        assert not (out / "sweep.json").exists()  # refused before touching the folder


def test_a_refused_process_waits_for_the_owner_to_write_its_pid(tmp_path, monkeypatch):
    """The owner writes its PID and host just after taking the lock; a process refused in that instant
    waits for them (bounded) instead of naming "PID ?" (a race two sweeps started together once hit)."""
    import fcntl
    import threading

    import memsim.workflows.outputs as outputs

    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, nothing written yet
    try:
        late = threading.Timer(0.2, lambda: os.pwrite(fd, json.dumps({"pid": 4321, "host": "elsewhere",
                                                                       "what": "sweep"}).encode(), 0))
        late.start()
        with pytest.raises(OutputError, match="PID 4321 on host elsewhere"):
            with folder_lock(out):
                pass
        late.join()
        os.ftruncate(fd, 0)  # an owner that never writes: the wait is bounded
        monkeypatch.setattr(outputs, "HOLDER_WAIT_S", 0.05)
        with pytest.raises(OutputError, match=r"PID \? on host \?"):
            with folder_lock(out):
                pass
    finally:
        os.close(fd)


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    pid = _dead_pid()
    (out / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "what": "sweep"}))
    assert main(["sweep", str(_toml(tmp_path, SWEEP)), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "stale lock" in printed and f"PID {pid}" in printed and "no longer running" in printed
    assert (out / RESULTS_NC).exists() and not (out / LOCK_NAME).exists()


def test_collect_removes_its_temporary_files_on_any_exit(tmp_path, finished, monkeypatch, capsys):
    leftover = finished / f".{RESULTS_NC}.k1ll3d.tmp"  # what a SIGKILL during an earlier collect left
    leftover.write_bytes(b"CDF partial")
    assert main(["sweep", "--collect", str(finished)]) == 0
    assert not leftover.exists()

    def dies(self, path, *args, **kwargs):
        pathlib.Path(path).write_bytes(b"CDF partial")
        raise RuntimeError("writer crashed")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", dies)
    before = (finished / RESULTS_NC).read_bytes()
    with pytest.raises(RuntimeError):
        main(["sweep", "--collect", str(finished)])
    assert (finished / RESULTS_NC).read_bytes() == before
    assert not [p.name for p in finished.iterdir() if p.name.endswith(".tmp")]
    assert not (finished / LOCK_NAME).exists()


def test_full_disk_during_collect_says_what_and_how_to_resume(tmp_path, finished, monkeypatch, capsys):
    def full(self, path, *args, **kwargs):
        pathlib.Path(path).write_bytes(b"CDF part")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full)
    assert main(["sweep", "--collect", str(finished)]) == 2
    err = capsys.readouterr().err
    assert "No space left" in err and RESULTS_NC in err and "re-run the same command" in err, err
    assert not [p.name for p in finished.iterdir() if p.name.endswith(".tmp")]


# --- B: worker processes end with their sweep --------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_sweep_ends_its_pool_workers(tmp_path, sig):
    out = tmp_path / "out"
    proc = _cli("sweep", _toml(tmp_path, LONG), "--out", out, "--workers", 2, "--quiet")
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline:  # the forkserver and two workers, busy with a point each
        workers = parent.children(recursive=True)
        if len(workers) >= 3 and sum(w.cpu_percent(0.05) > 0 for w in workers) >= 2:
            break
        time.sleep(0.1)
    assert len(workers) >= 3, workers
    os.kill(proc.pid, sig)  # the parent only (not its process group)
    proc.communicate(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"workers still running 5 s after {sig!r} of the sweep: {alive}"
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
        assert not (out / LOCK_NAME).exists()


def test_a_dask_worker_killed_mid_sweep_costs_only_its_points(tmp_path, finished):
    distributed = pytest.importorskip("distributed")
    from memsim.workflows.sweeps import load_sweep, run_sweep

    slow = SWEEP.replace("n_train = 12", "n_train = 40").replace("epochs = 1", "epochs = 6")
    slow = slow.replace('[0.0, 0.5]', '[0.0, 0.5, 1.0, 1.5]').replace("seeds = 1", "seeds = 2")
    config = _toml(tmp_path, slow)
    ref = run_sweep(load_sweep(config), tmp_path / "ref", workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        import threading

        victim = next(iter(cluster.workers.values())).process.process.pid
        out = tmp_path / "out"

        def kill_mid_sweep():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if (out / POINTS_DIR).exists() and len(list((out / POINTS_DIR).glob("*.json"))) >= 2:
                    break
                time.sleep(0.02)
            os.kill(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill_mid_sweep)
        killer.start()
        outcome = run_sweep(load_sweep(config), out, scheduler=cluster.scheduler_address, progress=False)
        killer.join()
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE
    assert (outcome.done, outcome.failed) == (8, 0)
    xr.testing.assert_equal(_data(outcome.results), _data(ref.results))


# --- C: memsim run publishes a whole folder ----------------------------------------------------------

RUN = BASE
MLP = BASE.replace('kind = "linear_regression"', 'kind = "teacher_classification"\nn_classes = 3') + \
    '[model]\nkind = "mlp"\nhidden = [3]\n'


def _listing(folder):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


def test_run_twice_with_the_same_config_replaces_its_own_folder(tmp_path):
    cfg, out = _toml(tmp_path, RUN, "c.toml"), tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    first = json.loads((out / "summary.json").read_text())
    assert first["provenance"]["config_hash"]
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["provenance"]["config_hash"] == \
        first["provenance"]["config_hash"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_run_of_a_different_config_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(_toml(tmp_path, MLP, "mlp.toml")), "--out", str(out), "--quiet"]) == 0
    assert {"weights.npz", "lambda.png"} <= {p.name for p in out.iterdir()}
    before = _listing(out)
    linear = _toml(tmp_path, RUN, "linear.toml")
    assert main(["run", str(linear), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "different config" in err and "model.kind" in err, err
    assert _listing(out) == before  # nothing changed
    assert main(["run", str(linear), "--out", str(out), "--quiet", "--overwrite"]) == 0
    names = {p.name for p in out.iterdir()}
    assert "weights.npz" not in names and "lambda.png" not in names  # no stale file of the MLP run
    assert json.loads((out / "summary.json").read_text())["provenance"]["config"]["model"]["kind"] == "linear"


def test_run_into_a_folder_with_foreign_files_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "my_notes.txt").write_text("keep me")
    cfg = _toml(tmp_path, RUN, "c.toml")
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
    assert "my_notes.txt" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["my_notes.txt"]
    assert main(["run", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    (tmp_path / "run" / "my_notes.txt").write_text("keep me")  # beside a memsim run: still refused
    assert main(["run", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "my_notes.txt" in capsys.readouterr().err
    assert (tmp_path / "run" / "my_notes.txt").read_text() == "keep me"


def test_out_checks_happen_before_training(tmp_path, monkeypatch, capsys):
    from memsim.workflows import run as runner

    def never(*args, **kwargs):
        raise AssertionError("trained although --out is unusable")

    monkeypatch.setattr(runner, "run_summary", never)
    cfg = _toml(tmp_path, RUN, "c.toml")
    assert main(["run", str(cfg), "--out", str(cfg), "--quiet"]) == 2  # an existing file
    assert "existing file" in capsys.readouterr().err
    assert main(["run", str(cfg), "--out", str(cfg / "sub"), "--quiet", "--overwrite"]) == 2  # parent is a file
    assert "is a file" in capsys.readouterr().err


def test_an_interrupted_run_leaves_the_previous_folder_whole(tmp_path, monkeypatch):
    from memsim.workflows import run as runner

    cfg, out = _toml(tmp_path, RUN, "c.toml"), tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    before = _listing(out)

    def killed(*args, **kwargs):  # a kill arriving after the figures, before summary.json
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "write_json_atomic", killed)
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 130
    assert _listing(out) == before  # the old set, untouched: no new figure beside the old summary
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
