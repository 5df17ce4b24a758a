"""The CUDA fused network kernel (``ms_train_networks_epoch``) is bit-identical to Numba's fused path.

The kernel runs on the CPU through the host-compiled emulation (:class:`EmulatedCudaBackend`, its blocks'
threads as real threads with barriers), trained by the same trainer as on Numba (``TrainResult.path ==
"fused"`` on both): final weights, every statistic, the curves and the tiles' counters must agree exactly,
over the covering set of ``tests/test_fused_network.py`` (every rule, loss, activation, dtype, periphery,
tiling, zero-shift, batch size and accumulation), for R replicas in one launch, and for any number of
threads per block. NVRTC compiles the source with the kernel; on a GPU (``gpu`` marker) the CuPy backend's
fused network training is compared with Numba.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from memsim.backends.cupy.codegen import generate_source, kernel_signatures
from memsim.backends.cupy.emulate import EmulatedCudaBackend
from memsim.errors import BackendUnavailableError
from memsim.models.config import TrainConfig
from memsim.models.mlp import AnalogMLP
from memsim.models.train import train, train_replicas
from memsim.physics.devices import SoftBounds
from memsim.physics.updates import PulseCoincidence, StochasticRounding

from test_fused_network import COVERING, _assert_same, _data, _train

pytest.importorskip("numba")

KERNEL = "ms_train_networks_epoch"


@pytest.fixture(scope="module", autouse=True)
def _host_compiler():
    try:
        EmulatedCudaBackend().module(SoftBounds())
    except BackendUnavailableError as exc:  # no host C++ compiler
        pytest.skip(str(exc))


def _emulated(dtype, threads=3):
    return EmulatedCudaBackend(dtype, network_block_size=threads)


# ------------------------------------------------------------------------------------------------ source
def test_every_source_defines_the_network_kernel():
    for dtype in ("float32", "float64"):
        params = kernel_signatures(generate_source(SoftBounds, dtype))[KERNEL]
        assert all(p.ctype != "bool" for p in params)
        assert {"tw", "tstat", "scratch", "out"} <= {p.name for p in params}


@pytest.mark.nvrtc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nvrtc_compiles_the_network_kernel(dtype):
    from memsim.backends.cupy.nvrtc import ARCHITECTURES, compile_ptx, load_nvrtc

    try:
        load_nvrtc()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    src = generate_source(SoftBounds(), dtype)
    for arch in ARCHITECTURES:
        ptx, log = compile_ptx(src, arch)
        lines = [line for line in log.splitlines() if line.strip()]
        assert all("Architectures prior to '<compute/sm>_75' are deprecated" in line for line in lines), log
        assert re.search(rf"\.entry {KERNEL}\(", ptx)


# ------------------------------------------------------------------------------------------------ parity
@pytest.mark.parametrize("case", COVERING, ids=["-".join(map(str, c)) for c in COVERING])
def test_emulated_network_kernel_is_bit_identical_to_numba(case):
    emulated = _train(_emulated(case[3]), case)
    assert emulated[1].path == "fused"
    numba = _train("numba", case)
    assert numba[1].path == "fused"
    _assert_same(emulated, numba)


@pytest.mark.parametrize("rule", ["sr", "pc"])
def test_deeper_tiled_network(rule):
    """Three layers (two hidden, so a backward read feeds another backward read), every layer tiled, the full
    periphery, zero-shift, mini-batches of 2 with a short last batch."""
    from test_fused_network import PERIPHERY, RULES

    data = _data("softmax")

    def run(backend):
        dev = SoftBounds(dw_min=0.01, dw_min_std=0.3, up_down=0.1, stuck_prob=0.05)
        model = AnalogMLP([7, 4, 3, 3], "tanh", device=dev, update=RULES[rule], periphery=PERIPHERY["full"],
                          backend=backend, seed=9, max_tile_size=3, zero_shift=True)
        cfg = TrainConfig(lr=0.1, epochs=2, batch_size=3, average_from=0.3)
        return model, train(model, data, cfg, seed=9, loss="softmax", progress=False)

    emulated = run(_emulated("float64", 4))
    assert emulated[1].path == "fused" and len(emulated[0].tiles) > 3
    _assert_same(emulated, run("numba"))


@pytest.mark.parametrize("case", [COVERING[2], COVERING[4]], ids=["det-softmax-full-tiled", "pc-logistic-tiled"])
def test_threads_per_block_do_not_change_the_bits(case):
    runs = [_train(_emulated(case[3], threads), case) for threads in (1, 2, 7)]
    for other in runs[1:]:
        _assert_same(runs[0], other)


def test_each_replica_is_bit_identical_to_its_single_run():
    """R = 3 replicas in one launch (blocks), different seeds, c2c spread, learning rate and batch size."""
    settings = [dict(seed=1, dw_min_std=0.3, lr=0.1, batch=1),
                dict(seed=2, dw_min_std=0.0, lr=0.05, batch=3),
                dict(seed=3, dw_min_std=0.5, lr=0.2, batch=2)]
    data = _data("softmax")

    def build(s, backend):
        dev = SoftBounds(dw_min=0.01, dw_min_std=s["dw_min_std"], up_down=0.1)
        model = AnalogMLP([7, 5, 3], "tanh", device=dev, update=StochasticRounding(max_pulses=6), backend=backend,
                          seed=s["seed"], max_tile_size=4)
        return model, TrainConfig(lr=s["lr"], epochs=2, batch_size=s["batch"], average_from=0.5)

    calls = []
    backend = _emulated("float64")
    launch = backend._launch

    def counting(device, kernel, *args, **kwargs):
        calls.append((kernel, args[0]))
        return launch(device, kernel, *args, **kwargs)

    backend._launch = counting
    pairs = [build(s, backend) for s in settings]
    together = train_replicas([m for m, _ in pairs], [data] * 3, [c for _, c in pairs],
                              [s["seed"] for s in settings], loss="softmax", progress=False)
    assert [c for c in calls if c[0] == KERNEL] == [(KERNEL, 3)] * 2  # one launch of 3 blocks per epoch
    for s, (model, _), result in zip(settings, pairs, together):
        alone_model, cfg = build(s, "numba")
        alone = train(alone_model, data, cfg, seed=s["seed"], loss="softmax", progress=False)
        assert result.path == alone.path == "fused"
        _assert_same((model, result), (alone_model, alone))


def test_pulse_coincidence_replicas_with_long_streams():
    """Two 64-slot words per stream, bit-length and update management, batch > 1, R = 2."""
    data = _data("mse")

    def run(backend, seeds):
        models, cfgs = [], []
        for seed in seeds:
            models.append(AnalogMLP([7, 4, 2], "sigmoid", device=SoftBounds(dw_min=0.005, dw_min_std=0.2),
                                    update=PulseCoincidence(desired_bl=100), backend=backend, seed=seed))
            cfgs.append(TrainConfig(lr=0.2, epochs=1, batch_size=3, average_from=0.0))
        return models, train_replicas(models, [data] * len(seeds), cfgs, seeds, loss="mse", progress=False)

    em, er = run(_emulated("float64", 4), [7, 8])
    for k, seed in enumerate([7, 8]):
        nm, nr = run("numba", [seed])
        _assert_same((em[k], er[k]), (nm[0], nr[0]))


def test_non_finite_values_are_refused_like_numba():
    """A sample with an infinite input: the kernel's status 1, the trainer's error, the same weights."""
    from memsim.errors import ConfigError

    data = _data("mse")
    data.X_train[5, 2] = np.inf
    emulated, statuses = _emulated("float64"), []
    kernel = emulated.train_networks_epoch

    def recording(**kwargs):
        out = kernel(**kwargs)
        statuses.extend(o[2] for o in out)
        return out

    emulated.train_networks_epoch = recording
    results = []
    for backend in (emulated, "numba"):
        model = AnalogMLP([7, 4, 2], "tanh", device=SoftBounds(dw_min=0.01), backend=backend, seed=3)
        with pytest.raises(ConfigError, match="finite"):
            train(model, data, TrainConfig(lr=0.1, epochs=1, batch_size=2), seed=3, loss="mse", progress=False)
        results.append(model)
    assert statuses == [1]
    for ta, tb in zip(results[0].tiles, results[1].tiles):
        np.testing.assert_array_equal(ta.weights, tb.weights)
        assert (ta.step, ta.read_step, ta.events_total, ta.recorded_events) == \
            (tb.step, tb.read_step, tb.events_total, tb.recorded_events)
        assert ta.events_total > 0


# ------------------------------------------------------------------------------------------------ on a GPU
def _gpu_usable() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    from memsim.backends.cupy import gpu_status

    return gpu_status()[0]


@pytest.mark.gpu
@pytest.mark.parametrize("case", [COVERING[2], COVERING[3], COVERING[7]], ids=["det", "sr-accumulate", "pc"])
def test_gpu_network_training_parity_with_numba(case):
    """libdevice's transcendentals differ from glibc by a few ulp: weights to 1e-12 relative (float32: 1e-6
    absolute), pulse counts exact."""
    if not _gpu_usable():
        pytest.skip("no usable CUDA GPU (pip install 'memsim[gpu]' on a machine with one)")
    from memsim.backends import get_backend

    dtype = case[3]
    gpu_model, gpu_run = _train(get_backend("cupy", dtype), case)
    ref_model, ref_run = _train("numba", case)
    assert gpu_run.path == ref_run.path == "fused"
    for wa, wb in zip(gpu_run.weights_final, ref_run.weights_final):
        if dtype == "float64":
            np.testing.assert_allclose(wa, wb, rtol=1e-12, atol=1e-14)
        else:
            np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-6)
    for sa, sb in zip(gpu_run.statistics, ref_run.statistics):
        for key in ("pulses_up", "pulses_down", "events"):
            np.testing.assert_array_equal(np.asarray(sa[key]), np.asarray(sb[key]), err_msg=key)
    for ta, tb in zip(gpu_model.tiles, ref_model.tiles):
        assert (ta.step, ta.read_step, ta.events_total) == (tb.step, tb.read_step, tb.events_total)
