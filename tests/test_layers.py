"""Import layering (memsim/ARCHITECTURE.md): layers, circles, and what `import memsim` pulls in.

How the module graph is built (``module_graph``):

* Every ``.py`` file under ``memsim/`` is a module; ``pkg/__init__.py`` is the module ``pkg``.
* Every ``import`` / ``from ... import`` statement counts, wherever it stands: at module level, inside a
  function or method, under ``if``/``try``. Imports written as strings (generated source) or made with
  ``importlib`` are not seen; the regex test below still guards ``numba`` against the first.
* Relative imports are resolved against the importing module's package. ``from pkg import name`` is an
  edge to the submodule ``pkg.name`` when that file exists, otherwise to ``pkg`` itself (its
  ``__init__``). ``import a.b.c`` is an edge to ``a.b.c``.
* Only the imports written in the code are edges. The implicit import of the parent packages that
  Python performs before it runs ``pkg.sub`` is NOT an edge, so a package ``__init__`` that imports its
  own submodules is no circle. An edge written explicitly from a submodule to its package's
  ``__init__`` (``from . import NAME`` with ``NAME`` defined in ``__init__.py``) does count, and if that
  ``__init__`` imports the submodule back it is a real circle (it only works by import order).
* A circle is a strongly connected component of two or more modules (a module importing itself is
  dropped).

The layer of a module is read from the layer table of ``memsim/ARCHITECTURE.md`` (the rows after the
``LAYER_MARKER`` comment). An entry ``a/b`` there covers ``memsim/a/b.py`` and everything under
``memsim/a/b/``; the most specific entry wins; ``__init__`` is the root ``memsim/__init__.py``. Layer 1
is the top. A module may import modules of its own layer or of any layer below it.
"""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
ROOT = REPO / "memsim"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
LAYER_MARKER = "<!-- layer table"


# --------------------------------------------------------------------------- the checker


@dataclass
class Graph:
    """The module graph of one package: ``edges[src][dst]`` is the first line where ``src`` imports ``dst``."""

    files: dict[str, pathlib.Path]
    edges: dict[str, dict[str, int]]
    external: dict[str, dict[str, int]]  # top-level names of imported packages outside the package

    def __repr__(self) -> str:  # short, for pytest's failure report
        return f"Graph({len(self.files)} modules, {sum(map(len, self.edges.values()))} imports)"


def module_files(pkg_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every ``.py`` file under ``pkg_dir``."""
    files = {}
    for path in sorted(pkg_dir.rglob("*.py")):
        parts = path.relative_to(pkg_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def _containing(name: str, files: dict[str, pathlib.Path]) -> str | None:
    """The longest prefix of the dotted ``name`` that is a module of the package (None: outside it)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in files:
            return ".".join(parts[:n])
    return None


def imported_names(module: str, path: pathlib.Path, files: dict[str, pathlib.Path]) -> list[tuple[str, int]]:
    """Absolute names of everything ``module`` imports, anywhere in the file, with line numbers.

    ``from pkg import name`` gives ``pkg.name`` when that is a module of the package, else ``pkg``.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub if sub in files else base, node.lineno))
    return out


def module_graph(pkg_dir: pathlib.Path) -> Graph:
    files = module_files(pkg_dir)
    edges = {name: {} for name in files}
    external = {name: {} for name in files}
    for name, path in files.items():
        for target, line in imported_names(name, path, files):
            inside = _containing(target, files)
            if inside is None:
                external[name].setdefault(target.split(".")[0], line)
            elif inside != name:
                edges[name].setdefault(inside, line)
    return Graph(files, edges, external)


def read_layers(markdown: pathlib.Path) -> list[tuple[str, list[str]]]:
    """``[(layer name, [entries])]`` top to bottom, from the table after ``LAYER_MARKER``.

    A row is ``| number | name | `entry` `entry` ... | anything |``; the numbers must run 1, 2, 3, ...
    """
    text = markdown.read_text()
    assert text.count(LAYER_MARKER) == 1, f"{markdown.name}: exactly one '{LAYER_MARKER} ...' marker expected"
    rows = []
    for line in text.split(LAYER_MARKER, 1)[1].splitlines()[1:]:
        if not line.strip():
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not cells[0].isdigit():
            continue  # header or separator row
        assert int(cells[0]) == len(rows) + 1, f"layer table: row {cells[0]!r} out of order"
        rows.append((cells[1], [e.strip("/") for e in re.findall(r"`([^`]+)`", cells[2])]))
    entries = [e for _, es in rows for e in es]
    assert len(entries) == len(set(entries)), f"layer table: an entry is listed twice: {entries}"
    return rows


def layer_of(module: str, layers: list[tuple[str, list[str]]]) -> int | None:
    """Index (0 = top) of the layer whose most specific entry covers ``module``; None if none does."""
    rel = module.partition(".")[2].replace(".", "/") or "__init__"
    best, best_len = None, -1
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            if (rel == entry or rel.startswith(entry + "/")) and len(entry) > best_len:
                best, best_len = index, len(entry)
    return best


def unassigned(graph: Graph, layers) -> list[str]:
    return [m for m in graph.files if layer_of(m, layers) is None]


def upward_imports(graph: Graph, layers) -> list[str]:
    """Every import of a module of a higher layer, as one readable line each."""
    found = []
    for src, targets in graph.edges.items():
        for dst, line in targets.items():
            a, b = layer_of(src, layers), layer_of(dst, layers)
            if a is not None and b is not None and b < a:
                found.append(f"{src} -> {dst} (line {line}: layer {a + 1} '{layers[a][0]}' "
                             f"imports layer {b + 1} '{layers[b][0]}')")
    return sorted(found)


def circles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges) + 100))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def reaches(edges: dict[str, dict[str, int]], start: str, forbidden) -> list[str]:
    """Import chains ``start -> ... -> m`` to every module ``m`` with ``forbidden(m)`` (shortest first found)."""
    chains, seen, frontier = [], {start}, [[start]]
    while frontier:
        chain = frontier.pop(0)
        for nxt in sorted(edges.get(chain[-1], ())):
            if nxt in seen:
                continue
            seen.add(nxt)
            if forbidden(nxt):
                chains.append(" -> ".join(chain + [nxt]))
            else:
                frontier.append(chain + [nxt])
    return chains


# --------------------------------------------------------------------------- memsim itself


@pytest.fixture(scope="module")
def graph() -> Graph:
    return module_graph(ROOT)


@pytest.fixture(scope="module")
def layers():
    return read_layers(ARCHITECTURE)


def test_architecture_lists_the_layers(layers):
    assert len(layers) >= 7, f"ARCHITECTURE.md lists {len(layers)} layers; at least 7 expected"
    assert all(entries for _, entries in layers), "every layer row names its modules"


def test_every_module_has_a_layer(graph, layers):
    assert unassigned(graph, layers) == [], "modules in no layer of ARCHITECTURE.md"


def test_no_import_from_a_higher_layer(graph, layers):
    found = upward_imports(graph, layers)
    assert not found, "imports from a higher layer:\n" + "\n".join(found)


def test_no_import_circles(graph):
    found = circles(graph.edges)
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_memsim_is_light():
    mods = _modules_after("import memsim")
    assert "cupy" not in mods and "matplotlib" not in mods and "torch" not in mods
    assert "numba" not in mods  # so no kernel is compiled at import either


def test_numba_imported_only_under_backends_numba():
    # text search: also catches generated kernel source written as a string
    pattern = re.compile(r"^\s*(import numba|from numba)", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if pattern.search(p.read_text()) and "backends/numba" not in p.as_posix()]
    assert offenders == []


@pytest.mark.parametrize("library, home", [("numba", "memsim.backends.numba"), ("cupy", "memsim.backends.cupy")])
def test_gpu_and_jit_libraries_imported_only_in_their_backend(graph, library, home):
    offenders = [f"{m} (line {ext[library]})" for m, ext in graph.external.items()
                 if library in ext and not (m == home or m.startswith(home + "."))]
    assert offenders == [], f"{library} imported outside {home}"


COMPARISON_SIDE = ("memsim.compare", "memsim.analysis", "memsim.network_math")
SIMULATOR = ("memsim.models", "memsim.backends", "memsim.workflows")


def _under(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_comparison_side_does_not_import_the_simulator(graph):
    """compare/, analysis/ and network_math read recorded statistics and device formulas only:
    no import chain from them reaches the models, the backends or the workflows (nor the root
    package, whose ``__init__`` imports the Tile)."""
    chains = [chain for m in graph.files if _under(m, COMPARISON_SIDE)
              for chain in reaches(graph.edges, m, lambda t: t == "memsim" or _under(t, SIMULATOR))]
    assert not chains, "the comparison side imports the simulator:\n" + "\n".join(chains)


# --------------------------------------------------------------------------- negative controls


def _write(root: pathlib.Path, files: dict[str, str]) -> None:
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


@pytest.fixture()
def synthetic(tmp_path):
    """A package ``fake`` with one of each fault, and its own layer table."""
    _write(tmp_path, {
        "fake/__init__.py": "from .pkg import helper\n",
        "fake/high.py": "THING = 1\n",
        "fake/low.py": "def lazy():\n    from .high import THING  # upward, inside a function\n    return THING\n",
        "fake/low2.py": "import fake.high  # upward, absolute, at module level\n",
        "fake/a.py": "from . import b\nX = 1\n",
        "fake/b.py": "def f():\n    from .a import X  # closes the circle a -> b -> a\n    return X\n",
        "fake/pkg/__init__.py": "from .sub import helper  # an __init__ importing its submodule: no circle\n",
        "fake/pkg/sub.py": "from .. import low\nhelper = 2\n",
        "fake/ring/__init__.py": "from .part import Y\nZ = 1\n",
        "fake/ring/part.py": "from . import Z  # defined by the __init__ that imports us: a circle\nY = 2\n",
        "fake/orphan.py": "import os\n",
        "ARCHITECTURE.md": f"""\
            # Fake

            {LAYER_MARKER}: read by the test -->
            | # | layer | modules | what |
            |---|---|---|---|
            | 1 | top | `__init__` `high` | x |
            | 2 | middle | `a` `b` `pkg/` `ring/` | x |
            | 3 | base | `low` `low2` | x |

            | 9 | another table | `orphan` | not read |
            """,
    })
    return module_graph(tmp_path / "fake"), read_layers(tmp_path / "ARCHITECTURE.md")


def test_checker_resolves_imports(synthetic):
    graph, _ = synthetic
    assert graph.edges["fake"] == {"fake.pkg": 1}
    assert graph.edges["fake.low"] == {"fake.high": 2}  # found inside the function
    assert graph.edges["fake.pkg.sub"] == {"fake.low": 1}  # `from .. import low`: the submodule, not `fake`
    assert graph.edges["fake.pkg"] == {"fake.pkg.sub": 1}
    assert graph.edges["fake.ring.part"] == {"fake.ring": 1}  # `from . import Z`: the package itself
    assert graph.external["fake.orphan"] == {"os": 1}


def test_checker_reads_the_layer_table(synthetic):
    _, layers = synthetic
    assert layers == [("top", ["__init__", "high"]), ("middle", ["a", "b", "pkg", "ring"]),
                      ("base", ["low", "low2"])]
    assert layer_of("fake", layers) == 0 and layer_of("fake.pkg.sub", layers) == 1
    assert layer_of("fake.lowest", layers) is None  # `low` covers low.py and low/, not every name starting so


def test_checker_flags_upward_imports(synthetic):
    graph, layers = synthetic
    found = upward_imports(graph, layers)
    assert [line.split(" (")[0] for line in found] == ["fake.low -> fake.high", "fake.low2 -> fake.high"]


def test_checker_flags_circles(synthetic):
    graph, _ = synthetic
    assert circles(graph.edges) == [["fake.a", "fake.b"], ["fake.ring", "fake.ring.part"]]


def test_checker_flags_unassigned_modules(synthetic):
    graph, layers = synthetic
    assert unassigned(graph, layers) == ["fake.orphan"]
