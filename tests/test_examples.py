"""The example configs shipped in the package (``memsim examples``): identical to the repository's, copyable, runnable."""

from __future__ import annotations

import fnmatch
import json
import pathlib

import pytest

from memsim.cli import main
from memsim.errors import ConfigError
from memsim.workflows.config import load_config, load_toml
from memsim.workflows.examples import copy_example, example_path, list_examples
from memsim.workflows.outputs import OutputError
from memsim.workflows.sweeps import parse_sweep

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE_EXAMPLES = ROOT / "memsim" / "examples"
#: Smoke sizes for running a copied example (the full README example is 300 epochs on 2,000 test points).
SMOKE = {"backend": "numpy", "train": {"epochs": 3}, "task": {"n_test": 100}}


def test_every_shipped_file_is_identical_to_its_repository_copy():
    checked = 0
    for example in list_examples().values():
        for name, source in example.files.items():
            shipped = example.folder / name
            assert shipped.is_file(), f"{example.name}: {name} listed in examples.toml but not shipped"
            if source:
                assert shipped.read_bytes() == (ROOT / source).read_bytes(), (
                    f"memsim/examples/{example.name}/{name} differs from {source}: copy it again")
                checked += 1
    assert checked >= 5


def test_every_experiment_config_is_shipped_and_nothing_else():
    sources = {src for ex in list_examples().values() for src in ex.files.values() if src}
    for toml in sorted((ROOT / "experiments").glob("*/*.toml")):
        assert str(toml.relative_to(ROOT)) in sources, (
            f"{toml.relative_to(ROOT)} is not shipped as an example: copy it to memsim/examples/<name>/ and add "
            f"<name> to memsim/examples/examples.toml")
    listed = {f"{ex.name}/{name}" for ex in list_examples().values() for name in ex.files} | {"examples.toml"}
    present = {str(p.relative_to(PACKAGE_EXAMPLES)) for p in PACKAGE_EXAMPLES.rglob("*") if p.is_file()
               and "__pycache__" not in p.parts}
    assert present == listed, f"files in memsim/examples/ not in examples.toml (or missing): {present ^ listed}"


def test_the_wheel_carries_the_examples():
    """Every shipped file matches a package-data pattern of pyproject.toml (what setuptools puts in the wheel)."""
    patterns = load_toml(ROOT / "pyproject.toml")["tool"]["setuptools"]["package-data"]["memsim"]
    for path in PACKAGE_EXAMPLES.rglob("*"):
        if path.is_file():
            rel = str(path.relative_to(ROOT / "memsim"))
            assert any(fnmatch.fnmatch(rel, pat.replace("**/", "*")) for pat in patterns), rel


def test_the_shipped_configs_are_valid():
    for name in ("readme_example", "attribution_digits", "own_data"):
        load_config(example_path(name))  # validates every section (reads and hashes own_data's CSV)
    assert len(parse_sweep(load_toml(example_path("sweep_example"))).points) == 18
    ranking = load_toml(example_path("neurosim_ranking"))
    assert len(ranking["devices"]) == 7


def test_examples_lists_every_example(capsys):
    assert main(["examples"]) == 0
    out = capsys.readouterr().out
    for name, example in list_examples().items():
        assert name in out and example.run in out


def _smoke(config: pathlib.Path) -> None:
    """Rewrite the copied config at smoke size, as a user editing it would (TOML keys replaced in place)."""
    lines = []
    section = ""
    for line in config.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
        key = stripped.split("=")[0].strip()
        value = SMOKE.get(key) if section == "" else SMOKE.get(section, {}).get(key)
        lines.append(f"{key} = {json.dumps(value)}" if value is not None and not isinstance(value, dict) else line)
    config.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", ["readme_example", "own_data"])
def test_a_copied_example_runs_from_its_new_folder(name, tmp_path, monkeypatch, capsys):
    target = tmp_path / "my-study"
    assert main(["examples", "copy", name, str(target)]) == 0
    copied = sorted(p.name for p in target.iterdir())
    assert copied == sorted(list_examples()[name].files)  # the config and every data file it reads
    _smoke(target / "config.toml")
    assert load_config(target / "config.toml").train.epochs == SMOKE["train"]["epochs"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(target)
    assert main(["run", "config.toml", "--out", "out", "--quiet"]) == 0
    summary = json.loads((target / "out" / "summary.json").read_text())
    assert summary["lambda_fit"] is not None and summary["lambda_fit"] > 0
    if name == "own_data":  # the data file is read from the copy: without it the same command fails
        (target / "houses.csv").unlink()
        assert main(["run", "config.toml", "--out", "out2", "--quiet"]) == 2
        assert "houses.csv" in capsys.readouterr().err


def test_a_bad_name_lists_the_available_examples(tmp_path, capsys):
    assert main(["examples", "copy", "readme", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "'name'" in err and "'readme'" in err
    for name in list_examples():
        assert repr(name) in err
    assert not (tmp_path / "x").exists()  # refused before anything is written
    with pytest.raises(ConfigError, match="'file'"):
        example_path("readme_example", "nope.toml")


def test_a_non_empty_folder_is_refused_unless_forced(tmp_path, capsys):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "config.toml").write_text("old")
    assert main(["examples", "copy", "readme_example", str(target)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err
    assert (target / "config.toml").read_text() == "old"  # untouched
    with pytest.raises(OutputError, match="not empty"):
        copy_example("readme_example", target)
    assert main(["examples", "copy", "readme_example", str(target), "--force"]) == 0
    assert (target / "config.toml").read_bytes() == example_path("readme_example").read_bytes()
    assert (target / "notes.txt").read_text() == "mine"  # other files are kept
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        copy_example("readme_example", tmp_path / "file", force=True)
