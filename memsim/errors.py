"""Exceptions raised by memsim."""


class MemsimError(Exception):
    """Base class of every memsim-specific exception."""


class ConfigError(MemsimError, ValueError):
    """A parameter or configuration value is invalid (also a ``ValueError``)."""


class BackendUnavailableError(MemsimError, RuntimeError):
    """An explicitly requested backend cannot be used here (the message says why and how to fix it)."""


class ConvergenceError(MemsimError, RuntimeError):
    """A self-consistent prediction (fixed point or root) or a fit did not converge."""


class DivergenceError(MemsimError, ArithmeticError):
    """A digital (comparison-side) SGD diverged: non-finite or absurdly large weights.

    Raised by :func:`memsim.compare.digital.train_digital`, which stops at the end of the epoch in
    which it sees the divergence. The run path catches it: the quantities that need the diverged
    baseline are ``null`` in the summary with the reason in ``failures`` and ``regime_warnings``
    (docs/design.md, section 'Failures'); the in-place results are kept. ``epoch`` (1-based) and ``reason`` say
    where and what.
    """

    def __init__(self, message: str, epoch: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.epoch = epoch
        self.reason = reason or message


class TrainingError(MemsimError, RuntimeError):
    """The in-place training itself failed (e.g. non-finite in-place weights): the run fails.

    ``memsim run`` exits with status 1 on it (status 2 is kept for configuration errors).
    """
