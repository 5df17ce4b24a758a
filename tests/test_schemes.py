"""Compound schemes (memsim.physics.schemes, memsim.models.compound, memsim.analysis.schemes)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from memsim.errors import ConfigError
from memsim.models.compound import CompoundTile
from memsim.models.mlp import AnalogMLP
from memsim.models.tile import Tile
from memsim.physics.devices import SoftBounds
from memsim.physics.schemes import (SCHEMES, BufferedTransfer, ChoppedTransfer, DynamicTransfer, MixedPrecision,
                                    TikiTaka, scheme_from_dict)
from memsim.physics.updates import Deterministic, StochasticRounding
from memsim.workflows.config import resolve_config
from memsim.workflows.sweeps import parse_sweep

FAST = SoftBounds(w_max=0.6, dw_min=0.01, dw_min_std=0.2)
SLOW = SoftBounds(w_max=0.6, dw_min=0.005, dw_min_std=0.2)

ALL = [TikiTaka(fast_lr=0.5, fast_device=FAST, gamma=0.3, transfer_every=2, n_reads_per_transfer=2),
       TikiTaka(fast_lr=0.5, fast_device=FAST, transfer_columns=False, reference="offset", reference_mean=0.1,
                reference_std=0.05, units_in_mbatch=False),
       BufferedTransfer(fast_lr=0.5, fast_device=FAST, transfer_lr=20.0, transfer_desired_bl=2, forget_buffer=False),
       ChoppedTransfer(fast_lr=0.5, fast_device=FAST, transfer_lr=20.0, in_chop_prob=0.3, out_chop_prob=0.2),
       DynamicTransfer(fast_lr=0.5, fast_device=FAST, transfer_lr=20.0, in_chop_prob=0.5),
       MixedPrecision(granularity=0.01, n_rows_per_transfer=2)]


def _drive(backend: str, scheme, rule, seed: int = 5) -> CompoundTile:
    """Batches of 3 per-sample events, then accumulated ones; recording opens half way."""
    t = CompoundTile(3, 4, SLOW, scheme, update=rule, backend=backend, seed=seed)
    t.program(np.full((3, 4), 0.05))
    g = np.random.default_rng(0)
    for k in range(12):
        if k == 6:
            t.start_recording()
        x, d = g.standard_normal((3, 4)), g.standard_normal((3, 3))
        t.update(x, d, lr=0.3, accumulate=k % 4 == 3)
    return t


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.kind)
def test_numpy_and_numba_bit_identical(scheme):
    rule = StochasticRounding(max_pulses=3)  # gradient trains are cut at 3 pulses
    a, b = _drive("numpy", scheme, rule), _drive("numba", scheme, rule)
    assert np.array_equal(a.weights, b.weights)
    sa, sb = a.statistics(), b.statistics()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert np.array_equal(np.asarray(sa[key]), np.asarray(sb[key])), key
    assert sa["events"] == 14  # batches 6..11: four per-sample batches of 3 and two accumulated events


def test_event_counts_and_truncation_counted():
    rule = StochasticRounding(max_pulses=3)
    t = _drive("numba", ALL[2], rule)  # TTv2, transfer bit length 2
    s = t.statistics()
    # 12 batches: 9 per-sample batches of 3 events + 3 accumulated events = 30; recorded from batch 6
    assert t.step == 9 * 3 + 3
    assert s["events_total"] == 30
    assert s["events"] == 4 * 3 + 2  # batches 6..11: four per-sample batches of 3 and two accumulated events
    assert np.sum(s["fast_events_truncated"]) > 0  # gradient writes cut at max_pulses
    assert np.sum(s["slow_events_truncated"]) > 0  # transfer writes cut at transfer_desired_bl
    assert np.array_equal(s["events_truncated"], s["fast_events_truncated"] + s["slow_events_truncated"])


def test_exact_pulse_count_through_deterministic_rule():
    """A request of n * dw_min with the deterministic rule applies exactly n pulses (TTv2/MP writes)."""
    dev = SoftBounds(w_max=0.6, dw_min=0.00123)
    n = np.arange(1, 41, dtype=float)
    t = Tile(1, n.size, dev, Deterministic(max_pulses=100), backend="numba")
    t.update(np.ones(n.size), np.ones(1), lr=0.0)  # nothing requested: no pulse
    assert np.sum(t.statistics()["pulses_up"]) == 0
    t.update(np.eye(n.size), -(n * dev.dw_min)[:, None] * np.ones((n.size, 1)), lr=1.0, accumulate=True)
    assert np.array_equal(t.statistics()["pulses_up"][0], n.astype(np.int64))


def test_tiki_taka_transfer_writes_read_column():
    """gamma = 0, one column read per update: C changes only in the column just transferred."""
    t = CompoundTile(2, 3, SLOW, TikiTaka(fast_lr=0.5, fast_device=FAST, reference="zero"), backend="numba", seed=1)
    t.program(0.0)
    before = t.slow.weights
    t.update(np.ones(3), np.ones(2), lr=0.2)
    changed = np.any(t.slow.weights != before, axis=0)
    assert changed.tolist() == [True, False, False]
    assert t.statistics()["transfer_reads"] == 1


def test_reference_modes():
    fast = SoftBounds(w_max=0.6, dw_min=0.01, up_down=0.2)
    sym = CompoundTile(2, 2, SLOW, TikiTaka(fast_device=fast), seed=2)
    assert fast.symmetry_point() > 0.05 and np.allclose(sym.reference, fast.symmetry_point())
    assert np.allclose(sym.fast_effective, 0.0)
    off = CompoundTile(2, 2, SLOW, TikiTaka(reference="offset", reference_mean=-0.2, reference_std=0.0), seed=2)
    assert np.allclose(off.reference, -0.2)
    with pytest.raises(ConfigError, match="reference"):
        TikiTaka(reference="zero", reference_mean=0.1)


@pytest.mark.parametrize("kind", sorted(SCHEMES))
def test_config_round_trip_and_errors(kind):
    cfg = resolve_config({"scheme": {"kind": kind}})
    assert type(cfg.scheme) is SCHEMES[kind]
    assert resolve_config(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"scheme\.bogus"):
        resolve_config({"scheme": {"kind": kind, "bogus": 1}})
    with pytest.raises(ConfigError, match=r"scheme\.transfer_lr.*\(0, 1e\+150\].*-1"):
        resolve_config({"scheme": {"kind": kind, "transfer_lr": -1}})
    assert "scheme" not in resolve_config({}).to_dict()  # plain configs keep their hashes


def test_nested_tables_and_errors():
    cfg = resolve_config({"scheme": {"kind": "tiki_taka", "fast_device": {"dw_min": 0.02},
                                     "transfer_update": {"kind": "pulse_coincidence", "desired_bl": 31}}})
    assert cfg.scheme.fast_device.dw_min == 0.02 and cfg.scheme.transfer_update.desired_bl == 31
    with pytest.raises(ConfigError, match=r"scheme\.fast_device\.w_maxx"):
        resolve_config({"scheme": {"kind": "ttv2", "fast_device": {"w_maxx": 1.0}}})
    with pytest.raises(ConfigError, match=r"scheme\.kind"):
        resolve_config({"scheme": {"kind": "tiki"}})
    with pytest.raises(ConfigError, match="n_reads_per_transfer"):
        scheme_from_dict({"kind": "c_ttv2", "n_reads_per_transfer": 2})


def test_scheme_keys_are_sweepable():
    raw = {"seed": 1, "task": {"n_train": 10, "n_features": 2}, "train": {"epochs": 1},
           "scheme": {"kind": "tiki_taka"},
           "sweep": {"grid": {"scheme.fast_lr": [0.1, 1.0], "scheme.fast_device.dw_min": [0.001, 0.01]}}}
    sweep = parse_sweep(raw)
    got = sorted((p.config.scheme.fast_lr, p.config.scheme.fast_device.dw_min) for p in sweep.points)
    assert got == [(0.1, 0.001), (0.1, 0.01), (1.0, 0.001), (1.0, 0.01)]


def test_mlp_with_scheme_uses_compound_tiles():
    m = AnalogMLP([3, 4, 2], device=SLOW, scheme=MixedPrecision(), max_tile_size=3, seed=3)
    assert m.scheme is not None and all(isinstance(t, CompoundTile) for t in m.tiles)
    out, cache = m.forward(np.ones((2, 3)), cache=True)
    m.update(cache, m.backward(cache, np.ones((2, 2))), lr=0.1)
    assert m.step == 2 and out.shape == (2, 2)


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.kind)
def test_emulated_cuda_matches_numba(scheme):
    """The generated CUDA kernels, compiled for and run on the CPU, drive the compound like Numba."""
    emulate = pytest.importorskip("memsim.backends.cupy.emulate")
    rule = StochasticRounding(max_pulses=3)
    a, b = _drive(emulate.EmulatedCudaBackend("float64"), scheme, rule), _drive("numba", scheme, rule)
    sa, sb = a.statistics(), b.statistics()
    for key in ("pulses_up", "pulses_down", "events_truncated", "pulses_lost", "slow_pulses"):
        np.testing.assert_array_equal(sa[key], sb[key])
    np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- what each scheme leaves
def _linear_run(seed: int, scheme=None, epochs: int = 40):
    """5 features, 100 samples, soft bounds (w_max 0.6, dw_min 0.001), lr 0.01, batch 1 (memoised)."""
    return _cached_run(seed, json.dumps(scheme, sort_keys=True), epochs)


@functools.lru_cache(maxsize=None)
def _cached_run(seed: int, scheme_json: str, epochs: int):
    from memsim.workflows.run import run_summary

    scheme = json.loads(scheme_json)
    raw = {"seed": seed, "progress": False,
           "task": {"kind": "linear_regression", "n_train": 100, "n_features": 5, "noise_std": 0.1},
           "device": {"kind": "soft_bounds", "w_max": 0.6, "dw_min": 0.001}, "train": {"lr": 0.01, "epochs": epochs}}
    if scheme is not None:
        raw["scheme"] = scheme
    return run_summary(resolve_config(raw), progress=False)[0]


def test_tiki_taka_leaves_at_most_a_quarter_and_matches_its_law():
    """TTv1 (A at its symmetry point, a transfer per update, no c2c noise) against Analog SGD on the
    same task and data order: lambda_fit at most a quarter, and within 25 % of lambda_tt_pred."""
    ratios = []
    for seed in (1, 2):
        sgd = _linear_run(seed)
        tt = _linear_run(seed, {"kind": "tiki_taka", "fast_lr": 0.1})
        assert tt["lambda_fit"] <= 0.25 * sgd["lambda_fit"]
        assert not any(w.startswith("scheme_outside_regime") for w in tt["regime_warnings"])
        ratios.append(tt["lambda_fit"] / tt["scheme"]["lambda_tt_pred"])
        assert tt["scheme"]["transfer_reads"] == tt["updates"]  # one column read per update
    assert abs(np.mean(ratios) - 1.0) <= 0.25
    for outside in ({"transfer_every": 5}, {"fast_lr": 0.01}):  # rare transfers; A no faster than C
        warned = _linear_run(1, {"kind": "tiki_taka", "fast_lr": 0.1, **outside}, epochs=2)
        assert any(w.startswith("scheme_outside_regime") for w in warned["regime_warnings"]), outside


def test_mixed_precision_penalty_from_its_writes():
    """lambda_fit within 20 % of E|Delta_C| F_C' / lr at three granularities (two seeds each)."""
    for granularity in (0.001, 0.005, 0.01):
        ratios = [(s["lambda_fit"] / s["scheme"]["lambda_mp_pred"]) for s in
                  (_linear_run(seed, {"kind": "mixed_precision", "granularity": granularity}) for seed in (1, 2))]
        assert abs(np.mean(ratios) - 1.0) <= 0.20, (granularity, ratios)
    coarse = _linear_run(1, {"kind": "mixed_precision", "granularity": 0.05}, epochs=2)  # 50 pulses per write
    assert any(w.startswith("scheme_outside_regime") for w in coarse["regime_warnings"])


def test_reference_offset_shift():
    """TTv1 with A's reference at -0.3: the weights shift by the predicted -H^-1 diag(E|g|) F_A(r)
    (cosine >= 0.9, norm within 25 %), on two seeds."""
    offset = {"reference": "offset", "reference_mean": -0.3, "fast_lr": 0.1}
    for seed in (1, 2):
        free = np.asarray(_linear_run(seed, {"kind": "tiki_taka", "fast_lr": 0.1})["weights_mean"])
        tt = _linear_run(seed, {"kind": "tiki_taka", **offset})
        shift = np.asarray(tt["weights_mean"]) - free
        pred = np.asarray(tt["scheme"]["offset_shift_pred"])
        assert shift @ pred / np.linalg.norm(shift) / np.linalg.norm(pred) >= 0.9
        assert abs(np.linalg.norm(shift) / np.linalg.norm(pred) - 1.0) <= 0.25
        assert any(w.startswith("scheme_reference_offset") for w in tt["regime_warnings"])


def test_choppers_end_nearer_the_offset_free_solution():
    """With A's reference at -0.3, c-TTv2 and AGAD end nearer the offset-free TTv1 weights than TTv1
    does (Rasch et al. 2024), on two seeds (one-pulse transfer writes would be too slow for 40 epochs:
    transfer_desired_bl = 5)."""
    offset = {"reference": "offset", "reference_mean": -0.3}
    for seed in (1, 2):
        free = np.asarray(_linear_run(seed, {"kind": "tiki_taka", "fast_lr": 0.1})["weights_mean"])
        tt = np.asarray(_linear_run(seed, {"kind": "tiki_taka", "fast_lr": 0.1, **offset})["weights_mean"])
        for kind in ("c_ttv2", "agad"):
            other = _linear_run(seed, {"kind": kind, "fast_lr": 0.5, "transfer_desired_bl": 5, **offset})
            assert np.linalg.norm(np.asarray(other["weights_mean"]) - free) < np.linalg.norm(tt - free), (kind, seed)
