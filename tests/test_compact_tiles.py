"""Compact tiles: per-cell arrays only where cells differ or where the user records.

A tile holds its device parameters as one value per parameter unless some parameter varies per cell
(device-to-device spread, faults); it keeps per-cell pulse and truncation counters up to
``PER_CELL_COUNTERS_MAX`` cells and per-row totals above; its window sums exist from the first
recording on; its zero reference only with zero-shifting. None of this may change a result: each
compact layout is checked bit for bit against the full layout it replaces.
"""

import numpy as np
import pytest

import memsim.models.tile as tile_module
from memsim import ConstantStep, Deterministic, PulseCoincidence, SoftBounds, StochasticRounding, Tile
from memsim import rng
from memsim.analysis.penalty import truncation_warning
from memsim.backends.base import cell_parameter_views, expand_cell_parameters, pack_cell_parameters

RULES = {"stochastic_rounding": lambda: StochasticRounding(max_pulses=6), "deterministic": lambda: Deterministic(max_pulses=6),
         "pulse_coincidence": lambda: PulseCoincidence(desired_bl=31)}
INT64_MAX = int(np.iinfo(np.int64).max)


def _train(t, seed=3, big=False):
    """A few per-sample and accumulated updates, recording for the last ones."""
    g = np.random.default_rng(seed)
    t.program(g.uniform(-0.4, 0.4, (t.rows, t.cols)))
    scale = 20.0 if big else 1.0  # long trains, some cut at max_pulses
    t.update(g.uniform(-scale, scale, (2, t.cols)), g.uniform(-1, 1, (2, t.rows)), lr=0.05)
    t.start_recording()
    t.update(g.uniform(-1, 1, (3, t.cols)), g.uniform(-1, 1, (3, t.rows)), lr=0.05)
    if t.update_rule.kind != "pulse_coincidence":
        t.update(g.uniform(-1, 1, (2, t.cols)), g.uniform(-1, 1, (2, t.rows)), lr=0.05, accumulate=True)
    return t.weights, t.statistics()


def _expand(t):
    """Give a compact tile the per-cell parameters it replaces (every parameter held per cell)."""
    full = expand_cell_parameters(t._cell_params, t.rows, t.cols)
    t._cell_params = t.backend.cell_parameter_array(full, t.rows, t.cols)
    t._uniform_params = False


def _held(t):
    """Shapes of the parameters a (NumPy or Numba) tile holds, by name."""
    views = cell_parameter_views(t._cell_params, t.rows, t.cols)
    return {name: v.shape for name, v in zip(t.device.all_cell_parameters, views)}


# ---------------------------------------------------------------------------- parameters
def test_uniform_parameters_are_held_once_and_read_per_cell():
    dev = SoftBounds(dw_min=0.01, w_max=0.8, up_down=0.1)
    t = Tile(5, 7, dev, backend="numpy")
    assert set(_held(t).values()) == {(1, 1)} and t._uniform_params
    assert t._cell_params[0].shape == (len(dev.all_cell_parameters),)
    assert t._stuck is None and t._reference is None
    cp = t.cell_parameters
    assert set(cp) == set(dev.all_cell_parameters)
    for name in ("dw_min", "w_max", "up_down"):
        np.testing.assert_array_equal(cp[name], np.full((5, 7), getattr(dev, name)))
    np.testing.assert_array_equal(cp["w_min"], np.full((5, 7), -0.8))
    np.testing.assert_array_equal(cp["stuck"], np.zeros((5, 7)))
    np.testing.assert_array_equal(t.reference, np.zeros((5, 7)))
    cp["dw_min"][0, 0] = 1.0  # writable copies: the tile keeps its own
    assert t.cell_parameters["dw_min"][0, 0] == 0.01


@pytest.mark.parametrize("extra, varying", [
    (dict(dw_min_dtod=0.2), {"dw_min"}), (dict(up_down_dtod=0.1), {"up_down"}),
    (dict(stuck_prob=0.3), {"stuck"}), (dict(w_max_dtod=0.1), {"w_max"}),  # w_min = min(w_min, w_max) stays uniform
    (dict(dw_min_dtod=0.2, stuck_prob=0.3), {"dw_min", "stuck"})],
    ids=["dw_min_dtod", "up_down_dtod", "faults", "w_max_dtod", "dw_min_dtod+faults"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_only_varying_parameters_are_per_cell_and_unchanged(extra, varying, backend):
    """Each parameter is held per cell exactly when it varies; the values are those of the full draw."""
    dev = SoftBounds(dw_min=0.01, **extra)
    t = Tile(6, 9, dev, backend=backend, seed=4)
    assert _held(t) == {name: (6, 9) if name in varying else (1, 1) for name in dev.all_cell_parameters}
    assert not t._uniform_params
    full = dev.sample_cell_parameters(6, 9, 4)
    np.testing.assert_array_equal(expand_cell_parameters(t._cell_params, 6, 9), full)
    np.testing.assert_array_equal(np.array(list(t.cell_parameters.values())), full)
    assert (t._stuck is not None) == ("stuck_prob" in extra)
    # the buffer holds one number per uniform parameter and rows * cols per varying one
    assert t._cell_params[0].size == len(dev.all_cell_parameters) - len(varying) + len(varying) * 6 * 9


def test_no_fault_draw_without_faults(monkeypatch):
    """stuck_prob = 0 draws no uniform of the fault stream; stuck_prob > 0 draws the same ones as before."""
    dev = SoftBounds(dw_min_dtod=0.3)
    expected = dev.sample_cell_parameters(4, 5, seed=2)
    drawn = []
    real = rng.uniforms

    def spy(seed, step, stream, *args):
        drawn.append(stream)
        return real(seed, step, stream, *args)

    monkeypatch.setattr(rng, "uniforms", spy)
    np.testing.assert_array_equal(dev.sample_cell_parameters(4, 5, seed=2), expected)
    compact = dev.sample_cell_parameters(4, 5, seed=2, compact=True)
    np.testing.assert_array_equal(np.array([np.broadcast_to(a, (4, 5)) for a in compact]), expected)
    assert rng.STREAM_FAULTS not in drawn
    faulty = SoftBounds(dw_min_dtod=0.3, stuck_prob=0.5)
    params = faulty.sample_cell_parameters(40, 50, seed=2)
    assert drawn == [rng.STREAM_FAULTS]
    u = real(2, 0, rng.STREAM_FAULTS, np.arange(2000), 0).reshape(40, 50)
    np.testing.assert_array_equal(params[faulty.all_cell_parameters.index("stuck")], (u < 0.5).astype(float))


def test_compact_sampling_keeps_the_values():
    dev = SoftBounds(dw_min=0.02, w_max=0.9, w_min=-0.7, up_down=-0.2)
    full = dev.sample_cell_parameters(3, 4, seed=1)
    compact = dev.sample_cell_parameters(3, 4, seed=1, compact=True)
    assert full.shape == (5, 3, 4) and [a.shape for a in compact] == [(1, 1)] * 5
    np.testing.assert_array_equal(np.array([np.broadcast_to(a, (3, 4)) for a in compact]), full)
    # faults possible but none drawn: every cell the same, so held once
    rare = SoftBounds(stuck_prob=1e-12).sample_cell_parameters(3, 4, seed=1, compact=True)
    assert [a.shape for a in rare] == [(1, 1)] * 5


def test_packing_round_trips():
    """pack / views / expand: offsets and strides as documented, views without copies."""
    g = np.random.default_rng(0)
    arrays = [np.full((1, 1), 0.5), g.normal(size=(3, 4)), np.full((1, 1), -1.0), g.normal(size=(3, 4))]
    values, index = pack_cell_parameters(arrays)
    assert values.shape == (26,) and index.tolist() == [[0, 1, 13, 14], [0, 1, 0, 1]]
    views = cell_parameter_views((values, index), 3, 4)
    for a, v in zip(arrays, views):
        assert v.shape == a.shape and np.shares_memory(v, values)
        np.testing.assert_array_equal(v, a)
    np.testing.assert_array_equal(expand_cell_parameters((values, index), 3, 4),
                                  np.array([np.broadcast_to(a, (3, 4)) for a in arrays]))
    full = np.array([np.broadcast_to(a, (3, 4)) for a in arrays])  # a (P, rows, cols) array: every row per cell
    assert pack_cell_parameters(full)[1].tolist() == [[0, 12, 24, 36], [1, 1, 1, 1]]


def test_parameters_of_the_wrong_shape_are_refused():
    from memsim.backends import get_backend
    from memsim.errors import ConfigError

    good = [np.full((1, 1), 0.5), np.zeros((3, 4))]
    assert get_backend("numpy").cell_parameter_array(good, 3, 4)[1].tolist() == [[0, 1], [0, 1]]
    with pytest.raises(ConfigError, match=r"'params'.*shape \(1, 1\) or \(3, 4\).*\(4, 3\)"):
        get_backend("numpy").cell_parameter_array([np.full((1, 1), 0.5), np.zeros((4, 3))], 3, 4)


@pytest.mark.parametrize("spread", ["none", "some"])
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_compact_parameters_give_the_full_layout_results(rule, backend, spread, monkeypatch):
    """A parameter held once reads exactly as the per-cell values it replaces (parallel kernels too),
    whether every parameter is held once or only some are (spread of dw_min and faults)."""
    import memsim.backends.numba as nb

    monkeypatch.setattr(nb, "SERIAL_BELOW", 0)
    extra = dict(dw_min_dtod=0.3, stuck_prob=0.2) if spread == "some" else {}
    dev = SoftBounds(dw_min=0.004, dw_min_std=0.4, up_down=0.1, **extra)
    compact = Tile(7, 70, dev, update=RULES[rule](), backend=backend, seed=5)
    full = Tile(7, 70, dev, update=RULES[rule](), backend=backend, seed=5)
    _expand(full)
    held = {(1, 1)} if spread == "none" else {(1, 1), (7, 70)}
    assert set(_held(compact).values()) == held and set(_held(full).values()) == {(7, 70)}
    (w_c, s_c), (w_f, s_f) = _train(compact, big=True), _train(full, big=True)
    np.testing.assert_array_equal(w_c, w_f)
    assert s_c["pulses_up"].sum() > 0 and s_c["pulses_down"].sum() > 0
    if rule != "pulse_coincidence":
        assert s_c["events_truncated"].sum() > 0
    for key in ("pulses_up", "pulses_down", "events_truncated", "pulses_lost", "sum_abs_grad", "sum_abs_grad_w",
                "sum_w"):
        np.testing.assert_array_equal(s_c[key], s_f[key], err_msg=key)


# ---------------------------------------------------------------------------- counters
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_per_row_counters_give_the_per_cell_totals(rule, backend, monkeypatch):
    """Above PER_CELL_COUNTERS_MAX cells a tile counts per row: the same weights and window sums,
    and totals equal to the sums of the per-cell counters."""
    dev = SoftBounds(dw_min=0.004, dw_min_std=0.4, up_down=0.1, w_max_dtod=0.1)
    w_ref, s_ref = _train(Tile(6, 40, dev, update=RULES[rule](), backend=backend, seed=2), big=True)
    monkeypatch.setattr(tile_module, "PER_CELL_COUNTERS_MAX", 6 * 40 - 1)
    t = Tile(6, 40, dev, update=RULES[rule](), backend=backend, seed=2)
    assert not t._stats.per_cell and t._stats.n_up.shape == (6, 1)
    w, s = _train(t, big=True)
    np.testing.assert_array_equal(w, w_ref)
    for key in ("pulses_up", "pulses_down", "events_truncated", "pulses_lost"):
        assert s[key].shape == () and s[key].dtype == np.int64
        assert int(s[key]) == int(s_ref[key].sum()), key
    assert int(s["pulses_up"]) > 0 and int(s["pulses_down"]) > 0
    if rule != "pulse_coincidence":
        assert int(s["events_truncated"]) > 0
        assert truncation_warning([s]) == truncation_warning([s_ref]) != []
    assert s["events_total"].shape == (6, 40) and np.all(s["events_total"] == s_ref["events_total"])
    for key in ("sum_abs_grad", "sum_abs_grad_w", "sum_w", "weights_mean"):
        np.testing.assert_array_equal(s[key], s_ref[key], err_msg=key)


def test_a_layer_of_large_tiles_reports_its_totals(monkeypatch):
    """A layer assembles per-tile totals into layer totals (what summary.json sums), the truncation
    warning included, when some of its tiles count per row."""
    from memsim.models.layers import TiledLinear

    g = np.random.default_rng(4)
    A, D = g.uniform(-3, 3, (3, 8)), g.uniform(-1, 1, (3, 5))  # 7 inputs and the bias
    runs = []
    for most in (10 ** 9, 10):  # 10: the 4 x 4 tiles count per row, the 1 x 4 edge tiles per cell
        monkeypatch.setattr(tile_module, "PER_CELL_COUNTERS_MAX", most)
        layer = TiledLinear(7, 5, device=ConstantStep(dw_min=0.01), update=Deterministic(max_pulses=5),
                            max_tile_size=4, backend="numpy", seed=3)
        layer.update(A, D, lr=0.1)
        runs.append(layer.statistics())
    ref, got = runs
    assert ref["events_truncated"].sum() > 0
    for key in ("pulses_up", "pulses_down", "events_truncated", "pulses_lost"):
        assert got[key].shape == () and int(got[key]) == int(ref[key].sum()), key
    assert truncation_warning([got]) == truncation_warning([ref]) != []


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_per_row_counters_in_fused_training(backend, monkeypatch):
    dev = ConstantStep(dw_min=1e-3)
    g = np.random.default_rng(8)
    X, Y = g.uniform(-1, 1, (9, 4)), g.uniform(-1, 1, (9, 3))
    order = np.stack([g.permutation(9) for _ in range(2)])
    runs = []
    for most in (10 ** 9, 0):
        monkeypatch.setattr(tile_module, "PER_CELL_COUNTERS_MAX", most)
        t = Tile(3, 4, dev, update=Deterministic(max_pulses=25), backend=backend, seed=1)
        t.train_linear_epochs(X, Y, order, [0.05, 0.01], batch_size=2, record_from=4)
        runs.append((t.weights, t.statistics()))
    (w_ref, s_ref), (w, s) = runs
    np.testing.assert_array_equal(w, w_ref)
    assert s_ref["events_truncated"].sum() > 0 and s["events"] == s_ref["events"] > 0
    for key in ("pulses_up", "pulses_down", "events_truncated", "pulses_lost"):
        assert s[key].shape == () and int(s[key]) == int(s_ref[key].sum()), key
    np.testing.assert_array_equal(s["weights_mean"], s_ref["weights_mean"])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_per_row_lost_pulses_saturate(backend, monkeypatch):
    """1100 enormous events on each of 2 cells lose more than 2**63 pulses: the total saturates."""
    monkeypatch.setattr(tile_module, "PER_CELL_COUNTERS_MAX", 1)
    t = Tile(1, 2, ConstantStep(dw_min=1e-3), update=Deterministic(max_pulses=1), backend=backend)
    t.update(np.full((1100, 2), 1e100), np.full((1100, 1), 1e100), lr=1.0)
    s = t.statistics()
    assert int(s["events_truncated"]) == 2200 and int(s["pulses_down"]) == 2200
    assert int(s["pulses_lost"]) == INT64_MAX
    assert "pulses lost" in truncation_warning(s)[0]


# ---------------------------------------------------------------------------- window, reference, bytes
def test_window_sums_exist_from_the_first_recording_until_reset():
    t = Tile(4, 6, SoftBounds(dw_min=0.01), backend="numba", dtype="float32")
    cells = 4 * 6
    before = t.nbytes
    assert not t._stats.window and t._stats.sum_w.shape == (1, 1)
    t.update(np.ones(6), np.ones(4), lr=0.1)
    s = t.statistics()
    assert s["events"] == 0 and int(s["pulses_down"].sum()) > 0
    np.testing.assert_array_equal(s["sum_w"], np.zeros((4, 6)))
    assert t.nbytes == before
    t.start_recording()
    assert t._stats.window and t.nbytes == before + 3 * 8 * cells - 3 * 8  # placeholders replaced
    t.update(np.ones(6), np.ones(4), lr=0.1)
    t.stop_recording()
    kept = t.statistics()["sum_w"]
    assert np.all(kept < 0) and t._stats.window  # kept after the window closes
    t.reset_statistics()
    assert not t._stats.window and t.nbytes == before
    assert t._ensure_statistics() is t._stats and t._stats.window
    np.testing.assert_array_equal(t._stats.sum_w, np.zeros((4, 6)))


def test_fused_training_allocates_the_window_only_when_it_opens():
    g = np.random.default_rng(1)
    X, Y = g.uniform(-1, 1, (5, 3)), g.uniform(-1, 1, (5, 2))
    order = np.stack([g.permutation(5)])
    t = Tile(2, 3, SoftBounds(dw_min=0.01), backend="numpy")
    t.train_linear_epochs(X, Y, order, [0.1], batch_size=2, accumulate=True, record_from=3)  # 3 events: never
    assert not t._stats.window and not t.recording
    t.train_linear_epochs(X, Y, order, [0.1], batch_size=2, accumulate=True, record_from=2)
    assert t._stats.window and t.recording and t.statistics()["events"] == 1


def test_zero_reference_only_with_zero_shift():
    dev = SoftBounds(dw_min=0.01, up_down=0.2)
    plain = Tile(3, 4, dev, backend="numpy")
    shifted = Tile(3, 4, dev, backend="numpy", zero_shift=True)
    assert plain._reference is None
    assert shifted._reference.shape == (3, 4) and np.all(shifted.reference == dev.symmetry_point())
    np.testing.assert_array_equal(shifted.weights, np.zeros((3, 4)))
    assert shifted.nbytes == plain.nbytes + 3 * 4 * 8


def test_memory_benchmark_record(tmp_path):
    """The benchmark's record (its figures are not asserted: no timed test), measured in this process."""
    from memsim.workflows.bench_memory import TARGETS, run_memory_bench

    out = run_memory_bench(size=48, fresh=False, json_path=tmp_path / "memory.json")
    record = out["records"][0]
    assert set(TARGETS) <= set(record) and record["size"] == 48 and not record["fresh_process"]
    assert record["nbytes_per_cell"] > 4 and record["recording_nbytes_per_cell"] == pytest.approx(24.0 * (48 * 48 - 1) / 48 ** 2,
                                                                                     rel=1e-12)  # placeholders gone
    assert len(record["create_rounds_s"]) == 5
    import json

    assert json.loads((tmp_path / "memory.json").read_text())["records"] == [record]


def test_nbytes_counts_every_array_once(monkeypatch):
    monkeypatch.setattr(tile_module, "PER_CELL_COUNTERS_MAX", 0)
    rows, cols = 30, 50
    t = Tile(rows, cols, SoftBounds(dw_min=0.01), backend="numba", dtype="float32")
    n_params = len(t.device.all_cell_parameters)
    index = 2 * 8 * n_params  # offset and stride of each parameter
    # weights, parameters (one value each), 4 per-row int64 counters, 3 placeholder sums
    assert t.nbytes == 4 * rows * cols + 8 * n_params + index + 4 * 8 * rows + 3 * 8
    # faults only: the stuck flags per cell (float64 parameter and bool mask), the other parameters once
    faulty = Tile(rows, cols, SoftBounds(dw_min=0.01, stuck_prob=0.2), backend="numba", dtype="float64")
    assert faulty.nbytes == (8 * rows * cols + 8 * (n_params - 1) + 8 * rows * cols + index + rows * cols
                             + 4 * 8 * rows + 3 * 8)
    # spread of dw_min and w_max: two parameters per cell
    spread = Tile(rows, cols, SoftBounds(dw_min=0.01, dw_min_dtod=0.2, w_max_dtod=0.1), backend="numba")
    assert spread.nbytes == (8 * rows * cols + 8 * (n_params - 2) + 2 * 8 * rows * cols + index
                             + 4 * 8 * rows + 3 * 8)


def test_a_large_tile_costs_under_8_bytes_per_cell():
    """The issue's figure, counted (not timed; RSS is measured by memsim.workflows.bench_memory)."""
    rows, cols = 1024, 1100  # above PER_CELL_COUNTERS_MAX
    assert rows * cols > tile_module.PER_CELL_COUNTERS_MAX
    t = Tile(rows, cols, SoftBounds(dw_min=0.001, dw_min_std=0.3), backend="numba", dtype="float32", seed=1)
    g = np.random.default_rng(0)
    t.update(g.uniform(-1, 1, cols), g.uniform(-1, 1, rows), lr=0.01)
    assert t.nbytes / (rows * cols) <= 8.0
    before = t.nbytes
    t.start_recording()
    t.update(g.uniform(-1, 1, cols), g.uniform(-1, 1, rows), lr=0.01)
    assert (t.nbytes - before) / (rows * cols) <= 40.0
    s = t.statistics()
    assert s["pulses_up"].shape == () and int(s["pulses_up"]) + int(s["pulses_down"]) > 0
