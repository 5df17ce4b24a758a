"""The experiments under experiments/ run end to end at their --smoke sizes."""

import json
import math
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_neurosim_ranking_smoke(tmp_path):
    out = tmp_path / "ranking"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "neurosim_ranking" / "run.py"), "--smoke",
                           "--quiet", "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in ("ranking.md", "ranking.json", "ranking.png"):
        assert (out / name).stat().st_size > 0, name
    result = json.loads((out / "ranking.json").read_text())
    devices = result["devices"]
    assert len(devices) == 7
    assert {d["preset"] for d in devices} == {"ag_a_si", "taox_hfox", "pcmo", "alox_hfo2", "gst_pcm",
                                              "epiram_ag_sige", "hzo_fefet"}
    rho = result["analysis"]["spearman_rho"]
    assert rho is not None and math.isfinite(rho) and -1.0 <= rho <= 1.0
    for d in devices:
        assert 0.0 <= d["test_accuracy_final"] <= 1.0
        assert len(d["per_layer"]) == 2  # one hidden layer: two layers, each with its plug-in lambda
        lam = [L["lambda_plugin_mean"] for L in d["per_layer"].values()]
        if d["asymmetry_slope"] > 0:  # a restoring symmetry point: a finite per-layer penalty
            assert all(v is not None and v >= 0 for v in lam), d["name"]
        else:  # GST PCM: F'(w_s) < 0, no Tikhonov form, lambda undefined (null in JSON)
            assert all(v is None for v in lam), d["name"]
    md = (out / "ranking.md").read_text()
    assert "Spearman" in md and all(d["name"] in md for d in devices)
    assert (out / "ranking.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_peer_speed_passes_memsims_epochs_to_the_peer(tmp_path):
    """experiments/peer_speed/run.py at smoke size, with a stand-in for the peer's python that echoes
    the epochs it was asked for: the peer must train as many epochs as memsim's rounds."""
    fake = tmp_path / "fake_python"
    fake.write_text("#!/bin/sh\n# stand-in for the aihwkit python: report the --epochs it was given\n"
                    "while [ $# -gt 0 ]; do [ \"$1\" = --epochs ] && e=$2; shift; done\n"
                    "echo '{\"samples_per_s\": 100.0, \"epochs\": '$e', \"test_acc\": 0.5}'\n")
    fake.chmod(0o755)
    out = tmp_path / "peer.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "peer_speed" / "run.py"), "--smoke",
                           "--rounds", "2", "--peer-python", str(fake), "--peer-script", str(fake),
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert len(result["rounds"]) == 2 and "median ratio" in proc.stdout
    for r in result["rounds"]:
        assert r["aihwkit"]["epochs"] == r["memsim"]["epochs_per_round"]
        assert r["ratio"] == r["memsim"]["samples_per_s"] / 100.0
    bad = subprocess.run([sys.executable, str(ROOT / "experiments" / "peer_speed" / "run.py"), "--rounds", "0",
                          "--peer-python", str(fake), "--peer-script", str(fake), "--out", str(out)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "--rounds" in bad.stderr
    nowhere = subprocess.run([sys.executable, str(ROOT / "experiments" / "peer_speed" / "run.py"), "--smoke",
                              "--peer-python", str(fake), "--peer-script", str(fake),
                              "--out", str(tmp_path / "missing" / "peer.json")],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert nowhere.returncode != 0 and "--out" in nowhere.stderr and not (tmp_path / "missing").exists()
