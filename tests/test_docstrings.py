"""Every public name of memsim has numpydoc Parameters / Returns sections that numpydoc accepts.

What is checked:

* Every module of the ``memsim`` package (found with :func:`pkgutil.walk_packages`) is imported. A
  module that cannot be imported because an optional dependency is missing (``cupy``, ``torch``) is
  skipped and named in the report; any other import error fails the test.
* Every name listed in a module's ``__all__`` is resolved. A function or class is validated where it
  is defined (a name re-exported by a package is validated once, under its defining module). For a
  class, the public methods, class/static methods and properties written in the class body itself
  (not inherited) are validated too; the class's own Parameters section documents its constructor
  (dataclass fields included).
* Each object goes through :func:`numpydoc.validate.validate`; the test fails on the error codes in
  ``CHECKED`` below: PR01-PR10 (Parameters: every parameter documented, none unknown, in signature
  order, each with a type not ending in a period, the preferred type names ``int`` / ``bool`` /
  ``str``, a description that starts with a capital letter and ends with a period, a space before the
  colon) and RT01-RT05 (Returns: present when a function returns a value, the type alone on the first
  line of a single return, a description that starts with a capital letter and ends with a period).
  A warning numpydoc raises while parsing a docstring (a malformed section) fails the test as well,
  and so does an object without any docstring (GL08; numpydoc checks nothing else then), unless it is
  a method that inherits the docstring of the method it overrides.

All failures are collected and reported in one assertion message.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

import memsim  # noqa: E402

#: numpydoc error codes this test fails on (Parameters and Returns sections).
CHECKED = frozenset([f"PR{n:02d}" for n in range(1, 11)] + [f"RT{n:02d}" for n in range(1, 6)])

#: Optional dependencies: a module whose import fails for lack of one of these is skipped.
OPTIONAL = frozenset({"cupy", "cupyx", "torch"})


def _modules() -> tuple[list, dict[str, str]]:
    """Import every memsim module: the modules, and the skipped ones with the reason."""
    modules, skipped = [memsim], {}
    for info in pkgutil.walk_packages(memsim.__path__, prefix="memsim."):
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError as exc:  # ModuleNotFoundError included
            root = (getattr(exc, "name", None) or "").split(".")[0]
            if root in OPTIONAL:
                skipped[info.name] = f"needs {root}"
                continue
            raise
    return modules, skipped


def _class_members(cls: type) -> list[str]:
    """Public methods and properties written in the body of ``cls`` (not inherited)."""
    names = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod, property)) or inspect.isfunction(value):
            names.append(name)
    return names


def _public_objects() -> tuple[dict[str, object], dict[str, str]]:
    """Dotted name (where defined) -> object, for every function/class in an ``__all__``, plus methods."""
    modules, skipped = _modules()
    found: dict[str, object] = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isfunction(inspect.unwrap(obj)) or inspect.isclass(obj)):
                continue  # constants, the version string (a decorated function counts)
            where = getattr(obj, "__module__", None) or module.__name__
            if not where.startswith("memsim"):
                continue  # a re-exported name from another package
            dotted = f"{where}.{obj.__qualname__}"
            found[dotted] = obj
            if inspect.isclass(obj):
                for member in _class_members(obj):
                    found[f"{dotted}.{member}"] = getattr(obj, member, None)
    return found, skipped


def _problems(dotted: str, obj: object) -> list[str]:
    """The checked numpydoc errors of one object, as report lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = numpydoc_validate.validate(dotted)
    lines = [f"{dotted}: {code} {message}" for code, message in result["errors"] if code in CHECKED]
    if inspect.getdoc(obj) is None:  # numpydoc checks nothing else then (an override inherits its base's)
        lines.append(f"{dotted}: GL08 The object does not have a docstring (nor inherits one)")
    lines += [f"{dotted}: numpydoc warning: {w.message}" for w in caught]
    return lines


def test_public_docstrings_have_valid_parameters_and_returns():
    """PR01-PR10 and RT01-RT05 hold for every public function, class, method and property."""
    objects, skipped = _public_objects()
    assert len(objects) > 100, f"only {len(objects)} public objects found: is the package walk broken?"
    failures = [line for dotted in sorted(objects) for line in _problems(dotted, objects[dotted])]
    note = "".join(f"\n  (skipped {name}: {why})" for name, why in sorted(skipped.items()))
    assert not failures, (
        f"{len(failures)} numpydoc problems in {len({f.split(': ')[0] for f in failures})} of "
        f"{len(objects)} public objects:\n" + "\n".join(failures) + note
    )
