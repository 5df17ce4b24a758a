"""The command line: memsim run (good and bad configs), memsim demo --smoke."""

import json
import subprocess
import sys

import pytest

from memsim.cli import main

SMALL = """
seed = 3
backend = "numba"
[task]
kind = "linear_regression"
n_train = 40
n_test = 100
n_features = 4
[device]
kind = "soft_bounds"
dw_min = 0.002
dw_min_std = 0.3
[train]
lr = 0.01
epochs = 5
"""

REQUIRED = ["lambda_fit", "ridge_path_distance", "lambda_pred", "lambda_pred_per_weight", "lambda_plugin",
            "tikhonov_pred_distance", "lambda_fit_test_loss", "weights_final", "weights_mean", "w_pred",
            "test_loss_final", "test_loss_mean_weights", "ridge_test_loss_at_lambda_fit", "ols_test_loss",
            "curves", "regime_warnings", "pulses_up", "pulses_down", "provenance"]


def test_run_writes_summary_and_figures(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert all(k in summary for k in REQUIRED)
    prov = summary["provenance"]
    assert prov["seed"] == 3 and prov["backend"] == "numba" and prov["dtype"] == "float64"
    assert prov["config"]["device"]["w_min"] == -1.0 and prov["config"]["train"]["average_from"] == 0.5
    assert len(summary["curves"]["test_loss"]) == 5
    for name in ("curves.png", "weights.png", "ridge.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("edit,key", [
    (('dw_min = 0.002', 'dw_min = -0.002'), "device.dw_min"),
    (('epochs = 5', 'epochs = 5\nepoch = 3'), "train.epoch"),
    (('kind = "soft_bounds"', 'kind = "memristor"'), "device.kind"),
    (('n_features = 4', 'n_features = 0'), "task.n_features"),
    (('seed = 3', 'seed = 3\nbackends = "numba"'), "backends"),
    (('lr = 0.01', 'lr = "fast"'), "train.lr"),
    (('dw_min_std = 0.3', 'dw_min_std = 0.3\nc2c_mode = "gauss"'), "device.c2c_mode"),
])
def test_bad_config_names_the_key_and_writes_nothing(tmp_path, capsys, edit, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(SMALL.replace(*edit))
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"'{key}'" in err and "Got" in err
    assert not out.exists()


def test_console_script_exit_code(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[device]\nkind = 'soft_bounds'\nw_max = -1.0\n")
    proc = subprocess.run([sys.executable, "-m", "memsim.cli", "run", str(cfg), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "'device.w_max'" in proc.stderr


def test_demo_smoke_writes_figures(tmp_path, capsys):
    assert main(["demo", "--smoke", "--out", str(tmp_path)]) == 0
    for name in ("hardware_vs_ridge.png", "lambda_fit_vs_pred.png", "noise.png", "demo.md", "demo.json"):
        assert (tmp_path / name).stat().st_size > 500
    records = json.loads((tmp_path / "demo.json").read_text())
    assert {r["group"] for r in records} == {"range", "noise", "control"}
    assert str(tmp_path) in capsys.readouterr().out


def test_run_with_a_periphery_section(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL + "[periphery]\noutput_noise = 0.05\n[periphery.adc]\nbits = 8\nbound = 4.0\n")
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    prov = json.loads((tmp_path / "out" / "summary.json").read_text())["provenance"]
    assert prov["config"]["periphery"]["adc"] == {"bits": 8, "bound": 4.0}
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL + "[periphery]\nread_noise = 0.05\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "o2")]) == 2


def test_run_with_zero_shift(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL.replace("dw_min_std = 0.3", "dw_min_std = 0.3\nup_down = 0.3") + "[model]\nzero_shift = true\n")
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["provenance"]["config"]["model"]["zero_shift"] is True
    assert summary["lambda_pred"] > 0
    mlp = tmp_path / "mlp.toml"  # zero-shifting works for every layer of a network too
    mlp.write_text(SMALL.replace("dw_min_std = 0.3", "dw_min_std = 0.3\nup_down = 0.3")
                   + "[model]\nkind = 'mlp'\nhidden = [4]\nzero_shift = true\n")
    assert main(["run", str(mlp), "--out", str(tmp_path / "o2"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert summary["provenance"]["config"]["model"]["zero_shift"] is True and summary["layer_sizes"][1] == 4
    assert summary["lambda_plugin_mean"] > 0
