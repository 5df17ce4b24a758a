"""The CUDA backend without a GPU: formula translation, NVRTC compilation, CPU execution of the CUDA source.

* Translator: golden outputs for every registered device formula (``tests/golden/*.cu``), a
  construct-by-construct golden, the documented rejections, and Python/Numba semantics checked
  bit for bit by running the translated C on the host.
* NVRTC (marker ``nvrtc``): every generated source compiles for compute_70/80/90, FMA contraction
  is really off, and the host emulation compiles the very same string (by hash).
* Emulation: the CUDA kernels, compiled by g++ from that string and called through ctypes
  (:class:`EmulatedCudaBackend`), give the same Philox streams, pulse counts and weights as Numba
  on sequences of ``Tile.update`` calls and on the fused ``train_linear_epochs``.
* GPU (marker ``gpu``, skipped without a device): CuPy launch, parity with Numba, a short training run.

Regenerate the golden files after an intended translator change with
``MEMSIM_UPDATE_GOLDEN=1 pytest tests/test_cuda.py -k golden`` and review the diff.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from memsim import Deterministic, StochasticRounding, Tile
from memsim.backends.cupy.codegen import (KERNEL_NAMES, RNG_KERNEL_NAMES, cell_parameter_rows, generate_rng_source,
                                          generate_source, kernel_signatures, source_sha256)
from memsim.backends.cupy.emulate import (EmulatedCudaBackend, compile_host, formula_probe, formula_probe_source,
                                          host_source)
from memsim.backends.cupy.translate import (TranslationError, device_formulas, function_from_source, translate_device,
                                            translate_formula, translate_source)
from memsim.physics.devices import DEVICE_MODELS
from memsim.physics.devices.formula import FormulaError
from memsim.errors import BackendUnavailableError
from memsim.physics.updates import PulseCoincidence

GOLDEN = pathlib.Path(__file__).parent / "golden"
ROOT = pathlib.Path(__file__).resolve().parents[1] / "memsim"
RULES = {"stochastic_rounding": StochasticRounding(), "deterministic": Deterministic(),
         "pulse_coincidence": PulseCoincidence(desired_bl=100)}  # two 64-slot words per stream
MODES = ("multiplicative", "additive", "neurosim")
DTYPES = ("float64", "float32")

# Parity tolerances against Numba (the emulation calls the same glibc log/cos/sin/exp as Numba, so in
# practice every result is bit-identical; these bounds are what the test promises).
# float64: 1e-12 relative (+1e-14 absolute for weights at 0): same float64 operations in the same order.
# float32: 1e-6 absolute (a few float32 ulps for |w| <= 1): each event is computed in float64 and
# rounded to float32 once, so an ulp-level float64 difference can move a stored weight by one float32 ulp.
RTOL64, ATOL64 = 1e-12, 1e-14
ATOL32 = 1e-6


def _tolerance(dtype):
    return dict(rtol=RTOL64, atol=ATOL64) if dtype == "float64" else dict(rtol=0.0, atol=ATOL32)


# ---------------------------------------------------------------------------------------------------------------
# formulas used to exercise the translator (module level so that inspect.getsource finds them)

def f_minmax(w, up, a, b):
    return max(w, a) - min(b, w) + max(w, a, b) * min(a, -0.0, w) + max(a, 0) + min(0.0, w)


def f_power(w, up, a, b):
    k = 3
    return w ** 2 + a ** -2 + w ** k + math.pow(a, 2) + math.pow(abs(a), b) + abs(w) ** 0.5 + abs(b) ** 2.5 + 2 ** 3


def f_logic(w, up, a, b):
    c = w > a and not up
    d = (a or b) + (w and 2.0)
    e = 1.0 if a < w <= b else -1.0
    return (d + e if c or up else d - e) + up * 0.5 + (up and w > 0) + (not a)


def f_math(w, up, a, b):
    """A docstring is allowed."""
    s = math.exp(-a * w) * math.tanh(w) - math.log(abs(b) + 1.0) + math.sqrt(abs(a))
    s = s * 2 - 1 / (1 + w * w)
    return -s if up else +s


def f_fma(w, up, a, b):
    return a * b + w


def f_reserved(w, up, double, exp):
    int = double * 2.0
    return int + exp


SYNTHETIC = [f_minmax, f_power, f_logic, f_math]

EXPECTED_CONSTRUCTS = """\
/* f_logic (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_probe(double w, bool up, double a, double b)
{
    bool c = ((w > a) && (!up));
    double d = ((a ? a : b) + (w ? 2.0 : w));
    double e = (((a < w) && (w <= b)) ? 1.0 : (-1.0));
    return (((((c || up) ? (d + e) : (d - e)) + (((double)up) * 0.5)) + ((double)(up && (w > 0.0)))) + ((double)(!a)));
}
"""

EXPECTED_RESERVED = """\
/* f_reserved (translated from Python by memsim.backends.cupy.translate) */
__device__ __forceinline__ double ms_probe(double w, bool up, double double_, double exp_)
{
    double int_ = (double_ * 2.0);
    return (int_ + exp_);
}
"""


# ---------------------------------------------------------------------------------------------------------------
# formulas the translator must reject

def bad_statement(w, up, dw_min):
    if up:
        return dw_min
    return -dw_min


def bad_call(w, up, dw_min):
    return dw_min * round(w)


def bad_unknown_name(w, up, dw_min):
    return dw_min * scale


def bad_rebind(w, up, dw_min):
    s = up
    s = 2.0 * dw_min
    return s


def bad_one_arg_max(w, up, dw_min):
    return max(w)


def bad_int_negative_power(w, up, dw_min):
    return dw_min * 2 ** -1


def bad_infinite_literal(w, up, dw_min):
    return dw_min * 1e999


REJECTED = [
    (bad_statement, FormulaError, 2, "if up:"),
    (bad_call, FormulaError, 2, "return dw_min * round(w)"),
    (bad_unknown_name, TranslationError, 2, "return dw_min * scale"),
    (bad_rebind, TranslationError, 3, "s = 2.0 * dw_min"),
    (bad_one_arg_max, TranslationError, 2, "return max(w)"),
    (bad_int_negative_power, TranslationError, 2, "return dw_min * 2 ** -1"),
    (bad_infinite_literal, TranslationError, 2, "return dw_min * 1e999"),
]


# ---------------------------------------------------------------------------------------------------------------
# translator


@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_golden_translation(kind):
    text = translate_device(DEVICE_MODELS[kind])
    path = GOLDEN / f"{kind}.cu"
    if os.environ.get("MEMSIM_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run MEMSIM_UPDATE_GOLDEN=1 pytest tests/test_cuda.py -k golden"
    assert text == path.read_text()


def test_golden_files_belong_to_registered_models():
    kinds = {p.stem for p in GOLDEN.glob("*.cu")}
    assert kinds == set(DEVICE_MODELS)


@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_every_model_translates_and_generates(kind):
    cls = DEVICE_MODELS[kind]
    assert cell_parameter_rows(cls) == cls().all_cell_parameters  # the kernels read the Tile's layout
    for dtype in DTYPES:
        src = generate_source(cls, dtype)
        assert f"ms_mean_step_{kind}(" in src and f"ms_step_spread_{kind}(" in src
        assert not re.search(r"__[A-Z][A-Z_]*__", src)  # every template placeholder filled
        assert f"typedef {'double' if dtype == 'float64' else 'float'} weight_t;" in src
        assert set(kernel_signatures(src)) == set(KERNEL_NAMES)
    assert set(kernel_signatures(generate_rng_source())) == set(RNG_KERNEL_NAMES)


def test_translation_of_every_construct():
    assert translate_formula(f_logic, "ms_probe") == EXPECTED_CONSTRUCTS
    assert translate_formula(f_reserved, "ms_probe") == EXPECTED_RESERVED
    power = translate_formula(f_power, "ms_probe")
    assert "ms_powi(w, 2LL)" in power and "ms_powi(a, -2LL)" in power and "ms_powi(w, (long long)(k))" in power
    assert "ms_powi(a, 2LL)" in power and "pow(fabs(a), b)" in power and "pow(fabs(w), 0.5)" in power
    math_ = translate_formula(f_math, "ms_probe")
    assert "exp(((-a) * w))" in math_ and "tanh(w)" in math_ and "log((fabs(b) + 1.0))" in math_
    assert "    s = ((s * 2.0) - (1.0 / (1.0 + (w * w))));" in math_ and "A docstring" not in math_


@pytest.mark.parametrize("func, error, line, text", REJECTED, ids=[r[0].__name__ for r in REJECTED])
def test_rejected_syntax(func, error, line, text):
    with pytest.raises(error) as info:
        translate_formula(func, "ms_bad")
    message = str(info.value)
    assert func.__name__ in message and f"at line {line}:" in message and repr(text) in message
    assert issubclass(TranslationError, FormulaError) and issubclass(FormulaError, ValueError)


def _python_and_numba_semantics(func, args):
    """Evaluate ``func`` elementwise with Numba; NaN where Numba raises (division by zero)."""
    numba = pytest.importorskip("numba")
    compiled = numba.njit(func)
    out = np.empty(args[0].size)
    raised = np.zeros(args[0].size, dtype=bool)
    for k, values in enumerate(zip(*args)):
        try:
            out[k] = compiled(values[0], bool(values[1]), *values[2:])
        except ZeroDivisionError:
            raised[k] = True
    return out, raised


def _same_bits(a, b):
    """Equal including the sign of zero; any NaN equals any NaN."""
    return (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))


@pytest.mark.parametrize("func", SYNTHETIC, ids=[f.__name__ for f in SYNTHETIC])
def test_translated_semantics_match_numba_bit_for_bit(func):
    """min/max ties and NaN order, -0.0, integer powers, and/or values, chained comparisons, math.*."""
    values = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 1e-300, np.nan, np.inf, -np.inf, 0.3])
    args = [a.ravel() for a in np.meshgrid(values, [0.0, 1.0], values, values, indexing="ij")]
    c = formula_probe(func)(*args)
    ref, raised = _python_and_numba_semantics(func, args)
    assert _same_bits(c, ref)[~raised].all()
    assert raised.sum() <= raised.size // 4  # only a ** -2 at a = +-0 raises in Numba (ZeroDivisionError)


@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_translated_device_formulas_match_numba_and_python(kind):
    """Every formula of every model (mean_step, step_spread), at random states, both directions, bounds at 0."""
    cls = DEVICE_MODELS[kind]
    g = np.random.default_rng(3)
    n = 4000
    names = ("w", "up") + tuple(cls.cell_parameters)
    cols = {"w": g.uniform(-1.5, 1.5, n), "up": g.integers(0, 2, n).astype(float),
            "dw_min": g.uniform(0.0, 0.01, n), "w_max": g.uniform(0.0, 1.2, n), "w_min": -g.uniform(0.0, 1.2, n)}
    cols["w_max"][:50] = 0.0  # the guarded divisions
    cols["w_min"][50:100] = 0.0
    args = [cols[name] if name in cols else g.uniform(0.0, 2.0, n) for name in names]
    for name, source in device_formulas(cls).items():
        func = function_from_source(source)
        c = formula_probe(func)(*args)
        ref, raised = _python_and_numba_semantics(func, args)
        assert not raised.any(), name
        assert _same_bits(c, ref).all(), name
        py = np.array([func(float(v[0]), bool(v[1]), *map(float, v[2:])) for v in zip(*args)])
        assert _same_bits(c, py).all(), name


def test_translate_source_text():
    """Formulas generated as text (per instance) translate like static methods and report their own lines."""
    src = "def step_spread(w, up, dw_min):\n    r = 0.5 if up else 0.25\n    return r * w\n"
    text = translate_source(src, "ms_spread")
    assert "double r = (up ? 0.5 : 0.25);" in text and "return (r * w);" in text
    with pytest.raises(TranslationError, match=r"at line 2: 'return q \* w'"):
        translate_source("def f(w, up):\n    return q * w\n", "ms_bad")


# ---------------------------------------------------------------------------------------------------------------
# NVRTC: compile every generated source for every architecture, without a GPU


def _nvrtc():
    from memsim.backends.cupy.nvrtc import load_nvrtc

    try:
        return load_nvrtc()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def _check_log(log: str, arch: str):
    lines = [line for line in log.splitlines() if line.strip()]
    allowed = "Architectures prior to '<compute/sm>_75' are deprecated"
    assert all(allowed in line for line in lines) and (not lines or arch == "compute_70"), log


@pytest.mark.nvrtc
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_nvrtc_compiles_every_kernel_source(kind, dtype):
    from memsim.backends.cupy.nvrtc import ARCHITECTURES, compile_ptx

    _nvrtc()
    src = generate_source(DEVICE_MODELS[kind], dtype)
    for arch in ARCHITECTURES:
        ptx, log = compile_ptx(src, arch)
        _check_log(log, arch)
        assert f".target sm_{arch.split('_')[1]}" in ptx
        for name in KERNEL_NAMES:
            assert re.search(rf"\.entry {name}\(", ptx), name
    # the host emulation compiles exactly this string
    module = EmulatedCudaBackend(dtype).module(DEVICE_MODELS[kind])
    assert module.source_sha256 == source_sha256(src)
    assert src in module.path.with_suffix(".cpp").read_text()


@pytest.mark.nvrtc
def test_nvrtc_compiles_rng_and_formula_probes():
    from memsim.backends.cupy.nvrtc import ARCHITECTURES, compile_ptx

    _nvrtc()
    for src in [generate_rng_source()] + [formula_probe_source(f) for f in SYNTHETIC]:
        for arch in ARCHITECTURES:
            ptx, log = compile_ptx(src, arch)
            _check_log(log, arch)
            assert ".entry" in ptx


@pytest.mark.nvrtc
def test_nvrtc_options_switch_off_fma_contraction():
    from memsim.backends.cupy.nvrtc import compile_ptx

    _nvrtc()
    src = formula_probe_source(f_fma)
    contracted, _ = compile_ptx(src, "compute_80", options=())
    plain, _ = compile_ptx(src, "compute_80")
    assert "fma.rn.f64" in contracted  # the check is meaningful: NVRTC contracts a * b + w by default
    assert "fma" not in plain and "mul.rn.f64" in plain and "add.rn.f64" in plain


@pytest.mark.nvrtc
def test_nvrtc_reports_errors_with_the_log():
    from memsim.backends.cupy.nvrtc import NvrtcError, compile_ptx

    _nvrtc()
    with pytest.raises(NvrtcError, match="undefined"):
        compile_ptx('extern "C" __global__ void k(double* x) { x[0] = undefined_name; }')


def test_cupy_backend_uses_the_same_source_as_the_emulation():
    from memsim.backends.cupy import CupyBackend
    from memsim.backends.cupy.launch import CudaKernelBackend

    for cls in (CupyBackend, EmulatedCudaBackend):
        assert issubclass(cls, CudaKernelBackend)
        assert cls.kernel_source is generate_source and cls.source_for is CudaKernelBackend.source_for
        for op in ("pulse_update", "pulse_update_dense", "train_linear_epochs", "normals"):
            assert getattr(cls, op) is getattr(CudaKernelBackend, op)
    src = generate_source(DEVICE_MODELS["soft_bounds"], "float64")
    text = host_source(src)
    assert text.count(src) == 1 and text.index(src) > 0


# ---------------------------------------------------------------------------------------------------------------
# CPU execution of the CUDA source


def _device(kind, mode, stuck=0.1):
    extra = {"gamma_up_dtod": 0.2} if kind == "linear_step" else {}
    return DEVICE_MODELS[kind](dw_min=0.004, dw_min_std=0.4, c2c_mode=mode, up_down=0.1, w_max_dtod=0.2,
                               dw_min_dtod=0.1, up_down_dtod=0.05, stuck_prob=stuck, **extra)


def _run(device, rule, backend, dtype="float64", seed=21):
    """Rank-1 and accumulated updates with and without recording, then fused training both ways
    (pulse coincidence: rank-1 only)."""
    rank1_only = rule.kind == "pulse_coincidence"
    t = Tile(7, 5, device, update=rule, backend=backend, dtype=dtype, seed=seed)
    g = np.random.default_rng(1)
    t.program(g.uniform(-0.5, 0.5, (7, 5)))
    t.update(g.uniform(-1, 1, 5), g.uniform(-1, 1, 7), lr=0.05)
    t.start_recording()
    for _ in range(3):
        t.update(g.uniform(-1, 1, (4, 5)), g.uniform(-1, 1, (4, 7)), lr=0.05)
    t.update(g.uniform(-1, 1, (3, 5)), g.uniform(-1, 1, (3, 7)), lr=0.05, accumulate=not rank1_only)
    t.update(g.uniform(-40, 40, (2, 5)), g.uniform(-1, 1, (2, 7)), lr=0.05)  # hundreds of pulses per event
    t.update(np.zeros((1, 5)), g.uniform(-1, 1, (1, 7)), lr=0.05)  # nothing requested
    t.stop_recording()
    X, Y = g.normal(size=(23, 5)), g.normal(size=(23, 7))
    order = np.stack([g.permutation(23) for _ in range(2)])
    t.train_linear_epochs(X, Y, order, [0.05, 0.02], batch_size=4, record_from=9)
    t.train_linear_epochs(X, Y, order, [0.05, 0.02], batch_size=5, accumulate=not rank1_only, record_from=0)
    return t.weights, t.statistics(), t.step


def _assert_parity(a, b, dtype):
    (w_a, s_a, step_a), (w_b, s_b, step_b) = a, b
    assert step_a == step_b
    assert w_a.dtype == w_b.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(s_a["pulses_up"], s_b["pulses_up"])
    np.testing.assert_array_equal(s_a["pulses_down"], s_b["pulses_down"])
    assert s_a["events"] == s_b["events"]
    np.testing.assert_allclose(w_a, w_b, **_tolerance(dtype))
    for key in ("sum_abs_grad", "sum_abs_grad_w", "sum_w"):
        tol = _tolerance(dtype)
        np.testing.assert_allclose(s_a[key], s_b[key], rtol=tol["rtol"], atol=tol["atol"] * max(s_a["events"], 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_emulated_cuda_matches_numba(kind, rule, mode, dtype):
    pytest.importorskip("numba")
    dev = _device(kind, mode)
    ref = _run(dev, RULES[rule], "numba", dtype)
    emu = _run(dev, RULES[rule], EmulatedCudaBackend(dtype), dtype)
    _assert_parity(emu, ref, dtype)
    s = ref[1]
    assert s["pulses_up"].sum() > 0 and s["pulses_down"].sum() > 0
    assert s["pulses_up"].max() > 100
    if rule == "pulse_coincidence":
        be = EmulatedCudaBackend(dtype)
        Tile(2, 3, dev, update=RULES[rule], backend=be).update(np.ones((2, 3)), np.ones((2, 2)), lr=0.01)
        np.testing.assert_array_equal(be.last_bl, [3, 3])  # ceil(0.01 * 1 * 1 / 0.004), like the CPU backends


def test_emulated_cuda_matches_numpy_reference():
    dev = _device("soft_bounds", "multiplicative")
    for rule in RULES.values():
        _assert_parity(_run(dev, rule, EmulatedCudaBackend()), _run(dev, rule, "numpy"), "float64")


def test_fused_training_does_not_depend_on_threads_per_block():
    """One thread per block (serial), 3 (strided columns, real barriers) and 8 (idle threads) agree exactly."""
    dev = _device("linear_step", "multiplicative")
    runs = [_run(dev, RULES["stochastic_rounding"], EmulatedCudaBackend(train_block_size=k, block_size=b))
            for k, b in ((1, 1), (3, 32), (8, 7))]
    for other in runs[1:]:
        np.testing.assert_array_equal(other[0], runs[0][0])
        for key in ("pulses_up", "pulses_down", "sum_w", "sum_abs_grad_w"):
            np.testing.assert_array_equal(other[1][key], runs[0][1][key])


def test_barrier_in_a_serial_launch_is_an_error():
    be = EmulatedCudaBackend()
    dev = _device("soft_bounds", "multiplicative")
    module = be.module(dev)
    t = Tile(2, 3, dev, backend=be)
    s = t._stats
    args = dict(w=t._weights, pc=t._cell_params, X=np.ones((2, 3)), Y=np.zeros((2, 2)),
                order=np.array([[0, 1]], dtype=np.int64), lrs=np.array([0.1]), rows=2, cols=3, n_epochs=1, n=2,
                batch=1, accumulate=0, step0=0, record_from=-1, k0=1, k1=2, rule=0, max_pulses=10, c2c=0,
                sigma=0.0, dw_nominal=0.01, n_up=s.n_up, n_down=s.n_down, s_abs=s.sum_abs_grad,
                s_absw=s.sum_abs_grad_w, s_w=s.sum_w, D=np.zeros((2, 1)), counts=np.zeros(2, dtype=np.int64))
    with pytest.raises(RuntimeError, match="__syncthreads"):
        module.launch("ms_train_linear_epochs", 2, 3, args, threaded=False)
    module.launch("ms_train_linear_epochs", 2, 3, args, threaded=True)
    assert args["counts"].tolist() == [2, 0]


def test_kernel_arguments_are_checked():
    be = EmulatedCudaBackend()
    module = be.module(None)
    out = np.zeros((3, 4), dtype=np.uint32)
    with pytest.raises(TypeError, match="missing arguments"):
        module.launch("ms_philox_blocks", 1, 4, dict(ctr=np.zeros((3, 4), dtype=np.uint32), out=out, n=3, k0=0))
    with pytest.raises(TypeError, match="uint32"):
        module.launch("ms_philox_blocks", 1, 4, dict(ctr=np.zeros((3, 4)), out=out, n=3, k0=0, k1=0))
    with pytest.raises(TypeError, match="C-contiguous"):
        module.launch("ms_philox_blocks", 1, 4, dict(ctr=np.zeros((4, 3), dtype=np.uint32).T, out=out, n=3, k0=0,
                                                     k1=0))


def test_emulated_philox_known_answers_and_streams():
    from memsim import rng

    be = EmulatedCudaBackend()
    # Random123 known-answer vectors for philox4x32_10
    kat = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
           ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
           ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, (k0, k1), expected in kat:
        out = be.philox_blocks(np.array([ctr]), seed=k0 | (k1 << 32))
        assert tuple(int(v) for v in out[0]) == expected
    g = np.random.default_rng(0)
    ctr = g.integers(0, 2 ** 32, (1000, 4), dtype=np.uint64)
    seed = 0x1234_5678_9ABC_DEF0
    k = rng.seed_to_key(seed)
    np.testing.assert_array_equal(be.philox_blocks(ctr, seed), rng.philox4x32_10(ctr, np.array(k, dtype=np.uint64)))
    # normals: bit-identical to Numba (same libm); NumPy's log/cos/sin may differ by an ulp
    z = be.philox_normals(37, 12, seed=seed, step=2 ** 40 + 5, stream=rng.STREAM_C2C)
    ref = rng.normals(seed, 2 ** 40 + 5, rng.STREAM_C2C, np.arange(37)[:, None], np.arange(12)[None, :])
    np.testing.assert_allclose(z, ref, rtol=0, atol=1e-14)
    if importlib.util.find_spec("numba"):
        from memsim.backends.numba.philox import fill_normals

        out = np.empty((37, 12))
        fill_normals(out, np.uint64(k[0]), np.uint64(k[1]), np.uint64(2 ** 40 + 5), np.uint64(rng.STREAM_C2C))
        np.testing.assert_array_equal(z, out)
        from memsim.backends import get_backend

        flat = be.normals(shape=(5, 7), seed=seed, step=3, stream=rng.STREAM_READ)
        np.testing.assert_array_equal(flat, get_backend("numba").normals(shape=(5, 7), seed=seed, step=3,
                                                                         stream=rng.STREAM_READ))


def test_emulated_backend_runs_tile_reads_and_periphery():
    from memsim.physics.periphery import Periphery

    dev = _device("soft_bounds", "multiplicative", stuck=0.0)
    per = Periphery(output_noise=0.05, weight_noise=0.02)
    x = np.random.default_rng(4).uniform(-1, 1, (3, 5))
    results = []
    for be in (EmulatedCudaBackend(), "numba"):
        t = Tile(4, 5, dev, backend=be, seed=8, periphery=per)
        t.program(np.linspace(-0.5, 0.5, 20).reshape(4, 5))
        results.append((t.forward(x), t.backward(np.ones((3, 4)))))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12, atol=1e-14)


def test_host_compilation_is_cached_by_hash():
    src = generate_source(DEVICE_MODELS["constant_step"], "float32")
    a, b = compile_host(src), compile_host(src)
    assert a is b and a.path.exists() and a.source_sha256 in (source_sha256(src),)
    other = compile_host(generate_source(DEVICE_MODELS["constant_step"], "float64"))
    assert other.path != a.path


class _FakeRawModule:
    """Stands in for ``cupy.RawModule``: compiles ``code`` on the host and launches through the emulation."""

    def __init__(self, code, options):
        assert "--fmad=false" in options
        self.code = code
        self.module = compile_host(code)

    def get_function(self, name):
        params = kernel_signatures(self.code)[name]

        def launch(grid, block, args):
            assert len(args) == len(params) and isinstance(args, tuple)
            values = {p.name: v for p, v in zip(params, args)}
            for p in params:  # scalars arrive as the NumPy type of their C type
                assert p.is_pointer or type(values[p.name]).__name__ in ("float64", "float32", "int32", "uint32",
                                                                          "int64", "uint64"), p
            dtype = next(v.dtype for p, v in zip(params, args) if p.ctype == "weight_t*") \
                if any(p.ctype == "weight_t*" for p in params) else np.float64
            self.module.launch(name, grid[0], block[0], values, weight_dtype=dtype, threaded=True)

        return launch


class _FakeCupy:
    """The slice of the cupy namespace the CuPy backend and the Tile use, on NumPy arrays."""

    asarray = staticmethod(np.asarray)
    ascontiguousarray = staticmethod(np.ascontiguousarray)
    zeros = staticmethod(np.zeros)
    matmul = staticmethod(np.matmul)
    einsum = staticmethod(np.einsum)
    clip, sign, floor, abs = np.clip, np.sign, np.floor, np.abs
    RawModule = _FakeRawModule

    @staticmethod
    def asnumpy(a):
        return np.array(a, copy=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_backend_code_path_on_an_emulated_device(monkeypatch, dtype):
    """Everything of CupyBackend except cupy itself: module cache, argument packing, grids, VMMs."""
    import memsim.backends.cupy as cupy_pkg

    monkeypatch.setattr(cupy_pkg, "import_cupy", lambda: _FakeCupy)
    be = cupy_pkg.CupyBackend(dtype)
    assert be.name == "cupy" and be.xp is _FakeCupy
    dev = _device("linear_step", "additive")
    got = _run(dev, RULES["stochastic_rounding"], be, dtype)
    _assert_parity(got, _run(dev, RULES["stochastic_rounding"], EmulatedCudaBackend(dtype), dtype), dtype)
    assert list(be._modules) == [generate_source(dev, dtype)]
    t = Tile(3, 4, dev, backend=be, dtype=dtype)
    w = np.linspace(-0.5, 0.5, 12).reshape(3, 4)
    t.program(w)
    x = np.ones((2, 4))
    np.testing.assert_allclose(t.forward(x), x @ t.weights.T.astype(np.float64), rtol=1e-6)
    from memsim import rng

    z = be.normals(shape=(3, 5), seed=4, step=1, stream=rng.STREAM_READ)
    np.testing.assert_array_equal(z, EmulatedCudaBackend().normals(shape=(3, 5), seed=4, step=1, stream=rng.STREAM_READ))


# ---------------------------------------------------------------------------------------------------------------
# layering and availability


def test_cupy_is_imported_only_under_backends_cupy():
    pattern = re.compile(r"^\s*(import cupy|from cupy)", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if pattern.search(p.read_text()) and "backends/cupy" not in p.as_posix()]
    assert offenders == []


def test_cuda_modules_do_not_import_cupy():
    code = ("import memsim, memsim.backends.cupy, memsim.backends.cupy.emulate, memsim.backends.cupy.translate, "
            "memsim.backends.cupy.codegen, memsim.backends.cupy.nvrtc, memsim.backends.cupy.launch, sys; "
            "print('cupy' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def _gpu_usable() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    from memsim.backends.cupy import gpu_status

    return gpu_status()[0]


def test_explicit_cupy_request_without_gpu_raises_with_fix():
    if _gpu_usable():
        pytest.skip("a GPU is usable here")
    from memsim.backends import get_backend

    with pytest.raises(BackendUnavailableError, match=re.escape("pip install 'memsim[gpu]'")):
        get_backend("cupy")


def test_auto_without_gpu_chooses_a_cpu_backend_and_logs(caplog):
    if _gpu_usable():
        pytest.skip("a GPU is usable here")
    from memsim.backends import get_backend

    with caplog.at_level(logging.INFO, logger="memsim.backends"):
        be = get_backend("auto")
    assert be.name in ("numba", "numpy")
    assert f"chose {be.name!r}" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# on a real GPU

gpu = pytest.mark.gpu


@pytest.fixture(scope="module")
def cupy_backends():
    if not _gpu_usable():
        pytest.skip("no usable CUDA GPU (pip install 'memsim[gpu]' on a machine with one)")
    from memsim.backends import get_backend

    return {dtype: get_backend("cupy", dtype) for dtype in DTYPES}


@gpu
def test_gpu_auto_picks_cupy(cupy_backends):
    from memsim.backends import get_backend

    assert get_backend("auto").name == "cupy"


@gpu
def test_gpu_philox_and_vmms(cupy_backends):
    from memsim import rng

    be = cupy_backends["float64"]
    g = np.random.default_rng(0)
    ctr = g.integers(0, 2 ** 32, (1000, 4), dtype=np.uint64)
    seed = 99
    np.testing.assert_array_equal(be.philox_blocks(ctr, seed),
                                  rng.philox4x32_10(ctr, np.array(rng.seed_to_key(seed), dtype=np.uint64)))
    z = be.philox_normals(64, 8, seed=seed, step=7, stream=rng.STREAM_C2C)
    ref = rng.normals(seed, 7, rng.STREAM_C2C, np.arange(64)[:, None], np.arange(8)[None, :])
    np.testing.assert_allclose(z, ref, rtol=0, atol=1e-13)  # CUDA log/cos/sin: a few ulp
    t = Tile(3, 4, DEVICE_MODELS["soft_bounds"](), backend=be)
    w = np.arange(12.0).reshape(3, 4) / 20 - 0.3
    t.program(w)
    x = g.uniform(-1, 1, (5, 4))
    np.testing.assert_allclose(t.forward(x), x @ w.T, rtol=1e-12)
    np.testing.assert_allclose(t.backward(np.ones(3)), w.T @ np.ones(3), rtol=1e-12)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_gpu_update_parity_with_numba(cupy_backends, kind, rule, mode, dtype):
    """Tile.update sequences: pulse counts do not depend on the weights, so they are identical; the weights
    differ only through CUDA's log/exp in the ziggurat's rare slow path (a few ulp per normal)."""
    dev = _device(kind, mode)

    def updates(backend):
        t = Tile(7, 5, dev, update=RULES[rule], backend=backend, dtype=dtype, seed=21)
        g = np.random.default_rng(1)
        t.program(g.uniform(-0.5, 0.5, (7, 5)))
        t.start_recording()
        for _ in range(3):
            t.update(g.uniform(-1, 1, (4, 5)), g.uniform(-1, 1, (4, 7)), lr=0.05)
        t.update(g.uniform(-1, 1, (3, 5)), g.uniform(-1, 1, (3, 7)), lr=0.05,
                 accumulate=rule != "pulse_coincidence")
        t.update(g.uniform(-40, 40, (2, 5)), g.uniform(-1, 1, (2, 7)), lr=0.05)
        return t.weights, t.statistics(), t.step

    gpu_run, ref = updates(cupy_backends[dtype]), updates("numba")
    np.testing.assert_array_equal(gpu_run[1]["pulses_up"], ref[1]["pulses_up"])
    np.testing.assert_array_equal(gpu_run[1]["pulses_down"], ref[1]["pulses_down"])
    np.testing.assert_allclose(gpu_run[0], ref[0], rtol=0, atol=1e-12 if dtype == "float64" else 1e-5)


@gpu
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("kind", sorted(DEVICE_MODELS))
def test_gpu_fused_training_parity_with_numba(cupy_backends, kind, accumulate):
    """In training the gradient depends on the weights, so an ulp-level difference could, rarely, move a
    pulse count across a rounding boundary: weights are compared to 1e-9 and pulse totals to 0.1 %."""
    dev = _device(kind, "multiplicative")
    g = np.random.default_rng(5)
    X, Y = g.normal(size=(200, 40)), g.normal(size=(200, 3))
    order = np.stack([g.permutation(200) for _ in range(3)])
    results = []
    for be in (cupy_backends["float64"], "numba"):
        t = Tile(3, 40, dev, backend=be, seed=3)
        t.train_linear_epochs(X, Y, order, [0.02, 0.01, 0.005], batch_size=8, accumulate=accumulate, record_from=50)
        results.append((t.weights, t.statistics()))
    (w_gpu, s_gpu), (w_ref, s_ref) = results
    np.testing.assert_allclose(w_gpu, w_ref, rtol=0, atol=1e-9)
    assert s_gpu["events"] == s_ref["events"]
    total = s_ref["pulses_up"].sum() + s_ref["pulses_down"].sum()
    diff = np.abs(s_gpu["pulses_up"] - s_ref["pulses_up"]).sum() + np.abs(s_gpu["pulses_down"] - s_ref["pulses_down"]).sum()
    assert diff <= 1e-3 * total


@gpu
def test_gpu_short_training_run(cupy_backends):
    from memsim.tasks import LinearRegressionTask
    from memsim.models.mlp import AnalogMLP
    from memsim.models.train import TrainConfig, train

    data = LinearRegressionTask(n_train=200, n_test=200, n_features=8, noise_std=0.1).load(3)
    dev = DEVICE_MODELS["soft_bounds"](dw_min=0.001, dw_min_std=0.3)
    config = TrainConfig(lr=0.01, epochs=5)
    runs = {}
    for backend in ("cupy", "numba"):
        model = AnalogMLP([8, 1], bias=False, device=dev, backend=backend, seed=1)
        runs[backend] = train(model, data, config, loss="mse", seed=1, progress=False)
    r = runs["cupy"]
    assert r.curves["train_loss"][-1] < r.curves["train_loss"][0]
    np.testing.assert_allclose(r.weights_mean[0], runs["numba"].weights_mean[0], rtol=0, atol=1e-6)
