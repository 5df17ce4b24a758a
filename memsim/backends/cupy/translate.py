"""Translate a device formula (the Python subset of :mod:`memsim.physics.devices.formula`) into a CUDA ``__device__`` function.

The translator walks the Python ``ast`` (no regular expressions) after :func:`check_formula` has
accepted the formula, so the physics is written once, in Python, and the CUDA code is derived
from it. The emitted C is chosen to give **the same float64 results as Numba** on the same
formula, operation for operation (the kernels are compiled without FMA contraction,
``--fmad=false``):

=============================  ==================================================================
Python (as Numba runs it)      CUDA C emitted
=============================  ==================================================================
float literal ``0.5``          ``0.5`` (``repr``, round-trips exactly; non-finite literals rejected)
int literal ``2``              ``2.0`` (a double; integers beyond ``2**53`` are rejected)
``True`` / ``False``           ``true`` / ``false``
``a+b``, ``-``, ``*``, ``/``   ``(a + b)`` ... fully parenthesised, left to right; a ``bool``
                               operand is cast, ``((double)up)``, so arithmetic is never integer
``a ** k`` (``k`` an integer)  ``ms_powi(a, k)``: Numba's exponentiation by squaring
                               (``r = 1; while k: if k & 1: r *= a; k >>= 1; a *= a``, then
                               ``1.0 / r`` for ``k < 0``; ``pow`` beyond ``|k| > 65536``)
``a ** b`` (``b`` a float)     ``pow(a, b)``
``math.pow(a, b)``             as ``a ** b`` (Numba lowers ``math.pow(float, int)`` to the same
                               integer power)
``-a``, ``+a``, ``not a``      ``(-a)``, ``(+a)``, ``(!a)``
``a < b <= c``                 ``((a < b) && (b <= c))``
``a and b``, ``a or b``        ``(a && b)`` / ``(a || b)`` when both are ``bool``; otherwise
                               Python's value semantics ``(a ? b : a)`` / ``(a ? a : b)``
``a if c else b``              ``(c ? a : b)`` (only the taken branch is evaluated, as in Python)
``max(a, b, ...)``             ``ms_max(ms_max(a, b), ...)`` with ``ms_max(acc, v) = v > acc ? v : acc``
``min(a, b, ...)``             ``ms_min(...)`` with ``ms_min(acc, v) = v < acc ? v : acc``
``abs(a)``                     ``fabs(a)``
``math.exp/log/sqrt/tanh``     ``exp/log/sqrt/tanh``
``math.floor(a)``              ``floor(a)`` (integer-valued: an ``int`` expression, see below)
``x = expr``                   ``double x = expr;`` (``bool`` for boolean expressions); a second
                               assignment to the same name is a plain ``x = expr;``
``return expr``                ``return expr;`` (as a double)
=============================  ==================================================================

``min``/``max`` follow Python and Numba exactly, not C's ``fmin``/``fmax``: Numba reduces the
arguments left to right with ``v > acc ? v : acc``. So on ties the *first* argument is returned
(``max(0.0, -0.0)`` is ``0.0``, ``max(-0.0, 0.0)`` is ``-0.0``), and NaN propagates only from the
first argument (``max(nan, 1.0)`` is NaN, ``max(1.0, nan)`` is ``1.0``); ``fmax`` would return
``1.0`` for both and may return either zero.

Remaining differences from Numba (documented, not hidden):

* ``exp``, ``log``, ``tanh`` and a non-integer ``pow`` come from CUDA's libdevice on the GPU
  (errors up to 1-2 ulp) and from glibc on the CPU; ``sqrt`` and ``+ - * /`` are IEEE exact on both.
* Division by zero: Numba (``error_model='python'``) raises ``ZeroDivisionError``; CUDA returns
  ``inf``/``nan``. Guard divisions with ``a if b != 0.0 else c`` as the formulas do.
* Integer-valued expressions are evaluated in double precision (exact below ``2**53``);
  ``int ** negative int`` gives the Python value ``1 / a**k``, where Numba's integer power would
  return 0.

Types: the argument named ``up`` and arguments annotated ``bool`` are ``bool``, every other
argument is ``double``; the function returns ``double``, or ``bool`` when annotated ``-> bool``
(the pulse law of :mod:`memsim.physics.pulse_law`). Each local has
one type (``bool``, ``int`` or ``double``); rebinding a name with an expression of another type is
rejected, as are unknown names. Rejections raise :class:`TranslationError` (a
:class:`~memsim.physics.devices.formula.FormulaError`) naming the formula and the line, in the same form
as :func:`~memsim.physics.devices.formula.check_formula`.
"""

from __future__ import annotations

import ast
import hashlib
import linecache
import math

from ...physics.devices.formula import FormulaError, check_formula, formula_source

__all__ = ["TranslationError", "translate_formula", "translate_source", "translate_device", "device_formulas",
           "device_function_name", "function_from_source", "HELPERS_SOURCE", "C_RESERVED"]

_BOOL, _INT, _DOUBLE = "bool", "int", "double"
_RANK = {_BOOL: 0, _INT: 1, _DOUBLE: 2}

#: Names that cannot be used as C identifiers in the generated function (C/C++/CUDA keywords,
#: the math functions and helpers the translation emits); a formula name in this set gets a
#: trailing underscore.
C_RESERVED = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t
class compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield
decltype default delete do double dynamic_cast else enum explicit export extern false float for friend
goto if inline int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private
protected public register reinterpret_cast requires restrict return short signed sizeof static
static_assert static_cast struct switch template this thread_local throw true try typedef typeid
typename union unsigned using virtual void volatile wchar_t while xor xor_eq main NULL
exp log sqrt tanh pow fabs floor ceil sin cos tan fmin fmax fma abs min max
threadIdx blockIdx blockDim gridDim warpSize weight_t
""".split())

#: ``__device__`` helpers every translated formula may call (pasted once into each kernel source).
HELPERS_SOURCE = r"""
/* Python/Numba semantics of max/min on floats: reduce left to right, keep the first on ties. */
__device__ __forceinline__ double ms_max(double acc, double v) { return v > acc ? v : acc; }
__device__ __forceinline__ double ms_min(double acc, double v) { return v < acc ? v : acc; }

/* Numba's float ** integer: exponentiation by squaring (numba/cpython/numbers.py, int_power). */
__device__ __forceinline__ double ms_powi(double a, long long b)
{
    const bool invert = b < 0;
    unsigned long long e = invert ? (unsigned long long)(-b) : (unsigned long long)b;
    if (e > 0x10000ull) {
        return pow(a, (double)b);
    }
    double r = 1.0;
    while (e != 0ull) {
        if (e & 1ull) {
            r = r * a;
        }
        e >>= 1;
        a = a * a;
    }
    return invert ? 1.0 / r : r;
}
"""


class TranslationError(FormulaError):
    """A device formula passes :func:`check_formula` but cannot be translated to CUDA."""


def device_function_name(device, formula: str = "mean_step") -> str:
    """Name of the ``__device__`` function of one formula of a model: ``ms_<formula>_<kind>``.

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice or type
        A device instance or model class.
    formula : str
        The formula's name.

    Returns
    -------
    str
        The C function name.
    """
    return f"ms_{formula}_{device.kind}"


def device_formulas(device) -> dict[str, str]:
    """Source text of each formula the kernels call, in order: ``{"mean_step": ..., "step_spread": ...}``.

    ``device`` is a model instance (its ``formula_sources()``, which may be generated per instance) or a
    model class (its default instance). A model without ``step_spread`` gets the constant 1.

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice or type
        A device instance or model class.

    Returns
    -------
    dict of {str: str}
        Formula name -> source text.
    """
    if isinstance(device, type):
        device = device()
    if hasattr(device, "formula_sources"):
        sources = dict(device.formula_sources())
    else:  # pragma: no cover - models before step_spread existed
        sources = {"mean_step": formula_source(type(device).mean_step)}
    if "step_spread" not in sources:  # pragma: no cover - see above
        args = ", ".join(("w", "up") + tuple(device.cell_parameters))
        sources["step_spread"] = f"def step_spread({args}):\n    return 1.0\n"
    return sources


def translate_device(device) -> str:
    """The CUDA ``__device__`` functions of every formula of a model (instance or class), in order.

    Parameters
    ----------
    device : memsim.physics.devices.base.PulsedDevice or type
        A device instance or model class.

    Returns
    -------
    str
        The CUDA source of the functions.
    """
    kind = device.kind
    owner = device.__name__ if isinstance(device, type) else type(device).__name__
    return "\n".join(translate_source(src, device_function_name(device, name), label=f"{kind}: {owner}.{name}")
                     for name, src in device_formulas(device).items())


def function_from_source(source: str, namespace: dict | None = None):
    """A function object from formula source text, whose source ``inspect`` can read back.

    The text is registered in ``linecache`` under a name derived from its hash, so
    :func:`~memsim.physics.devices.formula.check_formula` (which reads a function's source) checks it as it
    would a model's static method.

    Parameters
    ----------
    source : str
        Formula source text (``def f(...): ...``).
    namespace : dict or None
        Extra globals of the function (``math`` is always there).

    Returns
    -------
    callable
        The function.
    """
    import math as _math

    filename = f"<memsim formula {hashlib.sha256(source.encode()).hexdigest()[:16]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scope = {"math": _math, **(namespace or {})}
    local: dict = {}
    exec(compile(source, filename, "exec"), scope, local)
    funcs = [v for v in local.values() if callable(v)]
    if len(funcs) != 1:
        raise FormulaError(f"formula source must define exactly one function; got {sorted(local)}")
    return funcs[0]


def translate_source(source: str, name: str, label: str | None = None) -> str:
    """:func:`translate_formula` for formula source text (``def f(...): ...``), e.g. generated per instance.

    Parameters
    ----------
    source : str
        Formula source text.
    name : str
        The C function name.
    label : str or None
        First-line comment.

    Returns
    -------
    str
        The CUDA function.
    """
    return translate_formula(function_from_source(source), name, label)


def translate_formula(func, name: str, label: str | None = None) -> str:
    """Translate a formula function to the text of a CUDA ``__device__`` function.

    Parameters
    ----------
    func : function
        Written in the formula subset; the argument named ``up`` is boolean, the others double.
    name : str
        The C function name.
    label : str, optional
        First-line comment (default: the function's qualified name).

    Returns
    -------
    str
        The CUDA function.

    Raises
    ------
    FormulaError
        From :func:`check_formula` (constructs outside the subset).
    TranslationError
        For formulas the subset allows but C cannot express faithfully (module docstring).
    """
    fn = check_formula(func)
    return _Translator(func, fn, name, label).run()


class _Translator:
    def __init__(self, func, fn: ast.FunctionDef, cname: str, label: str | None):
        self.func = func
        self.fn = fn
        self.cname = cname
        self.src = formula_source(func)
        self.qualname = getattr(func, "__qualname__", fn.name)
        self.label = label or self.qualname
        self.types: dict[str, str] = {}
        self.cnames: dict[str, str] = {}

    # ------------------------------------------------------------------ errors
    def fail(self, node, what: str):
        lineno = getattr(node, "lineno", None)
        line = self.src.splitlines()[lineno - 1].strip() if lineno else ""
        raise TranslationError(
            f"Device formula {self.qualname} cannot be translated to CUDA: {what} at line {lineno or '?'}: "
            f"{line!r}. See memsim/backends/cupy/translate.py for the translated subset.")

    # ------------------------------------------------------------------ names
    def declare(self, node, pyname: str, typ: str) -> str:
        cname = pyname
        while cname in C_RESERVED or cname.startswith("ms_") or cname in self.cnames.values():
            cname += "_"
        self.cnames[pyname] = cname
        self.types[pyname] = typ
        return cname

    # ------------------------------------------------------------------ function
    def run(self) -> str:
        params = []
        for arg in self.fn.args.args:
            if arg.arg in self.cnames:
                self.fail(arg, f"the repeated argument {arg.arg!r}")
            typ = _BOOL if arg.arg == "up" or self.is_bool(arg, arg.annotation) else _DOUBLE
            cname = self.declare(arg, arg.arg, typ)
            params.append(f"{'bool' if typ == _BOOL else 'double'} {cname}")
        body = []
        *stmts, last = self.fn.body
        for stmt in stmts:
            if isinstance(stmt, ast.Expr):  # the docstring (check_formula allows nothing else)
                continue
            target = stmt.targets[0].id
            code, typ = self.expr(stmt.value)
            if target in self.types:
                if self.types[target] != typ:
                    self.fail(stmt, f"rebinding {target!r} ({self.types[target]}) to a {typ} expression")
                body.append(f"    {self.cnames[target]} = {code};")
            else:
                cname = self.declare(stmt, target, typ)
                body.append(f"    {'bool' if typ == _BOOL else 'double'} {cname} = {code};")
        code, typ = self.expr(last.value)
        returns_bool = self.is_bool(self.fn, self.fn.returns)
        if returns_bool and typ != _BOOL:
            self.fail(last, f"a {typ} return value in a function annotated '-> bool'")
        body.append(f"    return {code if returns_bool else self.as_double(code, typ)};")
        head = (f"/* {self.label} (translated from Python by memsim.backends.cupy.translate) */\n"
                f"__device__ __forceinline__ {'bool' if returns_bool else 'double'} {self.cname}"
                f"({', '.join(params)})\n{{\n")
        return head + "\n".join(body) + "\n}\n"

    def is_bool(self, node, annotation) -> bool:
        """Whether an argument or return annotation says ``bool`` (no annotation: False)."""
        if annotation is None:
            return False
        if isinstance(annotation, ast.Name) and annotation.id == "bool":
            return True
        self.fail(node, f"the annotation {ast.unparse(annotation)!r} (only 'bool' is translated)")

    # ------------------------------------------------------------------ expressions
    @staticmethod
    def as_double(code: str, typ: str) -> str:
        return f"((double){code})" if typ == _BOOL else code

    @staticmethod
    def join(*types: str) -> str:
        return max(types, key=_RANK.__getitem__)

    def int_constant(self, node):
        """The value of an integer literal, folding unary signs as CPython does; else None."""
        sign = 1
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -sign if isinstance(node.op, ast.USub) else sign
            node = node.operand
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return sign * node.value
        return None

    def power(self, node, base: ast.AST, exponent: ast.AST, float_base: bool = False) -> tuple[str, str]:
        b_code, b_typ = self.expr(base)
        if float_base:  # math.pow converts its first argument to float64
            b_code, b_typ = self.as_double(b_code, b_typ), _DOUBLE
        e_code, e_typ = self.expr(exponent)
        k = self.int_constant(exponent)
        if k is not None:
            if b_typ != _DOUBLE and k < 0:
                self.fail(node, "an integer raised to a negative integer literal (Numba's integer power "
                          "differs from Python's)")
            return f"ms_powi({self.as_double(b_code, b_typ)}, {k}LL)", (_INT if b_typ != _DOUBLE else _DOUBLE)
        if e_typ in (_INT, _BOOL):
            return f"ms_powi({self.as_double(b_code, b_typ)}, (long long)({e_code}))", _DOUBLE
        return f"pow({self.as_double(b_code, b_typ)}, {e_code})", _DOUBLE

    def expr(self, node) -> tuple[str, str]:
        """C code and type (``bool``/``int``/``double``) of an expression."""
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return ("true" if v else "false"), _BOOL
            if isinstance(v, int):
                if abs(v) > 2 ** 53:
                    self.fail(node, f"the integer literal {v} (not exactly representable as a double)")
                return repr(float(v)), _INT
            if not math.isfinite(v):
                self.fail(node, f"the non-finite literal {v!r}")
            return repr(float(v)), _DOUBLE
        if isinstance(node, ast.Name):
            if node.id not in self.types:
                self.fail(node, f"the name {node.id!r} before any assignment to it")
            return self.cnames[node.id], self.types[node.id]
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                return self.power(node, node.left, node.right)
            (lc, lt), (rc, rt) = self.expr(node.left), self.expr(node.right)
            op = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}[type(node.op)]
            typ = _DOUBLE if isinstance(node.op, ast.Div) else (_INT if _DOUBLE not in (lt, rt) else _DOUBLE)
            return f"({self.as_double(lc, lt)} {op} {self.as_double(rc, rt)})", typ
        if isinstance(node, ast.UnaryOp):
            code, typ = self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return f"(!{code})", _BOOL
            op = "-" if isinstance(node.op, ast.USub) else "+"
            return f"({op}{self.as_double(code, typ)})", (_DOUBLE if typ == _DOUBLE else _INT)
        if isinstance(node, ast.BoolOp):
            parts = [self.expr(v) for v in node.values]
            if all(t == _BOOL for _, t in parts):
                op = " && " if isinstance(node.op, ast.And) else " || "
                return "(" + op.join(c for c, _ in parts) + ")", _BOOL
            typ = self.join(*(t for _, t in parts))
            code = self.as_double(*parts[-1]) if typ == _DOUBLE else parts[-1][0]
            for c, t in reversed(parts[:-1]):  # Python returns the deciding operand itself
                c_val = self.as_double(c, t) if typ == _DOUBLE else c
                code = f"({c} ? {code} : {c_val})" if isinstance(node.op, ast.And) else f"({c} ? {c_val} : {code})"
            return code, typ
        if isinstance(node, ast.Compare):
            ops = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
            left = self.expr(node.left)
            terms = []
            for op, comp in zip(node.ops, node.comparators):
                right = self.expr(comp)
                terms.append(f"({self.as_double(*left)} {ops[type(op)]} {self.as_double(*right)})")
                left = right
            return (terms[0] if len(terms) == 1 else "(" + " && ".join(terms) + ")"), _BOOL
        if isinstance(node, ast.IfExp):
            (tc, _), (ac, at), (bc, bt) = self.expr(node.test), self.expr(node.body), self.expr(node.orelse)
            typ = self.join(at, bt)
            if typ == _DOUBLE:
                ac, bc = self.as_double(ac, at), self.as_double(bc, bt)
            return f"({tc} ? {ac} : {bc})", typ
        if isinstance(node, ast.Call):
            return self.call(node)
        self.fail(node, f"the construct {type(node).__name__}")  # pragma: no cover - check_formula first

    def call(self, node: ast.Call) -> tuple[str, str]:
        f = node.func
        fname = f.id if isinstance(f, ast.Name) else f"math.{f.attr}"
        args = [self.expr(a) for a in node.args]
        if fname in ("min", "max"):
            if len(args) < 2:
                self.fail(node, f"{fname}() with fewer than two arguments")
            helper = "ms_" + fname
            code = self.as_double(*args[0])
            for c, t in args[1:]:
                code = f"{helper}({code}, {self.as_double(c, t)})"
            typ = self.join(*(t for _, t in args))
            return code, (_INT if typ == _BOOL else typ)
        expected = 2 if fname == "math.pow" else 1
        if len(args) != expected:
            self.fail(node, f"{fname}() with {len(args)} arguments (expected {expected})")
        if fname == "abs":
            code, typ = args[0]
            return f"fabs({self.as_double(code, typ)})", (_DOUBLE if typ == _DOUBLE else _INT)
        if fname == "math.pow":
            code, _ = self.power(node, node.args[0], node.args[1], float_base=True)
            return code, _DOUBLE
        if fname == "math.floor":  # an integer in Python and Numba: an integer-valued double here
            return f"floor({self.as_double(*args[0])})", _INT
        cfunc = {"math.exp": "exp", "math.log": "log", "math.sqrt": "sqrt", "math.tanh": "tanh"}[fname]
        return f"{cfunc}({self.as_double(*args[0])})", _DOUBLE
