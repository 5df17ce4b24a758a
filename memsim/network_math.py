r"""Multi-layer perceptrons in plain NumPy: activations, losses, forward and backward passes.

The maths of :mod:`memsim.models.mlp` without tiles, so the digital baselines
(:mod:`memsim.compare.digital`) and every evaluation of trained weights use exactly the same
network while never importing the simulator (see :mod:`memsim.models.mlp` for the conventions).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from scipy.special import expit, log_expit

from .params import check_choice, invalid

__all__ = ["ACTIVATIONS", "LOSSES", "Loss", "MSELoss", "SoftmaxCrossEntropy", "LogisticLoss", "get_loss",
           "default_loss", "is_classification_task", "check_loss_for_task", "augment", "mlp_forward",
           "mlp_backward", "loss_and_gradients", "evaluate"]


# ---------------------------------------------------------------------------- activations
def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _tanh_prime(z: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(z) ** 2


def _sigmoid_prime(z: np.ndarray) -> np.ndarray:
    s = expit(z)
    return s * (1.0 - s)


def _relu_prime(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(np.float64)


#: name -> (phi, phi') as functions of the pre-activation z.
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "tanh": (np.tanh, _tanh_prime),
    "sigmoid": (expit, _sigmoid_prime),
    "relu": (_relu, _relu_prime),
}


# ---------------------------------------------------------------------------- losses
def _logsumexp(o: np.ndarray) -> np.ndarray:
    """Row-wise ``log(sum(exp(o)))``, stable (a plain NumPy version: scipy's is slow on small arrays)."""
    top = np.max(o, axis=1, keepdims=True)
    return (top + np.log(np.sum(np.exp(o - top), axis=1, keepdims=True)))[:, 0]


class Loss:
    """A per-sample loss :math:`\\ell(o, t)` of the network output ``o`` (shape (batch, outputs))."""

    name: str = ""

    def n_outputs(self, n_classes: int | None, y: np.ndarray) -> int:
        """Network outputs needed for labels with ``n_classes`` classes (``None``: regression targets ``y``)."""
        raise NotImplementedError

    def targets(self, y: np.ndarray, n_classes: int | None) -> np.ndarray:
        """What :meth:`value` and :meth:`grad` take as ``t`` for labels or regression targets ``y``."""
        raise NotImplementedError

    def value(self, out: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per-sample losses, shape (batch,)."""
        raise NotImplementedError

    def grad(self, out: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per-sample gradients :math:`d_b = \\partial\\ell_b/\\partial o_b`, shape (batch, outputs)."""
        raise NotImplementedError

    def predict(self, out: np.ndarray) -> np.ndarray:
        """Predicted class labels, shape (batch,)."""
        return np.argmax(out, axis=1)


class MSELoss(Loss):
    r"""Squared error :math:`\ell = \tfrac12\|o - t\|^2`, :math:`d = o - t`.

    Classification labels become one-hot targets (one output per class; prediction: argmax);
    regression targets of shape (n,) or (n, k) are used as they are.
    """

    name = "mse"

    def n_outputs(self, n_classes, y):
        return n_classes if n_classes is not None else (1 if np.ndim(y) == 1 else np.shape(y)[1])

    def targets(self, y, n_classes):
        if n_classes is not None:
            return np.eye(n_classes)[np.asarray(y, dtype=np.int64)]
        y = np.asarray(y, dtype=np.float64)
        return y[:, None] if y.ndim == 1 else y

    def value(self, out, t):
        return 0.5 * np.sum((out - t) ** 2, axis=1)

    def grad(self, out, t):
        return out - t


class SoftmaxCrossEntropy(Loss):
    r"""Softmax cross-entropy :math:`\ell = \log\sum_k e^{o_k} - o_y`, :math:`d = \mathrm{softmax}(o) - e_y`.

    One output (logit) per class; ``t`` are the integer labels; prediction: argmax.
    """

    name = "softmax"

    def n_outputs(self, n_classes, y):
        return n_classes

    def targets(self, y, n_classes):
        return np.asarray(y, dtype=np.int64)

    def value(self, out, t):
        return _logsumexp(out) - out[np.arange(len(t)), t]

    def grad(self, out, t):
        p = np.exp(out - _logsumexp(out)[:, None])
        p[np.arange(len(t)), t] -= 1.0
        return p


class LogisticLoss(Loss):
    r"""Logistic loss of one logit :math:`o` and a label :math:`y \in \{0, 1\}`.

    .. math::  \ell = \log(1 + e^{o}) - y\,o = -\log\sigma\big((2y - 1)\,o\big),
               \qquad d = \sigma(o) - y

    Prediction: class 1 where :math:`o > 0`.
    """

    name = "logistic"

    def n_outputs(self, n_classes, y):
        return 1

    def targets(self, y, n_classes):
        return np.asarray(y, dtype=np.float64)

    def value(self, out, t):
        return -log_expit((2.0 * t - 1.0) * out[:, 0])

    def grad(self, out, t):
        return (expit(out[:, 0]) - t)[:, None]

    def predict(self, out):
        return (out[:, 0] > 0).astype(np.int64)


LOSSES: dict[str, Loss] = {c.name: c() for c in (MSELoss, SoftmaxCrossEntropy, LogisticLoss)}


def get_loss(name: str | Loss) -> Loss:
    """The :class:`Loss` called ``name`` ('mse', 'softmax' or 'logistic'); a Loss is returned as is."""
    if isinstance(name, Loss):
        return name
    return LOSSES[check_choice("model", "loss", name, tuple(LOSSES))]


def is_classification_task(task: Any) -> bool:
    """Whether a task yields class labels (it has ``is_classification = True``)."""
    return bool(getattr(task, "is_classification", False))


def default_loss(task: Any) -> str:
    """'mse' for a regression task, 'logistic' for a binary and 'softmax' for a multi-class task."""
    if not is_classification_task(task):
        return "mse"
    return "logistic" if task.n_classes == 2 else "softmax"


def check_loss_for_task(loss: str, task: Any) -> str:
    """Validate ``model.loss`` against the task (``ConfigError`` naming ``loss``); return it."""
    loss = check_choice("model", "loss", loss, tuple(LOSSES))
    if not is_classification_task(task) and loss != "mse":
        raise invalid("model", "loss", f"'mse' for the regression task {task.kind!r}", loss)
    if loss == "logistic" and task.n_classes != 2:
        raise invalid("model", "loss", f"'softmax' or 'mse' for the task {task.kind!r} with {task.n_classes} "
                      "classes ('logistic' needs 2)", loss)
    return loss


# ---------------------------------------------------------------------------- NumPy network maths
def augment(A: np.ndarray, bias: bool) -> np.ndarray:
    """Activations as a layer sees them: a column of ones appended when ``bias``."""
    A = np.asarray(A, dtype=np.float64)
    if not bias:
        return A
    out = np.empty((A.shape[0], A.shape[1] + 1))
    out[:, :-1] = A
    out[:, -1] = 1.0
    return out


def mlp_forward(weights: list[np.ndarray], X: np.ndarray, activation: str = "tanh",
                bias: bool = True) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    r"""Forward pass with explicit weight matrices.

    .. math::  a^{(0)} = x,\quad z^{(l)} = W^{(l)}[a^{(l-1)}; 1],\quad a^{(l)} = \phi(z^{(l)})
               \ (l < L),\quad o = z^{(L)}

    Parameters
    ----------
    weights : list of numpy.ndarray
        Layer ``l`` has shape ``(out_l, in_l + bias)``.
    X : numpy.ndarray, shape (n, in_0)
    activation : {'tanh', 'sigmoid', 'relu'}
    bias : bool

    Returns
    -------
    out : numpy.ndarray, shape (n, out_L)
    cache : list of (a_aug, z)
        Per layer: its augmented input and its pre-activation (for :func:`mlp_backward`).
    """
    phi = ACTIVATIONS[activation][0]
    a = np.asarray(X, dtype=np.float64)
    cache = []
    for k, W in enumerate(weights):
        aa = augment(a, bias)
        z = aa @ W.T
        cache.append((aa, z))
        a = phi(z) if k < len(weights) - 1 else z
    return a, cache


def mlp_backward(weights: list[np.ndarray], cache: list, d_out: np.ndarray, activation: str = "tanh",
                 bias: bool = True) -> list[np.ndarray]:
    r"""Per-sample deltas :math:`d^{(l)} = \partial\ell/\partial z^{(l)}` of every layer (module docstring).

    Returns
    -------
    list of numpy.ndarray
        Layer ``l``: shape (n, out_l); the per-sample weight gradient is :math:`d^{(l)}_b [a^{(l-1)}_b; 1]^\top`.
    """
    dphi = ACTIVATIONS[activation][1]
    deltas = [np.asarray(d_out, dtype=np.float64)]
    for k in range(len(weights) - 1, 0, -1):
        back = deltas[0] @ weights[k]
        if bias:
            back = back[:, :-1]
        deltas.insert(0, back * dphi(cache[k - 1][1]))
    return deltas


def loss_and_gradients(weights: list[np.ndarray], X: np.ndarray, t: np.ndarray, loss: str | Loss,
                       activation: str = "tanh", bias: bool = True) -> tuple[float, list[np.ndarray]]:
    r"""Mean loss :math:`L = \frac1n\sum_b \ell(o_b, t_b)` and its gradient with respect to every ``W``.

    ``t`` are the loss's targets (:meth:`Loss.targets`).
    """
    lf = get_loss(loss)
    out, cache = mlp_forward(weights, X, activation, bias)
    deltas = mlp_backward(weights, cache, lf.grad(out, t), activation, bias)
    n = out.shape[0]
    return float(np.mean(lf.value(out, t))), [d.T @ c[0] / n for d, c in zip(deltas, cache)]


def evaluate(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, loss: str | Loss, activation: str = "tanh",
             bias: bool = True, n_classes: int | None = None) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of the network ``weights`` on ``(X, y)`` (exact digital evaluation).

    ``y`` are class labels (with ``n_classes``) or regression targets (``n_classes=None``; accuracy NaN).
    """
    lf = get_loss(loss)
    out, _ = mlp_forward(weights, X, activation, bias)
    value = float(np.mean(lf.value(out, lf.targets(y, n_classes))))
    accuracy = float(np.mean(lf.predict(out) == np.asarray(y))) if n_classes is not None else math.nan
    return value, accuracy
