"""memsim against IBM aihwkit on the network workloads, in interleaved rounds at matched epochs.

Each round times one memsim workload (``memsim.workflows.bench_networks.run_workload``: the median of
its own timing rounds) and then the peer (``../shared/peers/aihwkit/train_mlp.py`` under the peer's
python, 1 thread) on the same task for the same number of epochs as memsim's rounds and on all the
training samples: pulses per sample fall as a network learns, so both sides must time the same part
of training. Prints every round and writes a JSON file (atomically).

    python experiments/peer_speed/run.py --workload n1_pc_b1 --rounds 3 --out peer_n1.json
    python experiments/peer_speed/run.py --workload n2_pc_b1 --rounds 3 --out peer_n2.json
    python experiments/peer_speed/run.py --smoke --out x.json   # seconds (tests/test_experiments.py)

The peer's python: ``--peer-python``, else ``$AIHWKIT_PYTHON``, else
``~/.cache/peer-envs/aihwkit/bin/python`` (``../shared/peers/aihwkit/build.sh`` builds it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from memsim.workflows.bench_networks import WORKLOADS, run_workload
from memsim.workflows.io import write_json_atomic

ROOT = Path(__file__).resolve().parents[2]
PEER_SCRIPT = ROOT.parent / "shared" / "peers" / "aihwkit" / "train_mlp.py"


def peer_python(given: str | None) -> str:
    """The peer's python interpreter (module docstring); raises FileNotFoundError naming the paths tried."""
    tried = [given, os.environ.get("AIHWKIT_PYTHON"),
             str(Path.home() / ".cache" / "peer-envs" / "aihwkit" / "bin" / "python")]
    for path in tried:
        if path and Path(path).is_file():
            return path
    raise FileNotFoundError(f"peer_python: no aihwkit python found (tried {[p for p in tried if p]}); "
                            "build it with ../shared/peers/aihwkit/build.sh or pass --peer-python")


def run_peer(python: str, script: Path, task: str, epochs: int, batch: int) -> dict:
    """One run of the peer's side; returns its JSON line (samples_per_s, test_acc, ...)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([python, str(script), "--task", task, "--epochs", str(epochs), "--batch", str(batch)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="n1_pc_b1",
                   choices=[w for w, (_, rule, _, rep) in WORKLOADS.items() if rule == "pc" and rep == 1])
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (memsim, then the peer)")
    p.add_argument("--threads", type=int, default=None, help="memsim's Numba threads (default: the core count)")
    p.add_argument("--peer-python", default=None, help="the aihwkit python (module docstring)")
    p.add_argument("--peer-script", default=str(PEER_SCRIPT), help="the peer's train_mlp.py")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--smoke", action="store_true", help="memsim's smoke-size workload (tests the plumbing)")
    a = p.parse_args(argv)
    if a.rounds < 1:
        p.error(f"--rounds must be at least 1 (got {a.rounds})")
    if not Path(a.out).resolve().parent.is_dir():
        p.error(f"--out: its folder does not exist: {Path(a.out).resolve().parent}")
    python = peer_python(a.peer_python)
    script = Path(a.peer_script)
    if not script.is_file():
        p.error(f"--peer-script: no such file: {script}")
    task, _, batch, _ = WORKLOADS[a.workload]
    rounds = []
    for r in range(a.rounds):
        rec = run_workload(a.workload, threads=a.threads, smoke=a.smoke)
        peer = run_peer(python, script, task, rec["epochs_per_round"], batch)
        ratio = rec["samples_per_s"] / peer["samples_per_s"]
        rounds.append({"memsim": rec, "aihwkit": peer, "ratio": ratio})
        print(f"round {r + 1}: memsim {rec['samples_per_s']:,.0f} samples/s ({rec['pulses_per_sample']:,.0f} "
              f"pulses/sample, {rec['threads']} threads), aihwkit {peer['samples_per_s']:,.0f}, "
              f"{rec['epochs_per_round']} epochs each: ratio {ratio:.2f}", flush=True)
    median = statistics.median(x["ratio"] for x in rounds)
    print(f"{a.workload}: median ratio memsim / aihwkit {median:.2f} over {a.rounds} rounds")
    write_json_atomic(a.out, {"workload": a.workload, "rounds": rounds, "median_ratio": median})
    return 0


if __name__ == "__main__":
    sys.exit(main())
