"""The task registry: ``kind`` name -> task class, the :class:`Dataset` container and the data generator.

Every task is a frozen dataclass with ``kind``; ``task.load(run_seed)`` returns a :class:`Dataset`.
Randomness comes from a NumPy ``Generator`` seeded by ``SeedSequence([seed, STREAM_DATA])`` (data are
not simulation noise, but they are just as reproducible).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import rng
from ..params import invalid

__all__ = ["Dataset", "TASKS", "register_task", "task_from_dict", "data_generator"]


def data_generator(seed: int, *tags: int) -> np.random.Generator:
    """A NumPy generator for data (not device noise), from the seed and stream tags.

    Parameters
    ----------
    seed : int
        The data seed.
    *tags
        Stream tags that separate independent uses of the seed.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator seeded by ``SeedSequence([seed, STREAM_DATA, *tags])``.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), rng.STREAM_DATA, *tags])))


@dataclass(frozen=True)
class Dataset:
    """Training and test arrays of a regression task (``y`` has shape (n, outputs)).

    Parameters
    ----------
    X_train : numpy.ndarray
        Training inputs, shape (n_train, d).
    y_train : numpy.ndarray
        Training targets, shape (n_train, outputs).
    X_test : numpy.ndarray
        Test inputs, shape (n_test, d).
    y_test : numpy.ndarray
        Test targets, shape (n_test, outputs).
    w_true : numpy.ndarray or None
        The teacher weights of a teacher-student task; ``None`` otherwise.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    w_true: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return self.X_train.shape[1]


class _Task:
    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """All parameters plus ``kind``."""
        out = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Build from a config table; unknown keys raise naming the key."""
        data = {k: v for k, v in data.items() if k != "kind"}
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise invalid(f"task {cls.kind!r}", key, "absent (unknown key; allowed keys: "
                              + ", ".join(sorted(names)) + ")", data[key])
        return cls(**data)


TASKS: dict[str, type] = {}
"""Every task class by its ``kind``; the task modules add theirs with :func:`register_task`."""


def register_task(cls: type) -> type:
    """Class decorator: add a task to :data:`TASKS` under its ``kind``.

    Returns
    -------
    type
        ``cls`` itself.
    """
    if not cls.kind or cls.kind in TASKS:
        raise ValueError(f"task kind {cls.kind!r} of {cls.__name__} is empty or already registered")
    TASKS[cls.kind] = cls
    return cls



def task_from_dict(data: dict[str, Any]):
    """Build a task from a config table with a ``kind`` key.

    Parameters
    ----------
    data : dict
        The ``[task]`` table, with a ``kind`` key.

    Returns
    -------
    object
        The task (a frozen dataclass of that kind).
    """
    kind = data.get("kind")
    if kind not in TASKS:
        raise invalid("task", "kind", "one of " + ", ".join(repr(k) for k in TASKS), kind)
    return TASKS[kind].from_dict(data)
