"""One model family, one trainer, one run path: a linear model is a one-layer network."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import memsim.models.train as train_module
from memsim import SoftBounds
from memsim.models.config import TrainConfig
from memsim.models.mlp import AnalogMLP
from memsim.models.train import train
from memsim.physics.periphery import Periphery
from memsim.tasks import DigitsTask, LinearRegressionTask
from memsim.workflows.config import resolve_config
from memsim.workflows.run import run_summary

DEVICE = SoftBounds(dw_min=0.002, dw_min_std=0.3, up_down=0.1)


@pytest.mark.parametrize("batch_size,accumulate", [(1, False), (3, False), (3, True)])
def test_fused_and_step_paths_are_bit_identical(batch_size, accumulate, monkeypatch):
    """The trainer's compiled path for one tile (MSE, no periphery) reproduces its step-by-step path.

    Per sample the two agree bit for bit. With mini-batches the step path reads the batch through
    ``Tile.forward`` (a BLAS product) where the kernel takes sequential float64 dot products, so the
    recorded ``|Delta|/lr`` sums may differ in the last bits (1e-12 relative); pulses and weights do not
    here (a rounding difference could move a pulse only if it straddled a rounding threshold).
    """
    data = LinearRegressionTask(n_train=20, n_test=30, n_features=4).load(2)
    config = TrainConfig(lr=0.02, epochs=3, batch_size=batch_size, accumulate=accumulate, average_from=0.4,
                         lr_schedule="step", lr_step_epochs=(2,), init_std=0.1)

    def fit():
        model = AnalogMLP([4, 1], device=DEVICE, bias=True, seed=5)
        return train(model, data, config, seed=5, loss="mse", progress=False)

    fused = fit()
    monkeypatch.setattr(train_module, "_fused", lambda model, loss: False)
    monkeypatch.setattr(train_module, "_fused_network", lambda model: False)
    step = fit()
    assert (fused.path, step.path) == ("fused", "step")
    np.testing.assert_array_equal(fused.weights_final[0], step.weights_final[0])
    for key in ("pulses_up", "pulses_down"):
        np.testing.assert_array_equal(fused.statistics[0][key], step.statistics[0][key])
    for key in ("weights_mean", "sum_abs_grad", "sum_abs_grad_w"):
        if batch_size == 1:
            np.testing.assert_array_equal(fused.statistics[0][key], step.statistics[0][key])
        else:
            np.testing.assert_allclose(fused.statistics[0][key], step.statistics[0][key], rtol=1e-12, atol=0)
    assert fused.curves == step.curves


def test_the_fused_path_runs_every_plain_network_on_numba_and_the_step_path_the_reference():
    data = LinearRegressionTask(n_train=10, n_test=10, n_features=3).load(1)
    cfg = TrainConfig(lr=0.01, epochs=2)
    for backend, path in (("numba", "fused"), ("numpy", "step")):
        noisy = AnalogMLP([3, 1], device=DEVICE, periphery=Periphery(output_noise=0.01), seed=1, backend=backend)
        tiled = AnalogMLP([3, 1], device=DEVICE, max_tile_size=2, seed=1, backend=backend)
        deep = AnalogMLP([3, 2, 1], device=DEVICE, seed=1, backend=backend)
        for model in (noisy, tiled, deep):
            assert train(model, data, cfg, seed=1, loss="mse", progress=False).path == path


def test_zero_shift_works_for_every_layer():
    """Every tile of every layer is referenced at its cells' symmetry point; the effective weights start at 0."""
    model = AnalogMLP([3, 4, 2], device=DEVICE, zero_shift=True, seed=2, max_tile_size=3)
    assert all(t.zero_shift for t in model.tiles) and len(model.tiles) > 2
    assert all(np.any(t.reference != 0) for t in model.tiles)
    model.program([np.zeros((4, 4)), np.zeros((2, 5))])
    assert all(np.all(W == 0) for W in model.weights)
    raw = {"seed": 1, "task": {"kind": "digits", "test_fraction": 0.5}, "device": {"kind": "soft_bounds", "up_down": 0.1},
           "model": {"kind": "mlp", "hidden": [4], "zero_shift": True}, "train": {"lr": 0.05, "epochs": 1}}
    summary, _ = run_summary(resolve_config(raw), progress=False)
    assert summary["training_path"] == "fused" and summary["provenance"]["config"]["model"]["zero_shift"] is True


def test_one_run_path_reports_the_training_path():
    linear = {"seed": 1, "task": {"kind": "linear_regression", "n_train": 20, "n_test": 20, "n_features": 3},
              "train": {"lr": 0.01, "epochs": 2}}
    assert run_summary(resolve_config(linear), progress=False)[0]["training_path"] == "fused"
    classifier = {"seed": 1, "task": {"kind": "digits", "test_fraction": 0.5}, "train": {"lr": 0.01, "epochs": 1}}
    summary, _ = run_summary(resolve_config(classifier), progress=False)
    assert summary["training_path"] == "fused" and summary["layer_sizes"] == [64, 10]
    classifier["backend"] = "numpy"
    assert run_summary(resolve_config(classifier), progress=False)[0]["training_path"] == "step"
    assert DigitsTask().n_classes == 10


def test_reading_a_config_does_not_load_the_crossbar():
    code = ("import sys, memsim.workflows.config as c; c.load_config('experiments/readme_example/config.toml'); "
            "print(sorted(m for m in sys.modules if m.startswith(('memsim.models.tile', 'memsim.backends', 'numba'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
