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
