"""Sphinx configuration of the memsim documentation site.

Build it (warnings are errors) with::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Three kinds of page are written here at build time, into folders that git ignores:

* ``api/``: one page per public module (every module of ``memsim`` with an ``__all__``), documenting
  every name of its ``__all__`` (a name re-exported from another public module links to the page of
  the module that defines it);
* ``notebooks/``: copies of ``../notebooks/*.ipynb``, rendered by MyST-NB from the outputs stored in
  them (``nb_execution_mode = "off"``: the notebook test executes them, the site never does);
* nothing else: every other page is a committed Markdown file. Pages that other parts of the project
  may add (``gallery.md``, ``residual_learning.md``) join the table of contents when they exist.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))

import memsim  # noqa: E402  (after the path: the checkout, not another installed copy)
from memsim.version import __version__  # noqa: E402

project = "memsim"
author = "memsim developers"
copyright = "memsim developers"
version = release = __version__

extensions = [
    "myst_nb",                     # Markdown (MyST) pages and notebooks
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"          # render the stored outputs; never execute a notebook here
nb_merge_streams = True

autodoc_member_order = "bysource"
autodoc_typehints = "none"         # the numpydoc Parameters sections carry the types
autodoc_mock_imports = ["cupy"]    # GPU-only; every other optional import is installed for the build
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()  # validation is a test of its own (tests/test_docstrings.py)

html_theme = "alabaster"
html_title = f"memsim {version}"
html_static_path: list[str] = []
html_theme_options = {"description": "memristor crossbars trained in place", "fixed_sidebar": True,
                      "page_width": "1240px", "sidebar_width": "240px"}

#: Pages other parts of the project may add; listed in the table of contents when present.
OPTIONAL_PAGES = ("gallery", "residual_learning")
#: Modules left out of the API reference: private ones and the generated kernel templates.
SKIP_MODULES = ("memsim.backends.cupy.template", "memsim.backends.numba.template")


# ------------------------------------------------------------------------------------- writing pages
def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, and only when it differs (Sphinx rebuilds what changed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def public_modules() -> dict[str, object]:
    """Every importable public module of memsim that declares ``__all__``, by dotted name."""
    found = {"memsim": memsim}
    for info in pkgutil.walk_packages(memsim.__path__, "memsim."):
        name = info.name
        if any(part.startswith("_") for part in name.split(".")) or name in SKIP_MODULES:
            continue
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional door whose package is missing: left out, said in the log
            print(f"memsim docs: cannot import {name}; left out of the API reference", file=sys.stderr)
            continue
        if getattr(module, "__all__", None) is not None:
            found[name] = module
    return dict(sorted(found.items()))


def _home(name: str, obj: object, holders: list[str], modules: dict[str, object]) -> str:
    """The module whose page documents ``obj`` (one of ``holders``, the modules listing ``name``)."""
    origin = getattr(obj, "__module__", None) if (inspect.isclass(obj) or inspect.isroutine(obj)) else None
    if origin in holders:
        return origin
    # defined in a private module or not a class/function: the deepest public module listing it
    return max(holders, key=lambda m: (m.count("."), m))


def _has_attr_doc(mod_name: str, name: str) -> bool:
    """Whether the source of ``mod_name`` documents ``name`` with a doc-comment (``#:`` or a string after it)."""
    from sphinx.pycode import ModuleAnalyzer

    try:
        return ("", name) in ModuleAnalyzer.for_module(mod_name).find_attr_docs()
    except Exception:  # no source to read (a compiled module)
        return False


def _describe(obj: object) -> str:
    """One line for an undocumented constant: its value when short, else its type and size."""
    text = repr(obj)
    if len(text) <= 70 and "\n" not in text:
        return f"Constant: ``{text}``."
    size = getattr(obj, "shape", None) or (len(obj) if hasattr(obj, "__len__") else None)
    return f"Constant of type ``{type(obj).__name__}``" + (f" (size {size})." if size is not None else ".")


def api_pages(modules: dict[str, object]) -> dict[str, str]:
    """Markdown text of every API page, by file name (``api/<module>.md``)."""
    holders: dict[tuple[str, int], list[str]] = {}
    for mod_name, module in modules.items():
        for name in module.__all__:
            obj = getattr(module, name)
            holders.setdefault((name, id(obj)), []).append(mod_name)
    pages = {}
    for mod_name, module in modules.items():
        lines = [f"# `{mod_name}`", "", "```{eval-rst}", f".. automodule:: {mod_name}", "   :no-members:", ""]
        reexports = []
        for name in module.__all__:
            obj = getattr(module, name)
            home = _home(name, obj, holders[(name, id(obj))], modules)
            if home != mod_name:
                reexports.append((name, home))
                continue
            if inspect.isclass(obj):
                directive = "autoexception" if issubclass(obj, BaseException) else "autoclass"
                lines += [f".. {directive}:: {mod_name}.{name}", "   :members:", ""]
            elif inspect.isroutine(obj):
                lines += [f".. autofunction:: {mod_name}.{name}", ""]
            elif _has_attr_doc(mod_name, name):
                lines += [f".. autodata:: {mod_name}.{name}", "   :no-value:", ""]
            else:  # no doc-comment: autodoc would show the docstring of the value's type
                lines += [f".. py:data:: {name}", f"   :module: {mod_name}", "", f"   {_describe(obj)}", ""]
        lines.append("```")
        if reexports:
            lines += ["", "Also available here (documented where they are defined):", ""]
            lines += [f"* {{py:obj}}`{name} <{home}.{name}>` from {{py:mod}}`{home}`" for name, home in reexports]
        pages[f"{mod_name}.md"] = "\n".join(lines) + "\n"
    return pages


def write_api(modules: dict[str, object]) -> None:
    """Write ``api/*.md`` and remove the pages of modules that are gone."""
    folder = DOCS / "api"
    pages = api_pages(modules)
    for fname, text in pages.items():
        _write_if_changed(folder / fname, text)
    for old in folder.glob("*.md"):
        if old.name not in pages:
            old.unlink()


def copy_notebooks() -> None:
    """Copy ``../notebooks/*.ipynb`` into ``notebooks/`` (Sphinx reads only its own folder)."""
    folder = DOCS / "notebooks"
    folder.mkdir(exist_ok=True)
    sources = {p.name: p for p in sorted((REPO / "notebooks").glob("*.ipynb"))}
    for name, src in sources.items():
        _write_if_changed(folder / name, src.read_text(encoding="utf-8"))
    for old in folder.glob("*.ipynb"):
        if old.name not in sources:
            old.unlink()


def optional_toctree_entries(index_text: str = "") -> str:
    """Toctree lines for the optional pages that exist and that ``index_text`` does not list already."""
    listed = {line.strip() for line in index_text.splitlines()}
    return "\n".join(page for page in OPTIONAL_PAGES if (DOCS / f"{page}.md").exists() and page not in listed)


def _fill_index(app, docname, source):
    """Put the optional pages where ``index.md`` says ``% optional pages``."""
    if docname == "index":
        source[0] = source[0].replace("% optional pages", optional_toctree_entries(source[0]))


write_api(public_modules())
copy_notebooks()


def _skip_member(app, what, name, obj, skip, options):
    """Leave out class members that memsim does not write.

    A method generated by a base class outside memsim (scikit-learn's ``set_*_request``), and a memsim
    method without a docstring of its own that would show the docstring of a base method outside memsim
    (``torch.autograd.Function.forward``), are not memsim's API.
    """
    if skip or what != "class":
        return None
    target = getattr(obj, "__func__", None) or getattr(obj, "fget", None) or obj
    if not (inspect.isroutine(target) or isinstance(obj, property)):
        return None  # attributes and fields: documented by their doc-comments
    module = getattr(target, "__module__", None) or ""
    if not module.startswith("memsim"):
        return True
    if getattr(target, "__doc__", None):
        return None
    owner = sys.modules.get(module)
    for part in getattr(target, "__qualname__", "").split(".")[:-1]:
        owner = getattr(owner, part, None)
    if inspect.isclass(owner):
        for base in owner.__mro__[1:]:
            if name in vars(base):
                return None if base.__module__.startswith("memsim") else True
    return None


def setup(app):
    app.connect("source-read", _fill_index)
    app.connect("autodoc-skip-member", _skip_member)
