"""Attribution: one noise source off at a time (memsim.workflows.attribution, ``memsim attribute``)."""

import copy
import json

import numpy as np
import pytest

from memsim.workflows.attribution import (SOURCES, attribution_table, run_attribution, source_present, switch_off)
from memsim.cli import main
from memsim.workflows.config import resolve_config
from memsim.errors import ConfigError
from memsim.workflows.studies import BASE_CONFIG


def _small(**device):
    cfg = copy.deepcopy(BASE_CONFIG)
    cfg["task"].update(n_test=200)
    cfg["train"]["epochs"] = 20
    cfg["device"].update(device)
    return cfg


def _all_sources():
    cfg = _small(up_down=0.1, up_down_dtod=0.1, w_max_dtod=0.1, dw_min_std=1.0)
    cfg["periphery"] = {"output_noise": 0.05, "weight_noise": 0.02, "dac": {"bits": 8, "bound": 4.0},
                        "adc": {"bits": 8, "bound": 10.0}}
    return cfg


def test_absent_sources_rerun_bit_identical():
    """Required: a source absent from the config, switched off anyway, changes nothing at all."""
    raw = _small()                     # README example: c2c and sampling noise only
    config = resolve_config(raw)
    absent = [s for s in SOURCES if not source_present(config, s)]
    assert sorted(absent) == ["asymmetry", "device_to_device", "quantisation", "read_noise"]
    result = run_attribution(raw, include_absent=True, progress=False, sources=tuple(absent))
    base = result["baseline"]
    for rec in result["sources"]:
        assert rec["status"] == "absent"
        assert resolve_config(switch_off(raw, rec["source"])[0]) == config
        np.testing.assert_array_equal(rec["weights_mean"], base["weights_mean"])
        np.testing.assert_array_equal(rec["weights_final"], base["weights_final"])
        assert rec["lambda_fit"] == base["lambda_fit"]
        assert rec["test_loss_mean_weights"] == base["test_loss_mean_weights"]


def test_full_batch_config_has_no_update_sign_noise_and_stays_identical():
    raw = _small()
    raw["train"].update(batch_size=100, accumulate=True)
    config = resolve_config(raw)
    assert not source_present(config, "update_sign_noise")
    assert resolve_config(switch_off(raw, "update_sign_noise")[0]) == config


def test_switch_off_changes_only_its_source():
    raw = _all_sources()
    config = resolve_config(raw)
    assert all(source_present(config, s) for s in SOURCES)
    expected = {
        "update_sign_noise": {"train"},
        "cycle_to_cycle": {"device"}, "device_to_device": {"device"}, "asymmetry": {"device"},
        "read_noise": {"periphery"}, "quantisation": {"periphery"},
    }
    base = config.to_dict()
    for source in SOURCES:
        modified, note = switch_off(raw, source)
        new = resolve_config(modified)
        changed = {k for k in base if base[k] != new.to_dict()[k]}
        assert changed == expected[source], source
        assert not source_present(new, source) and note
    off = resolve_config(switch_off(raw, "device_to_device")[0]).device
    assert off.up_down_dtod == off.w_max_dtod == 0 and off.up_down == 0.1 and off.dw_min_std == 1.0
    tr = resolve_config(switch_off(raw, "update_sign_noise")[0]).train
    assert tr.batch_size == 100 and tr.accumulate and tr.lr == raw["train"]["lr"]
    assert raw == _all_sources()        # the input is not modified


def test_full_batch_lr_is_scaled_only_when_one_step_would_be_unstable():
    raw = _small()
    raw["train"]["lr"] = 0.05           # lr * n * lambda_max(H) ~ 10
    modified, note = switch_off(raw, "update_sign_noise")
    assert "lr x" in note and modified["train"]["lr"] < 0.011


def test_attribution_of_every_source_and_table():
    result = run_attribution(_all_sources(), progress=False)
    recs = {r["source"]: r for r in result["sources"]}
    assert all(r["status"] == "off" for r in recs.values())
    # update-sign noise is the mechanism: full-batch updates remove nearly all of the penalty
    assert recs["update_sign_noise"]["lambda_fit"] < 0.2 * result["baseline"]["lambda_fit"]
    table = attribution_table(result)
    assert table.count("\n") == 2 + 1 + len(SOURCES)
    for source in SOURCES:
        assert f"| {source} | off |" in table


def test_absent_sources_are_reported_not_rerun():
    result = run_attribution(_small(), progress=False)
    recs = {r["source"]: r for r in result["sources"]}
    assert recs["read_noise"]["status"] == "absent" and np.isnan(recs["read_noise"]["lambda_fit"])
    assert "| read_noise | absent |" in attribution_table(result)
    with pytest.raises(ConfigError):
        run_attribution(_small(), sources=("gravity",))


def _toml(cfg):
    """A flat two-level config dict as TOML (strings, numbers, booleans)."""
    def value(v):
        return "true" if v is True else "false" if v is False else json.dumps(v)
    lines = [f"{k} = {value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for section, table in cfg.items():
        if isinstance(table, dict):
            lines += [f"[{section}]"] + [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def test_cli_attribute_writes_table_json_and_figure(tmp_path):
    cfg = _small(up_down=0.1)
    path = tmp_path / "config.toml"
    path.write_text(_toml(cfg))
    out = tmp_path / "out"
    assert main(["attribute", str(path), "--out", str(out), "--quiet"]) == 0
    md = (out / "attribution.md").read_text()
    assert "| asymmetry | off |" in md and "| read_noise | absent |" in md
    data = json.loads((out / "attribution.json").read_text())
    assert data["baseline"]["status"] == "baseline" and len(data["sources"]) == len(SOURCES)
    assert (out / "attribution.png").stat().st_size > 1000
    assert main(["attribute", str(tmp_path / "missing.toml"), "--out", str(out)]) == 2


def test_classifier_attribution_reports_accuracy():
    raw = {"seed": 3, "task": {"kind": "teacher_classification", "n_train": 60, "n_test": 40, "n_features": 4},
           "device": {"kind": "soft_bounds", "dw_min": 2e-3, "w_max": 1.0, "up_down": 0.1},
           "model": {"kind": "mlp", "hidden": [5]}, "train": {"lr": 0.05, "epochs": 3}}
    try:
        resolve_config(raw)
    except ConfigError:
        pytest.skip("no classification task in this build")
    result = run_attribution(raw, progress=False, sources=("asymmetry",))
    assert np.isfinite(result["baseline"]["test_accuracy_mean_weights"])
    assert "Δ test acc." in attribution_table(result)
