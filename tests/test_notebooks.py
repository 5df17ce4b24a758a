"""Every notebook in notebooks/ runs top to bottom from a fresh, empty temporary folder (nbclient, kernel python3).

A notebook that opened a repository file relative to the current folder (as a Jupyter session started in
``notebooks/`` or anywhere else would not find it) fails here: example files are found through the
installed package (``memsim.workflows.examples``), not the working directory.
"""

import os
import pathlib

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    # jupyter_core warns about its future paths unless this is set (warnings are errors here)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.chdir(tmp_path)
    nb = nbformat.read(path, as_version=4)
    for module in nb.metadata.get("memsim", {}).get("requires", []):  # optional doors, e.g. torch
        pytest.importorskip(module)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell


def test_a_notebook_reading_the_current_folder_fails(tmp_path, monkeypatch):
    """Negative control: the fresh folder really hides the repository from a notebook."""
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "open('experiments/sweep_example/config.toml').read()")])
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=60,
                                     resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="FileNotFoundError"):
        client.execute()
