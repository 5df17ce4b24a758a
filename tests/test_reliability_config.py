"""Nothing lost, nothing silent: a diverging comparison keeps the run; bad configs fail before the compute.

DESIGN.md ("Failures"): a run fails only when the in-place training itself fails. A digital baseline
that diverges or a fit that does not converge is ``null`` in the summary, with its reason in
``failures`` and ``regime_warnings``; ``memsim run`` exits 0. Configurations that cannot work
(``batch_size > n_train``, steps outside the schedule, missing MNIST files, magnitudes that overflow
float64, a ``cupy`` backend without a GPU, an empty file, ...) are refused at config resolution
(``ConfigError`` naming the dotted key, exit 2) before any training.
"""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import memsim.models.train as train_module
import memsim.workflows.run as run_module
from memsim.cli import main
from memsim.compare.digital import train_digital
from memsim.errors import ConfigError, ConvergenceError
from memsim.workflows.config import load_config, resolve_config

README = Path(__file__).resolve().parents[1] / "experiments" / "readme_example" / "config.toml"


def readme_config(**replace: str) -> str:
    """The README example config with some lines replaced (``old=new`` pairs by line start) and a small test set."""
    text = README.read_text().replace("n_test = 2000", "n_test = 200")
    for old, new in replace.items():
        lines = text.splitlines()
        hits = [i for i, line in enumerate(lines) if line.strip().startswith(old + " =")]
        assert hits, old
        lines[hits[0]] = new
        text = "\n".join(lines) + "\n"
    return text


def _run(tmp_path, text, name="c"):
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(text)
    out = tmp_path / f"out_{name}"
    code = main(["run", str(cfg), "--out", str(out), "--quiet"])
    return code, out


# ---------------------------------------------------------------------------- 1. divergence keeps the run
TRIGGERS = {
    # the triggers (lr 1 for 200 epochs, lr 50 for 100, lr 1e6, w_max = 1e-6 at lr 0.005) with fewer
    # epochs: the digital SGD still diverges (lr 1: at epoch 3; the others: at epoch 1)
    "lr1": dict(lr="lr = 1.0", epochs="epochs = 4"),
    "lr50": dict(lr="lr = 50.0", epochs="epochs = 2"),
    "lr1e6": dict(lr="lr = 1e6", epochs="epochs = 2"),
    "w_max_1e-6": dict(w_max="w_max = 1e-6", w_min="w_min = -1e-6", dw_min="dw_min = 1e-9", epochs="epochs = 2"),
}


@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_diverging_digital_baseline_keeps_the_in_place_results(tmp_path, capsys, trigger):
    code, out = _run(tmp_path, readme_config(**TRIGGERS[trigger]))
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert np.all(np.isfinite(summary["weights_mean"])) and np.all(np.isfinite(summary["weights_final"]))
    assert math.isfinite(summary["test_loss_mean_weights"])
    assert summary["digital_sgd_weights_mean"] is None and summary["digital_sgd_test_loss"] is None
    failed = {f["quantity"]: f["reason"] for f in summary["failures"]}
    assert "digital_sgd_weights_mean" in failed and "digital_sgd_test_loss" in failed
    assert "diverged" in failed["digital_sgd_weights_mean"]
    assert any(w.startswith("digital_diverged:") for w in summary["regime_warnings"])


def test_train_digital_stops_early_with_a_reason():
    from memsim.errors import DivergenceError  # new in this change (imported here so the other tests run on HEAD)

    g = np.random.default_rng(0)
    X, y = g.standard_normal((20, 3)), g.standard_normal((20, 1))
    perms = np.array([g.permutation(20) for _ in range(50)])
    with pytest.raises(DivergenceError, match=r"diverged at epoch \d of 50") as info:
        train_digital([np.zeros((1, 3))], X, y, loss="mse", bias=False, lrs=100.0, permutations=perms)
    assert info.value.epoch < 50 and "lr = 100" in info.value.reason  # stopped early
    ok = train_digital([np.zeros((1, 3))], X, y, loss="mse", bias=False, lrs=0.01, permutations=perms)
    assert np.all(np.isfinite(ok["weights_mean"][0]))


NETWORK = """
seed = 2
backend = "numba"
[task]
kind = "linear_regression"
n_train = 30
n_test = 40
n_features = 3
[device]
kind = "soft_bounds"
dw_min = 0.002
[train]
lr = LR
epochs = 4
[model]
kind = "mlp"
hidden = [3]
"""


def test_network_path_plain_per_weight_and_global_digital_diverge(tmp_path, capsys):
    code, out = _run(tmp_path, NETWORK.replace("LR", "5.0"))
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert math.isfinite(summary["test_loss_mean_weights"])
    failed = {f["quantity"] for f in summary["failures"]}
    for key in ("digital_test_loss", "weight_distance_to_plain_digital", "digital_per_weight_test_loss",
                "global_weight_decay_fit", "digital_global_test_loss"):
        assert key in failed and summary[key] is None, key
    assert any(w.startswith("digital_diverged:") for w in summary["regime_warnings"])
    assert (out / "weights.npz").exists()


def test_network_global_fit_that_does_not_converge_is_null(tmp_path, monkeypatch):
    import memsim.analysis.network as network

    def no_fit(*args, **kwargs):
        raise ConvergenceError("fit_weight_decay: did not converge (test)")

    monkeypatch.setattr(network, "fit_weight_decay", no_fit)
    code, out = _run(tmp_path, NETWORK.replace("LR", "0.02"))
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["global_weight_decay_fit"] is None and summary["digital_global_test_loss"] is None
    assert math.isfinite(summary["digital_test_loss"])  # the other baselines are kept
    assert any(f["quantity"] == "global_weight_decay_fit" and "did not converge" in f["reason"]
               for f in summary["failures"])
    assert any(w.startswith("no_fit:") for w in summary["regime_warnings"])


def test_linear_lambda_fit_that_does_not_converge_is_null(tmp_path, monkeypatch):
    def no_fit(*args, **kwargs):
        raise ConvergenceError("fit_lambda: did not converge (test)")

    monkeypatch.setattr(run_module, "summarize", no_fit)
    code, out = _run(tmp_path, readme_config(epochs="epochs = 3"))
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lambda_fit"] is None and summary["lambda_pred"] is None
    assert math.isfinite(summary["test_loss_mean_weights"]) and summary["digital_sgd_test_loss"] is not None
    assert any(f["quantity"] == "lambda_fit" for f in summary["failures"])
    assert any(w.startswith("no_fit:") for w in summary["regime_warnings"])


def test_healthy_run_has_an_empty_failures_list(tmp_path):
    code, out = _run(tmp_path, readme_config(epochs="epochs = 3"))
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0 and summary["failures"] == [] and summary["digital_sgd_test_loss"] is not None


def test_non_finite_in_place_weights_fail_the_run(tmp_path, monkeypatch, capsys):
    real = run_module.train

    def poisoned(*args, **kwargs):
        result = real(*args, **kwargs)
        bad = [np.full_like(np.asarray(W), np.nan) for W in result.weights_final]
        return dataclasses.replace(result, weights_final=bad)

    monkeypatch.setattr(run_module, "train", poisoned)
    code, out = _run(tmp_path, readme_config(epochs="epochs = 2"))
    assert code == 1
    assert "non-finite weights_final" in capsys.readouterr().err
    assert not (out / "summary.json").exists()


# ---------------------------------------------------------------------------- 2. fail before the compute
@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started although the config is invalid")

    monkeypatch.setattr(train_module, "train", refuse)
    monkeypatch.setattr(run_module, "train", refuse)


BEFORE = {
    "batch_size": (dict(batch_size="batch_size = 500"), "train.batch_size", "[1, 100]"),
    "step_beyond_epochs": (dict(epochs='epochs = 10\nlr_schedule = "step"\nlr_step_epochs = [5, 20]'),
                           "train.lr_step_epochs", "[1, 9]"),
    "step_with_constant": (dict(epochs="epochs = 10\nlr_step_epochs = [5]"), "train.lr_step_epochs", "constant"),
    "n_features": (dict(n_features="n_features = 10000000000"), "task.n_features", "1000000"),
    "feature_scales": (dict(n_features="n_features = 20\nfeature_scales = 1e200"), "task.feature_scales", "1e+150"),
    "noise_std": (dict(noise_std="noise_std = 1e300"), "task.noise_std", "1e+150"),
    "lr_gamma": (dict(epochs='epochs = 10\nlr_schedule = "step"\nlr_step_epochs = [5]\nlr_gamma = 1e300'),
                 "train.lr_gamma", "1e+150"),
    "w_max_big": (dict(w_max="w_max = 1e308", w_min="w_min = -1e308"), "device.w_", "1e+150"),
    "w_max_negative_big": (dict(w_max="w_max = 1.0", w_min="w_min = -1e308"), "device.w_min", "1e+150"),
    "dac_bits": (dict(average_from="average_from = 0.5\n[periphery.dac]\nbits = 1\nbound = 1.0"),
                 "periphery.dac.bits", "[2, 32]"),
    "adc_bound": (dict(average_from="average_from = 0.5\n[periphery.adc]\nbits = 8"), "periphery.adc.bound", "bits"),
}


@pytest.mark.parametrize("case", list(BEFORE))
def test_refused_before_any_training(tmp_path, capsys, no_training, case):
    replace, key, allowed = BEFORE[case]
    code, out = _run(tmp_path, readme_config(**replace))
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"'{key}" in err and allowed in err and "Got" in err
    assert not out.exists()


def test_batch_size_checked_against_the_loaded_data_too(tmp_path, capsys, no_training):
    text = ('seed = 1\n[task]\nkind = "diabetes"\n[device]\nkind = "soft_bounds"\n'
            "[train]\nepochs = 2\nbatch_size = 100000\n")
    code, out = _run(tmp_path, text)
    err = capsys.readouterr().err
    assert code == 2 and "'train.batch_size'" in err and "100000" in err


def test_mnist_without_files_is_found_at_config_resolution(tmp_path):
    with pytest.raises(ConfigError, match=r"'task\.path'.*train-images"):
        resolve_config({"task": {"kind": "mnist", "path": str(tmp_path / "nowhere")}})


def test_cupy_backend_without_gpu_is_refused_with_the_install_hint(monkeypatch):
    import memsim.backends.cupy as cupy_backend

    monkeypatch.setattr(cupy_backend, "gpu_status", lambda: (False, "no CUDA device (test)"))
    with pytest.raises(ConfigError, match=r"'backend'.*no CUDA device \(test\).*pip install 'memsim\[gpu\]'"):
        resolve_config({"backend": "cupy"})


# ---------------------------------------------------------------------------- 3. weak spots
def test_empty_config_file_is_refused_with_an_example(tmp_path, capsys, no_training):
    for text in ("", "# only a comment\n"):
        code, out = _run(tmp_path, text, name="empty")
        err = capsys.readouterr().err
        assert code == 2 and "empty" in err and "[train]" in err and "kind = " in err
        assert not out.exists()
    example = err.split("example:", 1)[1]
    cfg = tmp_path / "example.toml"
    cfg.write_text(example)
    assert load_config(cfg).train.lr == 0.005  # the example shown is itself valid


def test_non_utf8_config_names_the_file(tmp_path, capsys, no_training):
    cfg = tmp_path / "latin1.toml"
    cfg.write_bytes("# réglages\nseed = 1\n".encode("latin-1"))
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "latin1.toml" in err and "UTF-8" in err and "Traceback" not in err


def test_directory_as_config_names_it(tmp_path, capsys, no_training):
    folder = tmp_path / "configs"
    folder.mkdir()
    assert main(["run", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "configs" in err and "directory" in err
