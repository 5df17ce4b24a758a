"""Device presets as data (memsim/data/devices/*.toml), load_preset, and the `memsim devices` command."""

import math

import numpy as np
import pytest

from memsim.cli import main
from memsim.physics.devices import ConstantStep, ExpStep, PulsedDevice, SoftBounds
from memsim.errors import ConfigError
from memsim.physics.presets import list_presets, load_preset, preset_info
from memsim.workflows.devices import plot_preset

NEUROSIM = {  # name: (states_ltp, states_ltd, nl_ltp, nl_ltd, c2c) -- NeuroSim V3.0 manual, Table II
    "ag_a_si": (97, 100, 2.4, -4.88, 0.035), "taox_hfox": (128, 128, 0.04, -0.63, 0.037),
    "pcmo": (50, 50, 3.68, -6.76, 0.01), "alox_hfo2": (40, 40, 1.94, -0.61, 0.05),
    "gst_pcm": (100, 120, 0.105, 2.4, 0.015), "epiram_ag_sige": (64, 64, 0.5, -0.5, 0.02),
    "hzo_fefet": (32, 32, 1.75, 1.46, 0.005),
}


def test_every_preset_loads_with_a_source():
    assert set(list_presets()) == set(NEUROSIM) | {"ideal", "reram_sb"}
    for name in list_presets():
        info = preset_info(name)
        dev = load_preset(name)
        assert isinstance(dev, PulsedDevice) and dev.kind == info["device"]["kind"]
        assert info["source"]["citation"] and info["source"]["name"] and isinstance(info["source"]["notes"], list)
        assert math.isfinite(dev.step_up(0.0)) and math.isfinite(dev.step_down(0.0))


@pytest.mark.parametrize("name", sorted(NEUROSIM))
def test_neurosim_presets(name):
    p_ltp, p_ltd, nl_ltp, nl_ltd, c2c = NEUROSIM[name]
    dev = load_preset(name)
    assert isinstance(dev, ExpStep) and dev.c2c_mode == "neurosim" and dev.dw_min_std == c2c
    assert (dev.states_ltp, dev.states_ltd, dev.nl) == (p_ltp, p_ltd, (nl_ltp, nl_ltd))
    assert (dev.w_min, dev.w_max) == (-1.0, 1.0) and dev.dw_min == pytest.approx(2.0 / p_ltp, rel=1e-15)
    assert preset_info(name)["physical"]["r_on_ohm"] > 0


def test_other_presets():
    sb = load_preset("reram_sb")  # aihwkit ReRamSBPresetDevice
    assert isinstance(sb, SoftBounds)
    assert (sb.dw_min, sb.w_min, sb.w_max, sb.up_down, sb.dw_min_std, sb.c2c_mode) == \
        (0.002, -0.75, 1.25, 0.0, 3.75, "additive")
    assert (sb.dw_min_dtod, sb.up_down_dtod) == (0.3, 0.01)
    assert sb.w_max_dtod == pytest.approx(0.3 / 1.25) and sb.w_min_dtod == pytest.approx(0.3 / 0.75)
    ideal = load_preset("IDEAL")  # case-insensitive
    assert isinstance(ideal, ConstantStep) and ideal.dw_min_std == 0 and ideal.dw_min <= 1e-4
    assert load_preset("ag_a_si", dw_min_std=0.0).dw_min_std == 0.0
    with pytest.raises(ConfigError, match="'name'.*'ag_a_si'"):
        load_preset("nonsense")


def test_memsim_devices_lists_presets(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for name in list_presets():
        assert name in out
    assert "exp_step" in out and "nl_ltd=-4.88" in out and "soft_bounds" in out and "Jo et al." in out
    assert main(["devices", "list"]) == 0


def test_memsim_devices_plot_writes_a_png(tmp_path, capsys):
    out = tmp_path / "fig" / "ag.png"
    assert main(["devices", "plot", "ag_a_si", "--out", str(out), "--cycles", "2"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert sorted(p.name for p in out.parent.iterdir()) == ["ag.png"]  # no temporary file left
    assert main(["devices", "plot", "nonsense", "--out", str(tmp_path / "x.png")]) == 2
    assert "'name'" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_plot_preset_for_devices_without_states(tmp_path):
    for name in ("reram_sb", "ideal"):
        path = plot_preset(name, tmp_path / f"{name}.png", cycles=1, seed=3)
        assert path.read_bytes()[:4] == b"\x89PNG"
    dev = load_preset("reram_sb", dw_min=0.02)
    assert plot_preset(dev, tmp_path / "dev.png", cycles=1).exists()
    assert np.isfinite(dev.symmetry_point())
