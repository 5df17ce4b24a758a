"""The repository layout the project promises: LICENSE, a top-level data/ with sources, experiments reading it."""

from __future__ import annotations

import csv
import copy
import math
import pathlib
import runpy

import pytest

from memsim.physics.presets import preset_info
from memsim.workflows.config import load_toml

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def test_license_matches_pyproject():
    declared = load_toml(ROOT / "pyproject.toml")["project"]["license"]
    assert declared == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) memsim developers" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


def test_every_data_file_has_its_source_in_the_readme():
    readme = (DATA / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in readme.splitlines()
            if line.startswith("| `")}
    files = sorted(p.name for p in DATA.iterdir() if p.is_file() and p.name != "README.md")
    assert files, "data/ is empty"
    for name in files:
        assert name in rows, f"data/{name} has no row in data/README.md"
        columns = [c.strip() for c in rows[name].split("|")[1:-1]]
        assert len(columns) == 4 and columns[2], f"data/{name}: no source in data/README.md"
    for name in rows:
        assert (DATA / name).is_file(), f"data/README.md lists {name}, which is not in data/"


def test_the_example_device_table_is_the_package_copy():
    package = ROOT / "memsim" / "data" / "measured" / "example_reram.csv"
    assert (DATA / "example_reram.csv").read_bytes() == package.read_bytes()


def test_houses_regenerate_byte_for_byte():
    maker = runpy.run_path(str(DATA / "make_houses.py"))
    assert maker["houses_csv"]() == (DATA / "houses.csv").read_text()
    assert maker["houses_csv"](seed=1) != (DATA / "houses.csv").read_text()


def _neurosim_rows() -> list[dict[str, str]]:
    with open(DATA / "neurosim_v3_devices.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_neurosim_table_matches_the_presets():
    rows = {row["name"]: row for row in _neurosim_rows()}
    presets = ("ag_a_si", "taox_hfox", "pcmo", "alox_hfo2", "gst_pcm", "epiram_ag_sige", "hzo_fefet")
    assert len(rows) == len(presets)
    for name in presets:
        info = preset_info(name)
        row = rows[info["source"]["name"]]
        assert row["reference"] == info["source"]["citation"], name
        for key in ("states_ltp", "states_ltd", "nl_ltp", "nl_ltd"):
            assert math.isclose(float(row[key]), info["device"][key]), (name, key)
        assert math.isclose(float(row["c2c_sigma"]), info["device"]["dw_min_std"]), name


def test_the_ranking_experiment_reads_the_table_from_data():
    script = runpy.run_path(str(ROOT / "experiments" / "neurosim_ranking" / "run.py"))
    assert script["NEUROSIM_TABLE"] == DATA / "neurosim_v3_devices.csv"
    doc = script["load_experiment"](True)  # checks config.toml's copies against data/
    bad = copy.deepcopy(doc["devices"])
    bad[0]["online_mnist_accuracy"] = 0.99
    with pytest.raises(SystemExit, match="online_mnist_accuracy"):
        script["check_reference_numbers"](bad)
    bad = copy.deepcopy(doc["devices"])
    bad[1]["name"] = "TaOx"
    with pytest.raises(SystemExit, match="no device named"):
        script["check_reference_numbers"](bad)
