"""The formula subset device physics is written in, and its checker.

A device formula is a plain function (a ``staticmethod`` of the model) whose body is a sequence of
assignments to local names followed by exactly one ``return``. Expressions may use:

* numbers, ``True``/``False``, the function's arguments and earlier local names;
* ``+ - * / **``, unary ``-``/``+``/``not``, ``and``/``or``, comparisons, ``a if c else b``;
* calls to ``min``, ``max``, ``abs`` and ``math.exp``, ``math.log``, ``math.sqrt``, ``math.tanh``,
  ``math.pow``, ``math.floor`` (an integer in Python and Numba, an integer-valued double in CUDA).

Arguments are float64 except ``up`` and arguments annotated ``bool`` (``def f(w, up: bool, on: bool)``);
a function annotated ``-> bool`` returns a boolean (the generic pulse law of
:mod:`memsim.physics.pulse_law` uses both; device formulas return a float).

That is enough for every standard device and small enough that the Numba backend compiles it as is
and a CUDA translator can emit it line by line. :func:`check_formula` raises
:class:`FormulaError` naming the formula, the line and the construct for anything else.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

from ...errors import ConfigError

__all__ = ["FormulaError", "check_formula", "check_formula_source", "formula_source", "compile_formula",
           "ALLOWED_CALLS", "ALLOWED_MATH"]

ALLOWED_CALLS = frozenset({"min", "max", "abs"})
ALLOWED_MATH = frozenset({"exp", "log", "sqrt", "tanh", "pow", "floor"})
_ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Name,
    ast.Constant, ast.Load, ast.Attribute,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)


class FormulaError(ConfigError):
    """A device formula uses something outside the documented subset."""


def formula_source(func) -> str:
    """The dedented source of ``func`` without decorators (``def name(...): ...``).

    Parameters
    ----------
    func : callable
        A formula function.

    Returns
    -------
    str
        Its source text.
    """
    src = textwrap.dedent(inspect.getsource(func))
    tree = ast.parse(src)
    fn = tree.body[0]
    first = fn.lineno - 1  # decorators come before the def line
    return "\n".join(src.splitlines()[first:]) + "\n"


def check_formula(func) -> ast.FunctionDef:
    """Check that ``func`` is written in the formula subset; return its parsed definition.

    Parameters
    ----------
    func : callable
        A formula function (e.g. a device's ``mean_step``).

    Returns
    -------
    ast.FunctionDef
        The parsed definition.

    Raises
    ------
    FormulaError
        Naming the formula, the line (relative to the ``def``) and the offending construct.
    """
    return check_formula_source(formula_source(func), getattr(func, "__qualname__", None))


def check_formula_source(src: str, name: str | None = None) -> ast.FunctionDef:
    """Like :func:`check_formula`, for formula source text (generated formulas).

    Parameters
    ----------
    src : str
        Source text of one ``def``.
    name : str or None
        Name used in error messages; ``None``: the function's name.

    Returns
    -------
    ast.FunctionDef
        The parsed definition.
    """
    fn = ast.parse(src).body[0]
    name = name or getattr(fn, "name", "<formula>")

    def fail(node, what):
        line = src.splitlines()[node.lineno - 1].strip() if hasattr(node, "lineno") else ""
        raise FormulaError(f"Device formula {name} uses {what} at line {getattr(node, 'lineno', '?')}: "
                           f"{line!r}. Allowed: assignments to local names, one final return, "
                           "arithmetic, comparisons, 'a if c else b', min/max/abs and "
                           "math.exp/log/sqrt/tanh/pow/floor (memsim/physics/devices/formula.py).")

    if not isinstance(fn, ast.FunctionDef) or fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs \
            or fn.args.defaults:
        fail(fn, "a signature other than plain positional arguments")
    *assigns, last = fn.body
    if not isinstance(last, ast.Return) or last.value is None:
        fail(last, "a body that does not end in one 'return <expression>'")
    for stmt in assigns:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue  # docstring
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            fail(stmt, f"the statement {type(stmt).__name__}")
        _check_expr(stmt.value, fail)
    _check_expr(last.value, fail)
    return fn


def _check_expr(expr: ast.AST, fail) -> None:
    for node in ast.walk(expr):
        if not isinstance(node, _ALLOWED_NODES):
            fail(node, f"the construct {type(node).__name__}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, bool)):
            fail(node, f"the constant {node.value!r}")
        if isinstance(node, ast.Call):
            f = node.func
            ok = (isinstance(f, ast.Name) and f.id in ALLOWED_CALLS) or (
                isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "math"
                and f.attr in ALLOWED_MATH)
            if not ok or node.keywords:
                fail(node, f"the call {ast.unparse(f)}(...)")
        if isinstance(node, ast.Attribute) and not (isinstance(node.value, ast.Name) and node.value.id == "math"
                                                    and node.attr in ALLOWED_MATH):
            fail(node, f"the attribute {ast.unparse(node)}")


def compile_formula(src: str):
    """Check generated formula source and turn it into a Python function (``math`` in scope).

    Parameters
    ----------
    src : str
        Source text of one ``def`` in the formula subset.

    Returns
    -------
    callable
        The compiled function.
    """
    import math

    fn = check_formula_source(src)
    namespace = {"math": math}
    exec(compile(src, f"<memsim formula {fn.name}>", "exec"), namespace)  # noqa: S102 - checked subset only
    return namespace[fn.name]
