"""The network-training benchmark (``memsim bench --workload``): smoke-size records, the fused path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memsim.workflows.bench_networks import NETWORK_KEYS, WORKLOADS, run_workload, workload_data


def test_workload_data_matches_the_peer_description():
    digits = workload_data("digits")
    assert digits.X_train.shape == (1257, 64) and digits.X_train.max() <= 1.0 and digits.n_classes == 10
    mnist = workload_data("mnist_like")
    assert mnist.X_train.shape == (5000, 784) and mnist.X_test.shape == (1000, 784)
    zeros = float(np.mean(mnist.X_train == 0.0))
    se = np.sqrt(0.8 * 0.2 / mnist.X_train.size)
    assert abs(zeros - 0.8) < 5 * se  # 80 % zeros, within 5 standard errors
    assert set(np.unique(mnist.y_train)) <= set(range(10)) and len(np.unique(mnist.y_train)) > 2


@pytest.mark.parametrize("name", ["n1_pc_b8", "n2_sr_b1", "r2"])
def test_workloads_run_on_the_fused_path(name):
    rec = run_workload(name, smoke=True)
    assert set(NETWORK_KEYS) <= set(rec)
    assert rec["path"] == "fused" and rec["replicas"] == WORKLOADS[name][3]
    assert rec["samples_per_s"] > 0 and rec["pulses_per_sample"] > 0 and len(rec["rounds_samples_per_s"]) == 2
    assert np.isfinite(rec["normals_per_s"]) and rec["normals_per_s"] > 0


def test_every_workload_is_a_fused_network():
    """What the benchmark times is the fused path for every workload (checked without training them all)."""
    from memsim.models.train import _fused_network
    from memsim.workflows.bench_networks import _models

    for name, (task, rule, batch, replicas) in WORKLOADS.items():
        models = _models(task, rule, min(replicas, 2), "numba")
        assert all(_fused_network(m) for m in models), name


def test_cli_runs_one_workload_and_writes_json(tmp_path, capsys):
    from memsim.cli import main

    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--workload", "n1_pc_b1", "--json", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [r["workload"] for r in records] == ["n1_pc_b1"] and records[0]["path"] == "fused"
    assert "n1_pc_b1" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["bench", "--workload", "no_such_workload"])


def test_gpu_workloads_run_by_default_only_on_the_gpu_backend():
    from memsim.workflows.bench_networks import GPU_WORKLOADS, default_workloads

    assert WORKLOADS["r1024"][3] == 1024 and WORKLOADS["n2_r16"][:2] == ("mnist_like", "pc")
    assert set(default_workloads("cupy")) == set(WORKLOADS)
    assert not set(default_workloads("numba")) & set(GPU_WORKLOADS)
    assert {"n1_pc_b1", "n2_pc_b1", "r8", "r32"} <= set(default_workloads("numba"))


def test_replica_rounds_train_the_epochs_calibrated_on_one_network(monkeypatch):
    """Pulses per sample fall as a network learns, so r8 and r1 must time the same epochs: the epoch
    count comes from fits of one network, and every timed round trains all R replicas that long."""
    import memsim.workflows.bench_networks as bn

    calls = []
    real = bn.train_replicas

    def spy(models, datas, configs, seeds, **kw):
        calls.append((len(models), configs[0].epochs))
        return real(models, datas, configs, seeds, **kw)

    monkeypatch.setattr(bn, "train_replicas", spy)
    rec = bn.run_workload("r2", smoke=True)
    timed = calls[-2:]  # the two smoke rounds
    assert [n for n, _ in timed] == [2, 2] and all(e == rec["epochs_per_round"] for _, e in timed)
    calibration = calls[1:-2]  # after the first (compiling) fit of R replicas
    assert calibration and all(n == 1 for n, _ in calibration)


def test_interleaved_rounds_alternate_and_give_ratios_to_the_first(monkeypatch):
    import memsim.workflows.bench_networks as bn

    order = []
    real = bn.WorkloadTimer.round

    def spy(self):
        order.append(self.name)
        return real(self)

    monkeypatch.setattr(bn.WorkloadTimer, "round", spy)
    recs = bn.run_interleaved(["r1", "r2"], smoke=True)
    assert order == ["r1", "r2", "r1", "r2"]
    assert [r["workload"] for r in recs] == ["r1", "r2"] and all(r["ratio_to"] == "r1" for r in recs)
    a, b = recs[0]["rounds_samples_per_s"], recs[1]["rounds_samples_per_s"]
    assert recs[1]["rounds_ratio"] == [y / x for x, y in zip(a, b)] and recs[0]["median_ratio"] == 1.0
    assert "/ r1:" in bn.format_network_record(recs[1])
    assert recs[0]["epochs_per_round"] == recs[1]["epochs_per_round"]  # r2 takes r1's calibration


def test_interleaved_arguments_are_checked_before_any_compute(monkeypatch):
    import memsim.workflows.bench_networks as bn
    from memsim.errors import ConfigError

    def no_compute(*a, **k):
        raise AssertionError("trained before checking its arguments")

    monkeypatch.setattr(bn, "train_replicas", no_compute)
    with pytest.raises(ConfigError, match="name"):
        bn.run_interleaved(["r1", "no_such_workload"], smoke=True)
    with pytest.raises(ConfigError, match="threads"):
        bn.run_interleaved(["r1"], threads=0)
    with pytest.raises(ConfigError, match="names"):
        bn.run_interleaved([])
    with pytest.raises(ConfigError, match="min_round_s"):
        bn.run_interleaved(["r1"], min_round_s=0.0)
    with pytest.raises(ConfigError, match="backend"):
        bn.run_interleaved(["r1"], backend="gpu")
    with pytest.raises(ConfigError, match="epochs"):
        bn.WorkloadTimer("r1", smoke=True, epochs=0)


def test_cli_interleaves_workloads(tmp_path, capsys):
    from memsim.cli import main

    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--workload", "r1", "--workload", "r2", "--interleave", "--json", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [r["workload"] for r in records] == ["r1", "r2"] and records[1]["ratio_to"] == "r1"
    assert "/ r1:" in capsys.readouterr().out
