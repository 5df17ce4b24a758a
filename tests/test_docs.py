"""The documentation site builds with warnings as errors and shows every public name, device model and notebook.

One Sphinx build (``python -m sphinx -E -W --keep-going -b html docs OUT``, about a minute on 2 cores)
into a temporary folder; the other tests read what it wrote. CI installs the ``docs`` extra, so there
(``CI`` set) a missing Sphinx is a failure, not a skip.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import pkgutil
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

if not os.environ.get("CI"):
    for _module in ("sphinx", "numpydoc", "myst_nb"):
        pytest.importorskip(_module)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once; return the HTML folder."""
    out = tmp_path_factory.mktemp("site") / "html"  # MyST-NB writes jupyter_execute/ beside it
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html",
                           str(DOCS), str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, f"sphinx-build failed (warnings are errors):\n{proc.stderr[-6000:]}"
    return out


def _inventory(site: pathlib.Path) -> set[str]:
    from sphinx.util.inventory import InventoryFile

    with open(site / "objects.inv", "rb") as fh:
        inv = InventoryFile.load(fh, "", lambda base, uri: uri)
    return {name for kind, entries in inv.items() if kind.startswith("py:") for name in entries}


def test_every_public_name_is_documented(site):
    import memsim

    modules = {"memsim": memsim}  # every public module with an __all__ (found here independently of conf.py)
    for info in pkgutil.walk_packages(memsim.__path__, "memsim."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError as exc:  # an optional door without its package (cupy): conf.py leaves it out too
            assert (getattr(exc, "name", "") or "").split(".")[0] in {"cupy", "cupyx", "torch"}, exc
            continue
        if getattr(module, "__all__", None) is not None:
            modules[info.name] = module
    assert len(modules) > 40 and "memsim.workflows.examples" in modules
    documented = _inventory(site)
    by_object: dict[int, set[str]] = {}
    for mod_name in documented:
        head, _, tail = mod_name.rpartition(".")
        if head in modules and hasattr(modules[head], tail):
            by_object.setdefault(id(getattr(modules[head], tail)), set()).add(mod_name)
    missing = []
    for mod_name, module in modules.items():
        assert mod_name in documented, f"module {mod_name} has no page"
        assert (site / "api" / f"{mod_name}.html").is_file()
        for name in module.__all__:
            if f"{mod_name}.{name}" in documented:
                continue
            # a re-export: documented under the module that defines it (the page links there)
            if not any(entry.endswith("." + name) for entry in by_object.get(id(getattr(module, name)), ())):
                missing.append(f"{mod_name}.{name}")
    assert not missing, f"public names without documentation: {missing}"


def test_every_device_model_has_its_page_and_figure(site):
    from memsim.physics.devices import DEVICE_MODELS

    for kind in DEVICE_MODELS:
        figure = DOCS / "figures" / "devices" / f"{kind}.png"
        assert figure.is_file() and figure.stat().st_size < 400_000, f"{figure}: missing or too large"
        html = (site / "devices" / f"{kind}.html").read_text()
        assert f"{kind}.png" in html, f"devices/{kind}.html does not show its figure"
    index = (site / "devices" / "index.html").read_text()
    for kind in DEVICE_MODELS:
        assert f'href="{kind}.html"' in index


def test_the_notebooks_are_rendered_with_their_stored_outputs(site):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = json.loads(path.read_text())
        outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert outputs, f"{path.name} has no stored outputs: run python docs/run_notebooks.py {path.name}"
        html = (site / "notebooks" / f"{path.stem}.html").read_text()
        assert "cell_output" in html, f"{path.name}: outputs not rendered"


def _cited_texts() -> dict[str, str]:
    """Source text of every memsim module and notebook, whitespace collapsed (citations wrap across lines)."""
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "memsim").rglob("*.py")}
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        texts[str(nb.relative_to(ROOT))] = "\n".join("".join(c["source"]) for c in cells)
    return {name: " ".join(text.split()) for name, text in texts.items()}


def check_citations(text: str, headings: dict[str, list[str]]) -> list[str]:
    """The citations ``docs/theory.md, section 'HEADING'`` (or a section number) in ``text`` naming no heading."""
    bad = []
    for m in re.finditer(r"docs/(theory|design)\.md,?\s+sections?\s+", text):
        page, pos = m.group(1), m.end()
        while True:
            quote = text[pos:pos + 1]
            if quote in ("'", '"'):
                rest = text[pos + 1:]
                found = [h for h in headings[page] if rest.startswith(h + quote)]
                if not found:
                    bad.append(f"docs/{page}.md, section {text[pos:pos + 60]}...")
                    break
                pos += len(found[0]) + 2
                more = re.match(r"(,\s+and\s+|\s+and\s+|,\s+)(?=['\"])", text[pos:])
                if not more:
                    break
                pos += more.end()
            else:  # a section number: 2a, 2.0
                token = re.match(r"[0-9][0-9a-z.]*[0-9a-z]", text[pos:])
                if token and not any(h.split(" ")[0].rstrip(".") == token.group(0) for h in headings[page]):
                    bad.append(f"docs/{page}.md, section {token.group(0)}")
                break
    return bad


def test_the_sections_docstrings_cite_exist(site):
    """Every "docs/theory.md, section '...'" / "docs/design.md, section '...'" names a heading of that page."""
    headings = {page: [line.lstrip("#").strip() for line in (DOCS / f"{page}.md").read_text().splitlines()
                       if line.startswith("#")] for page in ("theory", "design")}
    bad = [f"{name}: {b}" for name, text in _cited_texts().items() for b in check_citations(text, headings)]
    assert not bad, f"citations of sections that do not exist: {bad}"
    # negative controls: the checker flags a missing heading and accepts a real one
    assert check_citations("docs/theory.md, section '9z. Nowhere'.", headings)
    assert check_citations("docs/theory.md, section 9z.", headings)
    assert not check_citations("docs/theory.md, sections '2a. Soft bounds' and '2.0 The drift formula'.", headings)
    for page in ("theory", "design"):
        assert (site / f"{page}.html").is_file()


def test_the_build_fails_on_a_warning(tmp_path):
    """Negative control: a page with a broken reference fails the same command."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['myst_parser']\nnitpicky = True\n")
    (src / "index.md").write_text("# t\n\n{doc}`no-such-page`\n")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html",
                           str(src), str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no-such-page" in proc.stderr


def test_the_hand_written_pages_have_no_broken_api_links(site):
    """Every {py:...} reference of the committed pages resolves (an unresolved one renders without a link)."""
    unresolved = re.compile(r'(<a [^>]*>)?<code class="xref py[^"]*"><span class="pre">([^<]*)</span>')
    pages = [p for p in DOCS.rglob("*.md") if not {"api", "notebooks", "_build"} & set(p.relative_to(DOCS).parts)]
    assert len(pages) >= 10
    broken = []
    for page in pages:
        html = site / page.relative_to(DOCS).with_suffix(".html")
        broken += [f"{page.relative_to(DOCS)}: {m.group(2)}" for m in unresolved.finditer(html.read_text())
                   if not m.group(1)]
    assert not broken, f"API references that resolve to nothing: {broken}"
