"""Smoke test of the update benchmark (``memsim.workflows.bench``): structure of its records, never timings."""

from __future__ import annotations

import argparse
import json
import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from memsim.workflows import bench

UPDATE_NUMBER_KEYS = ("lr", "cell_updates_per_s", "pulses_per_s", "mean_pulses_per_cell_update", "forward_s",
                      "normals_per_s", "pulses_per_s_over_normal_rate")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    import numba

    path = tmp_path_factory.mktemp("bench") / "bench.json"
    threads_before = numba.get_num_threads()
    records = bench.run_bench(smoke=True, backends=("numba", "numpy"), json_path=path, progress=False)
    threads_after = numba.get_num_threads()
    with open(path) as fh:
        doc = json.load(fh)
    return SimpleNamespace(records=records, doc=doc, path=path, threads_before=threads_before,
                           threads_after=threads_after)


def _positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_json_document(smoke_run):
    records, doc, path = smoke_run.records, smoke_run.doc, smoke_run.path
    assert set(doc) == {"memsim_version", "machine", "records"}
    assert doc["memsim_version"] == __import__("memsim").__version__
    assert {"cpu_count", "platform"} <= set(doc["machine"])
    assert doc["records"] == json.loads(json.dumps(records))
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temporary file left


def test_update_records(smoke_run):
    doc = smoke_run.doc
    updates = [r for r in doc["records"] if r["kind"] == "update"]
    coincidence_keys = {"regime", "bl_used", "mean_coincidences_per_cell", "coincidences_per_s"}
    for rec in updates:
        if rec["rule"] == "pulse_coincidence":
            assert set(rec) == set(bench.UPDATE_KEYS) | coincidence_keys
            assert rec["lr"] == bench.COINCIDENCE_REGIMES[rec["regime"]]
            assert 1 <= rec["bl_used"] <= 31 and rec["coincidences_per_s"] == rec["pulses_per_s"]
        else:
            assert set(rec) == set(bench.UPDATE_KEYS)
            assert rec["rule"] == "stochastic_rounding" and rec["lr"] == 0.01
        for key in UPDATE_NUMBER_KEYS:
            assert _positive_finite(rec[key]), (key, rec)
        for key in ("first_call_s", "compile_s"):
            assert math.isfinite(rec[key]) and rec[key] >= 0.0
        assert rec["dtype"] == "float64"
        assert rec["rows"] == rec["cols"] and rec["rows"] in (32, 64)
        assert isinstance(rec["threads"], int) and rec["threads"] >= 1
    combos = {(r["device"], r["rows"], r["batch"], r["backend"], r.get("regime")) for r in updates}
    assert combos == {(dev, n, b, be, regime) for dev in ("constant_step", "soft_bounds") for n in (32, 64)
                      for b in (1, 32) for be in ("numba", "numpy") for regime in (None, "dense", "sparse")}
    assert len(updates) == len(combos)
    dense = [r for r in updates if r.get("regime") == "dense"]
    assert all(r["bl_used"] == 31 for r in dense)  # lr 0.1: the full trains are used


def test_philox_records(smoke_run):
    doc = smoke_run.doc
    philox = [r for r in doc["records"] if r["kind"] == "philox_normals"]
    assert {r["threads"] for r in philox} >= {1}
    for rec in philox:
        assert set(rec) == set(bench.PHILOX_KEYS)
        assert _positive_finite(rec["normals_per_s"])
    # every update record carries the normal rate measured between its rounds, and the ratio uses it
    for rec in doc["records"]:
        if rec["kind"] == "update":
            assert rec["pulses_per_s_over_normal_rate"] == pytest.approx(rec["pulses_per_s"] / rec["normals_per_s"])


def test_update_rates_are_the_median_of_rounds(smoke_run):
    for rec in smoke_run.doc["records"]:
        if rec["kind"] == "update":
            rounds = rec["rounds_cell_updates_per_s"]
            assert len(rounds) == bench.ROUNDS and all(_positive_finite(r) for r in rounds)
            assert rec["cell_updates_per_s"] == pytest.approx(float(np.median(rounds)))
            assert rec["pulses_per_s"] == pytest.approx(rec["cell_updates_per_s"] * rec["mean_pulses_per_cell_update"])


def test_numba_threads_restored(smoke_run):
    assert smoke_run.threads_after == smoke_run.threads_before


def test_bad_arguments():
    with pytest.raises(ValueError, match="backends"):
        bench.run_bench(smoke=True, backends=("cuda",), progress=False)
    with pytest.raises(ValueError, match="threads"):
        bench.run_bench(smoke=True, threads=(0,), progress=False)


def test_cli_arguments():
    parser = bench.add_arguments(argparse.ArgumentParser(prog="memsim bench"))
    ns = parser.parse_args(["--smoke", "--json", "out.json", "--backend", "numpy", "--training"])
    assert ns.smoke and ns.json == "out.json" and ns.backend == ["numpy"] and ns.training
    assert parser.parse_args([]).backend is None


def test_training_benchmark_smoke(tmp_path):
    records = bench.run_bench(smoke=True, backends=("numba", "numpy"), json_path=tmp_path / "t.json",
                              progress=False, training=True, workloads=("n1_sr_b1",))
    network = records.pop()  # --training: the README example's records, then the network workloads
    assert network["kind"] == "network_training" and network["workload"] == "n1_sr_b1" and network["path"] == "fused"
    assert [r["backend"] for r in records] == ["numba", "numpy"]
    for rec in records:
        assert set(rec) == set(bench.TRAINING_KEYS)
        assert rec["updates"] == 1000 and rec["updates_per_s"] > 0 and rec["recording"]
    assert json.loads((tmp_path / "t.json").read_text())["records"][0]["kind"] == "training"
