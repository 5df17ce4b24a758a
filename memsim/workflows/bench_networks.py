"""The network-training benchmark: in-place MLP training speed, alone and as replicas.

Workloads (``memsim bench --training`` runs them all after the README-example record;
``memsim bench --workload NAME`` runs one alone, so that it can be interleaved with the peer's side,
``../shared/peers/aihwkit/train_mlp.py`` (``experiments/peer_speed/run.py`` does both at matched epochs);
``memsim bench --workload A --workload B --interleave`` alternates several within one process):

``n1_sr_b1``, ``n1_pc_b1``, ``n1_sr_b8``, ``n1_pc_b8``
    The digits MLP 64-32-10 (tanh, softmax cross-entropy, bias), soft bounds ``dw_min 0.001``,
    ``dw_min_std 0.3``, ``w`` in [-1, 1], ``lr 0.05``, batch 1 or 8 (per-sample programming), stochastic
    rounding (``sr``) or pulse coincidence (``pc``: BL 31, update and BL management). Data as the
    peer's: scikit-learn digits / 16, a 70/30 split with ``random_state 0`` (1,257 training samples).
``n2_sr_b1``, ``n2_pc_b1``
    A 784-256-10 tanh MLP on the peer's ``mnist_like`` data: 784 inputs, each 0 with probability 0.8,
    else uniform in (0, 1]; labels the argmax of a fixed random 784-64-10 tanh teacher;
    ``numpy.random.default_rng(0)``; the first 5,000 of 6,000 samples train. Batch 1.
``r1``, ``r2``, ``r8``, ``r32``
    ``n1_pc_b1`` as R replicas of different seeds (1 .. R), trained together (one compiled call per
    epoch, threads over replicas).
``r1024``, ``n2_r16`` (GPU)
    ``n1_pc_b1`` with 1,024 replicas and ``n2_pc_b1`` with 16: one CUDA block per replica. Run by default
    only on the ``cupy`` backend (``memsim bench --backend cupy --training``).

Every record: ``workload``, ``samples_per_s`` (replicas x samples trained / seconds of the training
calls alone: warm JIT, data in memory, per-epoch evaluation excluded; median of ``rounds`` rounds of at
least ``min_round_s`` each; every round trains fresh networks for ``epochs_per_round`` epochs),
``rounds_samples_per_s``, ``pulses_per_sample`` (pulses applied per sample per replica), ``replicas``,
``threads``, ``path`` (the trainer's path: ``"fused"`` expected), ``normals_per_s`` (the Philox normal
rate at the same thread count, measured between the rounds; median) and ``test_accuracy`` (mean over
replicas after the last round).

The epochs of a round are calibrated on one network, whatever the replica count, so that a single
network's round lasts at least ``min_round_s``; R replicas then train the same epochs (their rounds
last longer). Pulses per sample fall as a network learns (``n1_pc_b1``, seeds 1 .. 8: 3,339 in the
first epoch, 2,836 averaged over 10, 2,730 over 25), so replica counts timed over different epoch
counts would compare different work: ``r8`` against ``r1`` must time the same part of training.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

import numpy as np

from ..models.config import TrainConfig
from ..models.mlp import AnalogMLP
from ..models.train import train_replicas
from ..params import check_choice, check_float, check_int, invalid
from ..physics.devices import SoftBounds
from ..physics.updates import PulseCoincidence, StochasticRounding
from ..tasks.classification import ClassificationData
from .bench_rates import core_count, normal_rate

__all__ = ["WORKLOADS", "GPU_WORKLOADS", "default_workloads", "workload_data", "WorkloadTimer", "run_workload",
           "run_interleaved", "NETWORK_KEYS"]

#: name -> (task, rule, batch, replicas)
WORKLOADS: dict[str, tuple[str, str, int, int]] = {
    "n1_sr_b1": ("digits", "sr", 1, 1), "n1_pc_b1": ("digits", "pc", 1, 1),
    "n1_sr_b8": ("digits", "sr", 8, 1), "n1_pc_b8": ("digits", "pc", 8, 1),
    "n2_sr_b1": ("mnist_like", "sr", 1, 1), "n2_pc_b1": ("mnist_like", "pc", 1, 1),
    "r1": ("digits", "pc", 1, 1), "r2": ("digits", "pc", 1, 2), "r8": ("digits", "pc", 1, 8),
    "r32": ("digits", "pc", 1, 32), "r1024": ("digits", "pc", 1, 1024), "n2_r16": ("mnist_like", "pc", 1, 16),
}

#: Workloads sized for a GPU (one CUDA block per replica): run by default only on the ``cupy`` backend.
GPU_WORKLOADS = ("r1024", "n2_r16")


def default_workloads(backend: str) -> tuple[str, ...]:
    """The workloads ``memsim bench --training`` runs on ``backend``.

    Parameters
    ----------
    backend : str
        ``"numba"``, ``"numpy"`` or ``"cupy"``.

    Returns
    -------
    tuple of str
        Every workload on ``cupy``; on the CPU backends all but :data:`GPU_WORKLOADS`.
    """
    return tuple(WORKLOADS) if backend == "cupy" else tuple(w for w in WORKLOADS if w not in GPU_WORKLOADS)

#: Keys of a network-training record.
NETWORK_KEYS = ("kind", "backend", "workload", "samples_per_s", "rounds_samples_per_s", "pulses_per_sample", "replicas",
                "threads", "path", "normals_per_s", "samples", "epochs_per_round", "test_accuracy")


def workload_data(task: str, max_samples: int | None = None) -> ClassificationData:
    """The peer's data of ``task`` ('digits' or 'mnist_like'; module docstring), optionally cut to
    ``max_samples`` training samples.

    Parameters
    ----------
    task : {'digits', 'mnist_like'}
        The workload's data set.
    max_samples : int or None
        Keep at most this many training samples; ``None`` (or 0): all.

    Returns
    -------
    memsim.tasks.classification.ClassificationData
        The training and test data (10 classes).
    """
    task = check_choice("workload_data", "task", task, ("digits", "mnist_like"))
    if task == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)
    else:
        g = np.random.default_rng(0)
        n = 6000
        X = np.where(g.random((n, 784)) < 0.8, 0.0, g.uniform(0.0, 1.0, (n, 784)))
        W1 = g.normal(0, 1 / np.sqrt(784), (784, 64))
        W2 = g.normal(0, 1 / np.sqrt(64), (64, 10))
        y = np.argmax(np.tanh(X @ W1) @ W2, axis=1)
        Xtr, Xte, ytr, yte = X[:5000], X[5000:], y[:5000], y[5000:]
    if max_samples:
        Xtr, ytr = Xtr[:max_samples], ytr[:max_samples]
    return ClassificationData(X_train=np.ascontiguousarray(Xtr), y_train=np.asarray(ytr, dtype=np.int64),
                              X_test=np.ascontiguousarray(Xte), y_test=np.asarray(yte, dtype=np.int64), n_classes=10)


def _models(task: str, rule: str, replicas: int, backend: str) -> list[AnalogMLP]:
    device = SoftBounds(dw_min=0.001, dw_min_std=0.3, w_max=1.0)
    update = PulseCoincidence(desired_bl=31) if rule == "pc" else StochasticRounding()
    hidden = 32 if task == "digits" else 256
    n_in = 64 if task == "digits" else 784
    return [AnalogMLP([n_in, hidden, 10], "tanh", device=device, update=update, backend=backend, seed=r + 1)
            for r in range(replicas)]


class WorkloadTimer:
    """One workload, calibrated and ready to time round after round (:func:`run_workload` times one
    alone, :func:`run_interleaved` several in turn).

    The epochs of a round are calibrated on one network (module docstring); the first fits also
    compile or load the kernels. Numba's thread count is set for every fit and restored after it.

    Parameters
    ----------
    name : str
        A key of :data:`WORKLOADS`.
    smoke : bool
        Tiny: 40 training samples, rounds of at least 0.01 s.
    threads : int, optional
        Numba threads (default: the cores this process may use).
    min_round_s : float
        A single network's round trains whole epochs for at least this long.
    backend : str
        ``"numba"`` (the fused path) or another backend (the step path, for comparison).
    epochs : int, optional
        Epochs per round, not calibrated (:func:`run_interleaved` gives the workloads of one task,
        rule and batch size the epochs of the first).
    """

    def __init__(self, name: str, *, smoke: bool = False, threads: int | None = None, min_round_s: float = 2.0,
                 backend: str = "numba", epochs: int | None = None):
        self.name = check_choice("run_workload", "name", name, tuple(WORKLOADS))
        self.task, self.rule, self.batch, self.replicas = WORKLOADS[name]
        self.smoke, self.backend = bool(smoke), backend
        min_round_s = 0.01 if smoke else float(min_round_s)
        self.data = workload_data(self.task, 40 if smoke else None)
        self._numba = None
        if backend == "numba":
            from ..backends.numba import threads as numba_threads

            self._numba = numba_threads
        threads = check_int("run_workload", "threads", threads if threads is not None else core_count(), 1)
        self.threads = min(threads, self._numba.max_threads()) if self._numba else 1
        self.rates: list[float] = []
        self.normal_rates: list[float] = []
        self.pulses_per_sample = 0.0
        self.results: list = []
        if epochs is not None:  # checked before any compute
            epochs = check_int("run_workload", "epochs", epochs, 1)
        self.fit(1)  # compiles or loads the kernels of R replicas
        if epochs is not None:
            self.epochs = epochs
            return
        if self.replicas > 1:
            self.fit(1, 1)  # and those of one network (another kernel)
        first_s, _, _ = self.fit(1, 1)
        epochs = max(1, math.ceil(min_round_s / max(first_s, 1e-9))) if first_s < min_round_s else 1
        seconds, _, _ = self.fit(epochs, 1)
        if seconds < min_round_s:
            epochs = max(epochs, math.ceil(epochs * min_round_s / max(seconds, 1e-9)))
        self.epochs = epochs

    def fit(self, epochs: int, n_rep: int | None = None):
        """Train fresh networks of the workload (replicas trained together).

        Parameters
        ----------
        epochs : int
            Epochs to train.
        n_rep : int, optional
            Networks to train (default: the workload's replicas).

        Returns
        -------
        tuple
            (seconds of the training calls, pulses applied, the list of ``TrainResult``).
        """
        n_rep = self.replicas if n_rep is None else n_rep
        before = self._numba.get_num_threads() if self._numba else None
        if self._numba:
            self._numba.set_num_threads(self.threads)
        try:
            models = _models(self.task, self.rule, n_rep, self.backend)
            cfg = TrainConfig(lr=0.05, epochs=epochs, batch_size=self.batch, average_from=0.5)
            results = train_replicas(models, [self.data] * n_rep, [cfg] * n_rep, [m.seed for m in models],
                                     loss="softmax", progress=False)
        finally:
            if self._numba:
                self._numba.set_num_threads(before)
        seconds = sum(r.compute_s for r in results)
        pulses = sum(int(np.sum(s["pulses_up"])) + int(np.sum(s["pulses_down"]))
                     for r in results for s in r.statistics)
        return seconds, pulses, results

    def round(self) -> float:
        """Time one round (then the Philox normal rate at the same thread count).

        Returns
        -------
        float
            The round's samples/s (replicas x samples trained / seconds of the training calls).
        """
        n = self.data.X_train.shape[0]
        seconds, pulses, self.results = self.fit(self.epochs)
        rate = self.replicas * n * self.epochs / seconds
        self.rates.append(rate)
        self.pulses_per_sample = pulses / (self.replicas * n * self.epochs)
        if self._numba:
            self.normal_rates.append(normal_rate(self._numba, self.threads, 0.05 if self.smoke else 0.5, self.smoke))
        return rate

    def record(self) -> dict[str, Any]:
        """The record of the rounds timed so far.

        Returns
        -------
        dict
            Keys :data:`NETWORK_KEYS`; ``samples_per_s`` is the median over the rounds.
        """
        if not self.rates:
            raise RuntimeError(f"workload {self.name!r}: no round timed yet")
        return {"kind": "network_training", "backend": self.backend, "workload": self.name,
                "samples_per_s": statistics.median(self.rates),
                "rounds_samples_per_s": list(self.rates), "pulses_per_sample": self.pulses_per_sample,
                "replicas": self.replicas, "threads": self.threads, "path": self.results[0].path,
                "normals_per_s": statistics.median(self.normal_rates) if self.normal_rates else math.nan,
                "samples": int(self.data.X_train.shape[0]), "epochs_per_round": self.epochs,
                "test_accuracy": float(np.mean([r.curves["test_accuracy"][-1] for r in self.results]))}


def run_workload(name: str, *, smoke: bool = False, threads: int | None = None, rounds: int = 5,
                 min_round_s: float = 2.0, backend: str = "numba") -> dict[str, Any]:
    """Time one workload (module docstring) and return its record.

    Parameters
    ----------
    name : str
        A key of :data:`WORKLOADS`.
    smoke : bool
        Tiny: 40 training samples, 2 rounds of at least 0.01 s.
    threads : int, optional
        Numba threads (default: the cores this process may use).
    rounds : int
        Timed rounds (median reported).
    min_round_s : float
        A single network's round trains whole epochs for at least this long (the epoch count is
        calibrated once, on one network; R replicas train as many epochs).
    backend : str
        ``"numba"`` (the fused path) or another backend (the step path, for comparison).

    Returns
    -------
    dict
        The record (keys :data:`NETWORK_KEYS`).
    """
    return run_interleaved([name], smoke=smoke, threads=threads, rounds=rounds, min_round_s=min_round_s,
                           backend=backend)[0]


def run_interleaved(names: Sequence[str], *, smoke: bool = False, threads: int | None = None, rounds: int = 5,
                    min_round_s: float = 2.0, backend: str = "numba") -> list[dict[str, Any]]:
    """Time several workloads in interleaved rounds (A B C A B C ...) and return their records.

    A shared machine's speed drifts by a third within minutes, so two workloads compare only when
    their rounds alternate; with more than one workload every record also has ``ratio_to`` (the
    first workload), ``rounds_ratio`` (its samples/s over the first's, round by round) and
    ``median_ratio``. Workloads of one task, rule and batch size (``r1``, ``r8``, ``r32``, ``n1_pc_b1``)
    train the epochs calibrated for the first of them.

    Parameters
    ----------
    names : sequence of str
        Keys of :data:`WORKLOADS` (the first is the reference of the ratios).
    smoke : bool
        Tiny: 40 training samples, 2 rounds of at least 0.01 s.
    threads : int, optional
        Numba threads (default: the cores this process may use).
    rounds : int
        Timed rounds of every workload (medians reported).
    min_round_s : float
        A single network's round trains whole epochs for at least this long.
    backend : str
        ``"numba"`` (the fused path) or another backend (the step path, for comparison).

    Returns
    -------
    list of dict
        One record per name, in order (keys :data:`NETWORK_KEYS`, plus the ratio keys above).
    """
    names = list(names)
    if not names:
        raise invalid("run_interleaved", "names", "at least one workload name", names)
    for name in names:  # every argument checked before any compute
        check_choice("run_workload", "name", name, tuple(WORKLOADS))
    if threads is not None:
        check_int("run_workload", "threads", threads, 1)
    check_float("run_workload", "min_round_s", min_round_s, 0.0, lo_open=True)
    check_choice("run_workload", "backend", backend, ("numba", "numpy", "cupy"))
    rounds = check_int("run_workload", "rounds", rounds, 1)
    rounds = 2 if smoke else rounds
    timers: list[WorkloadTimer] = []
    for name in names:  # one epoch count per task, rule and batch size: the same part of training
        family = [t for t in timers if WORKLOADS[t.name][:3] == WORKLOADS[name][:3]]
        timers.append(WorkloadTimer(name, smoke=smoke, threads=threads, min_round_s=min_round_s, backend=backend,
                                    epochs=family[0].epochs if family else None))
    for _ in range(rounds):
        for timer in timers:
            timer.round()
    records = [timer.record() for timer in timers]
    if len(records) > 1:
        first = records[0]["rounds_samples_per_s"]
        for rec in records:
            ratios = [a / b for a, b in zip(rec["rounds_samples_per_s"], first)]
            rec.update(ratio_to=names[0], rounds_ratio=ratios, median_ratio=statistics.median(ratios))
    return records


def format_network_record(rec: dict[str, Any]) -> str:
    """One line of the network table (and, for an interleaved record, its ratios round by round)."""
    line = (f"{rec['workload']:<10} {rec['samples_per_s']:>12,.0f} samples/s  {rec['pulses_per_sample']:>8.0f} "
            f"pulses/sample  R={rec['replicas']:<3} threads={rec['threads']:<2} path={rec['path']:<6} "
            f"normals/s={rec['normals_per_s']:.3g}  acc={rec['test_accuracy']:.3f}  "
            f"epochs/round={rec['epochs_per_round']}")
    if "ratio_to" in rec and rec["ratio_to"] != rec["workload"]:
        line += (f"\n{'':<10} / {rec['ratio_to']}: " + ", ".join(f"{r:.3f}" for r in rec["rounds_ratio"])
                 + f"  (median {rec['median_ratio']:.3f})")
    return line
