"""Regression tasks: synthetic teacher-student linear regression and scikit-learn's diabetes data (no download).

Every task is a frozen dataclass with ``kind`` (registered in :data:`memsim.tasks.registry.TASKS`);
``task.load(run_seed)`` returns a :class:`~memsim.tasks.registry.Dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..params import MAX_FEATURES, MAX_MAGNITUDE, check_float, check_int, invalid
from .registry import Dataset, _Task, data_generator, register_task

__all__ = ["LinearRegressionTask", "DiabetesTask"]


@register_task
@dataclass(frozen=True)
class LinearRegressionTask(_Task):
    r"""Teacher-student linear regression (docs/design.md, section 'Linear tasks').

    .. math:: x \sim N(0, \mathrm{diag}(s^2)),\quad w_{\rm true} \sim N(0, \sigma_t^2 I),\quad
              y = x^\top w_{\rm true} + \sigma_n \varepsilon

    Features are not re-standardised; there is no intercept.

    Parameters
    ----------
    n_train : int
        Training samples; >= 1.
    n_test : int
        Test samples; >= 1.
    n_features : int
        Input dimension; in [1, 1e6] (:data:`memsim.params.MAX_FEATURES`).
    noise_std : float
        Label noise sigma_n; in [0, 1e150] (:data:`memsim.params.MAX_MAGNITUDE`: squares stay finite).
    feature_scales : float or tuple of float
        Feature standard deviations s: one value or one per feature; in (0, 1e150].
    teacher_std : float
        Standard deviation of the teacher weights; in [0, 1e150].
    seed : int or None
        Data seed; ``None``: the run seed.
    """

    n_train: int = 100
    """Training samples; >= 1."""
    n_test: int = 2000
    """Test samples; >= 1."""
    n_features: int = 20
    """Input dimension; in [1, 1e6] (:data:`memsim.params.MAX_FEATURES`)."""
    noise_std: float = 1.0
    """Label noise sigma_n; in [0, 1e150] (:data:`memsim.params.MAX_MAGNITUDE`: squares stay finite)."""
    feature_scales: float | tuple[float, ...] = 1.0
    """Feature standard deviations s: one value or one per feature; in (0, 1e150]."""
    teacher_std: float = 0.3
    """Standard deviation of the teacher weights; in [0, 1e150]."""
    seed: int | None = None
    """Data seed; ``None``: the run seed."""

    kind: ClassVar[str] = "linear_regression"

    def __post_init__(self) -> None:
        owner = "task 'linear_regression'"
        for name in ("n_train", "n_test"):
            object.__setattr__(self, name, check_int(owner, name, getattr(self, name), 1))
        object.__setattr__(self, "n_features", check_int(owner, "n_features", self.n_features, 1, MAX_FEATURES))
        object.__setattr__(self, "noise_std", check_float(owner, "noise_std", self.noise_std, 0.0, MAX_MAGNITUDE))
        object.__setattr__(self, "teacher_std", check_float(owner, "teacher_std", self.teacher_std, 0.0,
                                                            MAX_MAGNITUDE))
        scales = self.feature_scales
        if isinstance(scales, (list, tuple, np.ndarray)):
            if len(scales) != self.n_features:
                raise invalid(owner, "feature_scales", f"one float or a list of n_features={self.n_features} floats",
                              list(scales))
            scales = tuple(check_float(owner, "feature_scales", s, 0.0, MAX_MAGNITUDE, lo_open=True) for s in scales)
        else:
            scales = check_float(owner, "feature_scales", scales, 0.0, MAX_MAGNITUDE, lo_open=True)
        object.__setattr__(self, "feature_scales", scales)
        if self.seed is not None:
            object.__setattr__(self, "seed", check_int(owner, "seed", self.seed, 0, 2 ** 63 - 1))

    def load(self, run_seed: int) -> Dataset:
        """Draw the teacher, the training set and the test set.

        Parameters
        ----------
        run_seed : int
            The run seed, used where the task's own ``seed`` is ``None``.

        Returns
        -------
        memsim.tasks.registry.Dataset
            The training and test data.
        """
        g = data_generator(self.seed if self.seed is not None else run_seed, 1)
        s = np.broadcast_to(np.asarray(self.feature_scales, dtype=np.float64), (self.n_features,))
        w_true = self.teacher_std * g.standard_normal(self.n_features)
        X_train = g.standard_normal((self.n_train, self.n_features)) * s
        X_test = g.standard_normal((self.n_test, self.n_features)) * s
        y_train = X_train @ w_true + self.noise_std * g.standard_normal(self.n_train)
        y_test = X_test @ w_true + self.noise_std * g.standard_normal(self.n_test)
        return Dataset(X_train, y_train[:, None], X_test, y_test[:, None], w_true)


@register_task
@dataclass(frozen=True)
class DiabetesTask(_Task):
    """scikit-learn's diabetes data (442 x 10, shipped with scikit-learn), standardised.

    A random ``test_fraction`` of the rows (from ``seed``) is held out; features and target are
    standardised with the training rows' mean and standard deviation.

    Parameters
    ----------
    test_fraction : float
        Fraction of rows held out for testing; in (0, 1).
    seed : int or None
        Split seed; ``None``: the run seed.
    """

    test_fraction: float = 0.3
    """Fraction of rows held out for testing; in (0, 1)."""
    seed: int | None = None
    """Split seed; ``None``: the run seed."""

    kind: ClassVar[str] = "diabetes"

    def __post_init__(self) -> None:
        owner = "task 'diabetes'"
        object.__setattr__(self, "test_fraction", check_float(owner, "test_fraction", self.test_fraction, 0.0, 1.0,
                                                              lo_open=True, hi_open=True))
        if self.seed is not None:
            object.__setattr__(self, "seed", check_int(owner, "seed", self.seed, 0, 2 ** 63 - 1))

    def load(self, run_seed: int) -> Dataset:
        """Split and standardise the data.

        Parameters
        ----------
        run_seed : int
            The run seed, used where the task's own ``seed`` is ``None``.

        Returns
        -------
        memsim.tasks.registry.Dataset
            The training and test data.
        """
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        g = data_generator(self.seed if self.seed is not None else run_seed, 2)
        perm = g.permutation(len(y))
        n_test = max(1, int(round(self.test_fraction * len(y))))
        test, train = perm[:n_test], perm[n_test:]
        mu, sd = X[train].mean(0), X[train].std(0)
        ym, ys = y[train].mean(), y[train].std()
        Xs, ys_ = (X - mu) / sd, (y - ym) / ys
        return Dataset(Xs[train], ys_[train, None], Xs[test], ys_[test, None], None)
