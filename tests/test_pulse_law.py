"""The generic pulse law (memsim.physics.pulse_law) written once, and the kernel constants generated.

* Each law function against a direct NumPy statement of its definition (bit for bit).
* The law is in the formula subset: it passes ``check_formula`` and translates to CUDA.
* Both kernel templates contain no stream id, rule code or c2c-mode code as a number: the named
  constants come from memsim.rng, memsim.physics.updates and memsim.physics.devices.base, and
  changing one changes the generated sources.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from memsim import rng
from memsim.backends import kernel_source
from memsim.backends.cupy import template as cuda_template
from memsim.backends.cupy.codegen import generate_source as cuda_source
from memsim.backends.cupy.codegen import pulse_law_source
from memsim.backends.numba import template as numba_template
from memsim.physics import pulse_law as law
from memsim.physics.devices import DEVICE_MODELS
from memsim.physics.devices.base import C2C_MODE_CODES, C2C_MODES
from memsim.physics.devices.formula import check_formula
from memsim.physics.updates import RULE_CODES, UPDATE_RULES

G = np.random.default_rng(5)
W = G.uniform(-1.2, 1.2, 400)
UP = G.uniform(size=400) < 0.5
Q = G.uniform(0.0, 0.01, 400)
S = G.uniform(0.0, 0.5, 400)
Z = G.standard_normal(400)
DW = G.uniform(0.001, 0.01, 400)
LO, HI = -G.uniform(0.5, 1.0, 400), G.uniform(0.5, 1.0, 400)


def _each(func, *args):
    args = np.broadcast_arrays(*[np.asarray(a) for a in args])
    return np.array([func(*(a[k].item() for a in args)) for k in range(args[0].size)])


def _same(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(a.view(np.int64), b.view(np.int64))


@pytest.mark.parametrize("func", law.LAW_FUNCTIONS, ids=lambda f: f.__name__)
def test_law_is_in_the_formula_subset_and_translates(func):
    check_formula(func)
    assert f"ms_{func.__name__}(" in pulse_law_source()


def test_pulse_counts_match_their_definitions():
    g = np.concatenate([G.uniform(-3, 3, 300), [0.0, -0.0, 2.0, -2.0, 0.25, -0.25]])
    lr, dw = 0.05, 0.01
    a = _each(law.pulse_magnitude, g, lr, dw)
    _same(a, np.abs(-lr * g) / dw)
    assert np.array_equal(_each(law.pulse_direction, g, lr), -lr * g > 0.0)
    _same(_each(law.rounding_fraction, a), a - np.floor(a))
    _same(_each(law.pulse_count_deterministic, a), np.floor(a + 0.5))
    u = G.uniform(size=a.size)
    frac = a - np.floor(a)
    _same(_each(law.pulse_count_stochastic, a, u), np.floor(a) + ((frac > 0.0) & (u < frac)))
    whole = np.floor(a)  # no fraction: the kernels draw no uniform and pass 0.0
    _same(_each(law.pulse_count_stochastic, whole, 0.0), whole)


def test_one_pulse_matches_each_c2c_mode():
    clip = lambda v: np.minimum(np.maximum(v, LO), HI)  # noqa: E731
    sign = np.where(UP, 1.0, -1.0)
    mult = clip(W + sign * (Q * (1.0 + S * Z)))
    add = clip(np.where(UP, W + Q, W - Q) + DW * S * Z)
    plain = clip(np.where(UP, W + Q, W - Q))
    _same(_each(law.one_pulse, W, UP, Q, S, Z, DW, True, False, LO, HI), mult)
    _same(_each(law.one_pulse, W, UP, Q, S, Z, DW, False, True, LO, HI), add)
    _same(_each(law.one_pulse, W, UP, Q, S, Z, DW, False, False, LO, HI), plain)
    _same(_each(law.one_pulse, W, UP, Q, 0.0, 0.0, DW, False, False, LO, HI), plain)  # s, z unread


def test_event_noise_up_down_factor_and_stuck_cells():
    n = G.integers(0, 50, W.size)
    expected = np.minimum(np.maximum(W + 0.3 * (HI - LO) * np.sqrt(n.astype(np.float64)) * Z, LO), HI)
    _same(_each(law.event_noise, W, n, 0.3, LO, HI, Z), expected)
    _same(_each(law.up_down_factor, UP, 0.2), np.where(UP, 1.2, 0.8))
    assert list(_each(law.cell_moves, [0.0, 1.0, -0.0])) == [True, False, True]


def test_constants_come_from_their_modules():
    assert C2C_MODE_CODES == {mode: k for k, mode in enumerate(C2C_MODES)}
    assert {kind: cls.code for kind, cls in UPDATE_RULES.items()} == RULE_CODES
    table = kernel_source.kernel_constants()
    for name in kernel_source.KERNEL_STREAMS:
        assert table[name] == (getattr(rng, name), True)
    for kind, code in RULE_CODES.items():
        assert table[f"RULE_{kind.upper()}"] == (code, False)
    for mode, code in C2C_MODE_CODES.items():
        assert table[f"C2C_{mode.upper()}"] == (code, False)


_CODE_NAMES = r"(stream|rule|c2c|mode|STREAM_\w+|RULE_\w+|C2C_\w+)"
#: a stream, rule or c2c-mode name next to a number: a comparison, an assignment or a #define
_LITERAL_CODE = re.compile(rf"\b{_CODE_NAMES}\s*(==|!=|=)\s*(np\.uint64\()?\d|#define\s+MS_(STREAM|RULE|C2C)_\w+\s+\d"
                           rf"|\d\s*(==|!=)\s*{_CODE_NAMES}\b")


@pytest.mark.parametrize("text", [numba_template.KERNEL_SOURCE, cuda_template.PREAMBLE + cuda_template.KERNEL_SOURCE],
                         ids=["numba", "cuda"])
def test_templates_hold_no_literal_codes(text):
    assert not _LITERAL_CODE.findall(text)
    assert "__CONSTANTS__" in text


def test_generated_sources_follow_the_constants(monkeypatch):
    pytest.importorskip("numba")
    from memsim.backends.numba.codegen import generate_source as numba_source

    device = DEVICE_MODELS["soft_bounds"]()
    before = numba_source(device), cuda_source(device)
    assert "STREAM_C2C = np.uint64(2)" in before[0] and "#define MS_STREAM_C2C 2u" in before[1]
    assert "C2C_NEUROSIM = 2" in before[0] and "#define MS_RULE_DETERMINISTIC 1" in before[1]
    monkeypatch.setattr(rng, "STREAM_C2C", 11)
    monkeypatch.setitem(RULE_CODES, "deterministic", 5)
    monkeypatch.setitem(C2C_MODE_CODES, "neurosim", 7)
    from memsim.backends.cupy import codegen

    codegen._generate.cache_clear()
    try:
        after = numba_source(device), cuda_source(device)
    finally:
        codegen._generate.cache_clear()
    assert "STREAM_C2C = np.uint64(11)" in after[0] and "#define MS_STREAM_C2C 11u" in after[1]
    assert "RULE_DETERMINISTIC = 5" in after[0] and "#define MS_RULE_DETERMINISTIC 5" in after[1]
    assert "C2C_NEUROSIM = 7" in after[0] and "#define MS_C2C_NEUROSIM 7" in after[1]


def test_law_is_pasted_into_the_numba_module():
    pytest.importorskip("numba")
    from memsim.backends.numba.codegen import generate_source as numba_source

    text = numba_source(DEVICE_MODELS["soft_bounds"]())
    for func in law.LAW_FUNCTIONS:
        assert f"@njit(cache=True)\ndef {func.__name__}(" in text
    assert math.isfinite(law.event_noise(0.0, 4, 0.1, -1.0, 1.0, 0.5))
