r"""Multi-layer perceptrons in plain NumPy: activations, losses, forward and backward passes.

The maths of :mod:`memsim.models.mlp` without tiles, so the digital baselines
(:mod:`memsim.compare.digital`) and every evaluation of trained weights use exactly the same
network while never importing the simulator (see :mod:`memsim.models.mlp` for the conventions).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from scipy.special import log_expit

from .params import check_choice, invalid

__all__ = ["ACTIVATIONS", "LOSSES", "Loss", "MSELoss", "SoftmaxCrossEntropy", "LogisticLoss", "get_loss",
           "default_loss", "is_classification_task", "check_loss_for_task", "augment", "mlp_forward", "exact_tanh",
           "exact_exp", "exact_log", "ACTIVATION_CODES", "LOSS_CODES",
           "mlp_backward", "loss_and_gradients", "evaluate"]


# ---------------------------------------------------------------------------- activations
# Transcendental functions are evaluated element by element with the C library's ``math`` functions
# (what the compiled network kernels call), not NumPy's vectorised versions, which may differ in the
# last bit (NumPy's SIMD ``tanh``): the step-by-step trainer and the fused kernels then compute the
# same numbers. Everything else is IEEE arithmetic, identical in both.


def _by_libm(func):
    """``func`` of every element by the C library: a float64 array shaped like the input."""
    ufunc = np.frompyfunc(func, 1, 1)
    name = func.__name__

    def apply(z: np.ndarray) -> np.ndarray:
        return np.asarray(ufunc(np.asarray(z, dtype=np.float64)), dtype=np.float64)

    apply.__name__ = apply.__qualname__ = f"exact_{name}"
    apply.__doc__ = f"""``{name}`` of every element by the C library (bit-identical to the compiled kernels).

    Parameters
    ----------
    z : array_like
        Input values.

    Returns
    -------
    numpy.ndarray
        Float64 array of ``{name}(z)``, shaped like ``z``.
    """
    return apply


exact_tanh = _by_libm(math.tanh)
exact_exp = _by_libm(math.exp)
exact_log = _by_libm(math.log)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + exact_exp(-np.asarray(z, dtype=np.float64)))


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _tanh_prime(z: np.ndarray) -> np.ndarray:
    t = exact_tanh(z)
    return 1.0 - t * t


def _sigmoid_prime(z: np.ndarray) -> np.ndarray:
    s = _sigmoid(z)
    return s * (1.0 - s)


def _relu_prime(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(np.float64)


#: name -> (phi, phi') as functions of the pre-activation z.
#: ``tanh``: :math:`\phi' = 1 - \tanh^2 z`; ``sigmoid``: :math:`\sigma(z) = 1/(1 + e^{-z})`,
#: :math:`\phi' = \sigma(1 - \sigma)`; ``relu``: :math:`\max(z, 0)`, :math:`\phi' = [z > 0]`.
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "tanh": (exact_tanh, _tanh_prime),
    "sigmoid": (_sigmoid, _sigmoid_prime),
    "relu": (_relu, _relu_prime),
}

#: Codes of the activations and losses in the compiled kernels (index in these tuples).
ACTIVATION_CODES = ("tanh", "sigmoid", "relu")
LOSS_CODES = ("mse", "softmax", "logistic")


# ---------------------------------------------------------------------------- losses
def _logsumexp(o: np.ndarray) -> np.ndarray:
    """Row-wise ``log(sum(exp(o)))``, stable (a plain NumPy version: scipy's is slow on small arrays)."""
    top = np.max(o, axis=1, keepdims=True)
    return (top + np.log(np.sum(np.exp(o - top), axis=1, keepdims=True)))[:, 0]


class Loss:
    """A per-sample loss :math:`\\ell(o, t)` of the network output ``o`` (shape (batch, outputs))."""

    name: str = ""

    def n_outputs(self, n_classes: int | None, y: np.ndarray) -> int:
        """Network outputs needed for labels with ``n_classes`` classes (``None``: regression targets ``y``).

        Parameters
        ----------
        n_classes : int or None
            Number of classes, or ``None`` for regression targets.
        y : numpy.ndarray
            Class labels, shape (n,), or regression targets, shape (n,) or (n, k).

        Returns
        -------
        int
            Number of network outputs.
        """
        raise NotImplementedError

    def targets(self, y: np.ndarray, n_classes: int | None) -> np.ndarray:
        """What :meth:`value` and :meth:`grad` take as ``t`` for labels or regression targets ``y``.

        Parameters
        ----------
        y : numpy.ndarray
            Class labels, shape (n,), or regression targets, shape (n,) or (n, k).
        n_classes : int or None
            Number of classes, or ``None`` for regression targets.

        Returns
        -------
        numpy.ndarray
            The targets ``t`` in the form this loss uses (one-hot rows, labels or values).
        """
        raise NotImplementedError

    def value(self, out: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per-sample losses, shape (batch,).

        Parameters
        ----------
        out : numpy.ndarray
            Network outputs, shape (batch, outputs).
        t : numpy.ndarray
            Targets from :meth:`targets`.

        Returns
        -------
        numpy.ndarray
            :math:`\\ell(o_b, t_b)` for every sample, shape (batch,).
        """
        raise NotImplementedError

    def grad(self, out: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per-sample gradients :math:`d_b = \\partial\\ell_b/\\partial o_b`, shape (batch, outputs).

        Parameters
        ----------
        out : numpy.ndarray
            Network outputs, shape (batch, outputs).
        t : numpy.ndarray
            Targets from :meth:`targets`.

        Returns
        -------
        numpy.ndarray
            The gradients :math:`d_b`, shape (batch, outputs).
        """
        raise NotImplementedError

    def predict(self, out: np.ndarray) -> np.ndarray:
        """Predicted class labels, shape (batch,).

        Parameters
        ----------
        out : numpy.ndarray
            Network outputs, shape (batch, outputs).

        Returns
        -------
        numpy.ndarray
            Integer class labels, shape (batch,).
        """
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
        # fixed-order arithmetic (the compiled kernels reproduce it): top = max_k o_k,
        # s = sum_k exp(o_k - top) summed left to right, p_k = exp(o_k - (top + log s))
        out = np.asarray(out, dtype=np.float64)
        top = np.max(out, axis=1, keepdims=True)
        s = np.cumsum(exact_exp(out - top), axis=1)[:, -1:]
        p = exact_exp(out - (top + exact_log(s)))
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
        return (_sigmoid(out[:, 0]) - t)[:, None]

    def predict(self, out):
        return (out[:, 0] > 0).astype(np.int64)


LOSSES: dict[str, Loss] = {c.name: c() for c in (MSELoss, SoftmaxCrossEntropy, LogisticLoss)}


def get_loss(name: str | Loss) -> Loss:
    """The :class:`Loss` called ``name`` ('mse', 'softmax' or 'logistic'); a Loss is returned as is.

    Parameters
    ----------
    name : {'mse', 'softmax', 'logistic'} or Loss
        The loss's name, or a loss object.

    Returns
    -------
    Loss
        The loss object.
    """
    if isinstance(name, Loss):
        return name
    return LOSSES[check_choice("model", "loss", name, tuple(LOSSES))]


def is_classification_task(task: Any) -> bool:
    """Whether a task yields class labels (it has ``is_classification = True``).

    Parameters
    ----------
    task : object
        A task (:mod:`memsim.tasks`).

    Returns
    -------
    bool
        True for a classification task.
    """
    return bool(getattr(task, "is_classification", False))


def default_loss(task: Any) -> str:
    """'mse' for a regression task, 'logistic' for a binary and 'softmax' for a multi-class task.

    Parameters
    ----------
    task : object
        A task (:mod:`memsim.tasks`).

    Returns
    -------
    str
        The default loss name for the task.
    """
    if not is_classification_task(task):
        return "mse"
    return "logistic" if task.n_classes == 2 else "softmax"


def check_loss_for_task(loss: str, task: Any) -> str:
    """Validate ``model.loss`` against the task (``ConfigError`` naming ``loss``); return it.

    Parameters
    ----------
    loss : str
        The loss name ('mse', 'softmax' or 'logistic').
    task : object
        The task (:mod:`memsim.tasks`); a regression task allows only 'mse', 'logistic' needs 2 classes.

    Returns
    -------
    str
        The validated loss name.
    """
    loss = check_choice("model", "loss", loss, tuple(LOSSES))
    if not is_classification_task(task) and loss != "mse":
        raise invalid("model", "loss", f"'mse' for the regression task {task.kind!r}", loss)
    if loss == "logistic" and task.n_classes != 2:
        raise invalid("model", "loss", f"'softmax' or 'mse' for the task {task.kind!r} with {task.n_classes} "
                      "classes ('logistic' needs 2)", loss)
    return loss


# ---------------------------------------------------------------------------- NumPy network maths
def augment(A: np.ndarray, bias: bool) -> np.ndarray:
    """Activations as a layer sees them: a column of ones appended when ``bias``.

    Parameters
    ----------
    A : numpy.ndarray
        Activations, shape (n, d).
    bias : bool
        Whether to append the bias column.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape (n, d + 1) with a last column of ones, or ``A`` itself as float64.
    """
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
        Input samples.
    activation : {'tanh', 'sigmoid', 'relu'}
        Activation :math:`\phi` of the hidden layers (the output layer is linear).
    bias : bool
        Whether every layer has a bias column (the last column of its weight matrix).

    Returns
    -------
    out : numpy.ndarray, shape (n, out_L)
        Network outputs :math:`o`.
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

    Parameters
    ----------
    weights : list of numpy.ndarray
        Layer ``l`` has shape ``(out_l, in_l + bias)``.
    cache : list of (a_aug, z)
        The cache returned by :func:`mlp_forward`.
    d_out : numpy.ndarray
        Per-sample output gradients :math:`\partial\ell/\partial o`, shape (n, out_L).
    activation : {'tanh', 'sigmoid', 'relu'}
        Activation of the hidden layers.
    bias : bool
        Whether every layer has a bias column.

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

    Parameters
    ----------
    weights : list of numpy.ndarray
        Layer ``l`` has shape ``(out_l, in_l + bias)``.
    X : numpy.ndarray
        Input samples, shape (n, in_0).
    t : numpy.ndarray
        The loss's targets (:meth:`Loss.targets`).
    loss : str or Loss
        The loss (:func:`get_loss`).
    activation : {'tanh', 'sigmoid', 'relu'}
        Activation of the hidden layers.
    bias : bool
        Whether every layer has a bias column.

    Returns
    -------
    value : float
        The mean loss :math:`L`.
    gradients : list of numpy.ndarray
        :math:`\partial L/\partial W^{(l)}` for every layer, shaped like ``weights``.
    """
    lf = get_loss(loss)
    out, cache = mlp_forward(weights, X, activation, bias)
    deltas = mlp_backward(weights, cache, lf.grad(out, t), activation, bias)
    n = out.shape[0]
    return float(np.mean(lf.value(out, t))), [d.T @ c[0] / n for d, c in zip(deltas, cache)]


def evaluate(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, loss: str | Loss, activation: str = "tanh",
             bias: bool = True, n_classes: int | None = None) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of the network ``weights`` on ``(X, y)`` (exact digital evaluation).

    Parameters
    ----------
    weights : list of numpy.ndarray
        Layer ``l`` has shape ``(out_l, in_l + bias)``.
    X : numpy.ndarray
        Input samples, shape (n, in_0).
    y : numpy.ndarray
        Class labels (with ``n_classes``) or regression targets (``n_classes=None``).
    loss : str or Loss
        The loss (:func:`get_loss`).
    activation : {'tanh', 'sigmoid', 'relu'}
        Activation of the hidden layers.
    bias : bool
        Whether every layer has a bias column.
    n_classes : int or None
        Number of classes; ``None`` for regression targets.

    Returns
    -------
    loss : float
        The mean loss.
    accuracy : float
        Fraction of correctly predicted labels (NaN for regression).
    """
    lf = get_loss(loss)
    out, _ = mlp_forward(weights, X, activation, bias)
    value = float(np.mean(lf.value(out, lf.targets(y, n_classes))))
    accuracy = float(np.mean(lf.predict(out) == np.asarray(y))) if n_classes is not None else math.nan
    return value, accuracy
