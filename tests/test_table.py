"""The measured-table device: interpolation, per-state noise, CSV loading."""

import numpy as np
import pytest

from memsim import Deterministic, Tile
from memsim.physics.devices import TableDevice, device_from_dict, load_table_csv
from memsim.physics.devices.table import EXAMPLE_TABLE


@pytest.fixture(scope="module")
def example():
    return TableDevice.from_csv(EXAMPLE_TABLE)


def test_example_csv_loads_and_interpolates(example):
    t = load_table_csv(EXAMPLE_TABLE)
    s = np.array(t["states"])
    mid = 0.5 * (s[:-1] + s[1:])
    np.testing.assert_allclose(example.step_up(s), t["up_mean"], rtol=1e-12)
    np.testing.assert_allclose(example.step_down(mid), np.interp(mid, s, t["down_mean"]), rtol=1e-12)
    np.testing.assert_allclose(example.step_up(np.array([-5.0, 5.0])), [t["up_mean"][0], t["up_mean"][-1]])
    assert example.w_min == s[0] and example.w_max == s[-1]
    assert example.dw_min == pytest.approx(0.5 * (np.interp(0, s, t["up_mean"]) + np.interp(0, s, t["down_mean"])))
    assert -1 < example.symmetry_point() < 0  # up steps larger than down steps: w_s below 0
    assert device_from_dict(example.to_dict()) == example


@pytest.mark.parametrize("up", [True, False])
def test_single_pulse_mean_and_spread_follow_the_table(example, up, backend):
    t = load_table_csv(EXAMPLE_TABLE)
    w0, n = 0.35, 150
    tile = Tile(n, n, example, update=Deterministic(), backend=backend, seed=3)
    tile.program(w0)
    tile.update(np.ones(n), (-1.0 if up else 1.0) * np.ones(n), lr=example.dw_min)  # one pulse each
    dw = np.abs(tile.weights - w0).ravel()
    mean = np.interp(w0, t["states"], t["up_mean" if up else "down_mean"])
    rel = np.interp(w0, t["states"], np.array(t["up_std" if up else "down_std"]) / t["up_mean" if up else "down_mean"])
    sd = rel * mean
    assert abs(dw.mean() - mean) < 4 * sd / np.sqrt(dw.size)
    assert abs(dw.var() - sd ** 2) < 4 * sd ** 2 * np.sqrt(2 / dw.size)


def test_bad_tables(tmp_path):
    with pytest.raises(ValueError, match="'states'"):
        TableDevice(states=[0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="'up_mean'"):
        TableDevice(states=[0.0, 1.0], up_mean=[0.1], down_mean=[0.1, 0.1])
    with pytest.raises(ValueError, match="'down_mean'"):
        TableDevice(states=[0.0, 1.0], up_mean=[0.1, 0.1], down_mean=[0.1, -0.1])
    bad = tmp_path / "bad.csv"
    bad.write_text("state,up_mean\n0,1\n")
    with pytest.raises(ValueError, match="missing: up_std"):
        load_table_csv(bad)
