"""Run every notebook of ``notebooks/`` and store its outputs in it (the site renders those outputs).

    python docs/run_notebooks.py [NAME.ipynb ...]      # default: every notebook

Each notebook runs from a fresh temporary folder (as ``tests/test_notebooks.py`` runs it) and is written
back atomically with its outputs. The documentation site never executes a notebook
(``nb_execution_mode = "off"`` in ``docs/conf.py``): rerun this after changing a notebook.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

REPO = Path(__file__).resolve().parents[1]


#: An HTML output larger than this (characters) is dropped where a plain-text one exists (xarray's
#: interactive repr is ~120 kB of markup; its text repr says the same in a few lines).
HTML_LIMIT = 20_000


def trim_outputs(nb) -> None:
    """Drop from ``nb`` what depends on the machine that ran it, and oversized HTML reprs.

    Execution timings, stderr streams (warnings about the local installation, progress bars, which
    name local paths) and HTML reprs larger than :data:`HTML_LIMIT` (keeping their text/plain twin).
    """
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"]
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/plain" in data and len(str(data.get("text/html", ""))) > HTML_LIMIT:
                del data["text/html"]


def run_notebook(path: Path, timeout: int = 600) -> None:
    """Execute ``path`` from an empty temporary folder and write it back with its outputs."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="memsim-nb-") as cwd:
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=timeout,
                                resources={"metadata": {"path": cwd}}).execute()
    trim_outputs(nb)
    tmp = path.with_name(path.name + ".tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    """Run the notebooks named in ``argv`` (default: all); returns the exit code."""
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures as stored outputs
    paths = [REPO / "notebooks" / name for name in argv] or sorted((REPO / "notebooks").glob("*.ipynb"))
    for path in paths:
        print(f"running {path.name}", flush=True)
        run_notebook(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
