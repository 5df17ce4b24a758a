"""Nothing lost, nothing silent: the reliability suite.

The suite is four files: this one (the API's weak spots, an unreachable Dask scheduler, truncation reported
by a run), ``test_reliability_config.py`` (keep what was computed; fail before the compute; config weak
spots), ``test_reliability_outputs.py`` (run folders, sweep locks, processes, full disks) and
``test_reliability_physics.py`` (``max_pulses`` truncation counted on every backend, enormous requests).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from memsim import SoftBounds, Tile
from memsim.errors import ConfigError
from memsim.workflows.config import resolve_config
from memsim.workflows.run import run_summary


@pytest.mark.parametrize("shape", [(8,), (4, 1), (1, 8), (8, 4)])
def test_program_refuses_arrays_that_are_not_exactly_the_tile(shape):
    tile = Tile(4, 8, SoftBounds(), backend="numpy")
    with pytest.raises(ConfigError, match=r"'w' parameter of Tile.program must be a scalar or an array of shape "
                                          r"\(4, 8\)\. Got 'shape"):
        tile.program(np.zeros(shape))
    tile.program(0.25)  # a scalar programs every cell
    assert np.all(tile.weights == 0.25)
    tile.program(np.full((4, 8), -0.5))
    assert np.all(tile.weights == -0.5)


def test_complex_inputs_are_refused_not_cut_to_their_real_part():
    tile = Tile(2, 3, SoftBounds(), backend="numpy")
    with pytest.raises(ConfigError, match="'w' parameter of Tile.program must be real numbers"):
        tile.program(np.zeros((2, 3)) + 1j)
    with pytest.raises(ConfigError, match="'x' parameter of Tile must be real numbers"):
        tile.forward(np.ones(3) * (1 + 0j))
    with pytest.raises(ConfigError, match="'d' parameter of Tile must be real numbers"):
        tile.update(np.ones(3), np.ones(2) * 1j, lr=0.1)
    assert tile.step == 0 and np.all(tile.weights == 0)


def test_unreachable_dask_scheduler_is_one_line_within_the_timeout(monkeypatch):
    pytest.importorskip("distributed")
    from memsim.workflows import sweeps

    monkeypatch.setattr(sweeps, "SCHEDULER_TIMEOUT_S", 1.0)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"Dask scheduler 'tcp://127\.0\.0\.1:9' cannot be reached within 1 s"):
        with sweeps.executor(1, "tcp://127.0.0.1:9", log=lambda *a: None):
            pytest.fail("the executor should not open")
    assert time.perf_counter() - t0 < 15


def test_a_run_says_when_pulse_trains_were_cut_at_max_pulses():
    raw = {"seed": 1, "backend": "numba", "progress": False,
           "task": {"kind": "linear_regression", "n_train": 12, "n_test": 12, "n_features": 3},
           "device": {"kind": "soft_bounds", "dw_min": 1e-6}, "update": {"kind": "stochastic_rounding",
                                                                          "max_pulses": 50},
           "train": {"lr": 0.05, "epochs": 2}}
    summary, _ = run_summary(resolve_config(raw), progress=False)
    cut = [w for w in summary["regime_warnings"] if w.startswith("max_pulses:")]
    assert len(cut) == 1 and "were cut at max_pulses = 50" in cut[0]
    raw["device"]["dw_min"] = 0.01  # coarse steps: nothing is cut, nothing is said
    summary, _ = run_summary(resolve_config(raw), progress=False)
    assert not [w for w in summary["regime_warnings"] if w.startswith("max_pulses:")]


def test_run_refuses_a_full_disk_before_training(tmp_path, monkeypatch):
    """Free space for the run's outputs is checked before any compute, where the platform reports it."""
    import shutil
    from collections import namedtuple

    import memsim.workflows.run as run_module
    from memsim.cli import main

    config = tmp_path / "c.toml"
    config.write_text('backend = "numpy"\nprogress = false\n[task]\nkind = "linear_regression"\nn_train = 8\n'
                      'n_test = 8\nn_features = 2\n[train]\nepochs = 1\n')
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 1000, 1000))
    monkeypatch.setattr(run_module, "train", lambda *a, **k: pytest.fail("training started"))
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
