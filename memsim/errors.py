"""Exceptions raised by memsim."""


class MemsimError(Exception):
    """Base class of every memsim-specific exception."""


class ConfigError(MemsimError, ValueError):
    """A parameter or configuration value is invalid (also a ``ValueError``)."""


class BackendUnavailableError(MemsimError, RuntimeError):
    """An explicitly requested backend cannot be used here (the message says why and how to fix it)."""


class ConvergenceError(MemsimError, RuntimeError):
    """A self-consistent prediction (fixed point or root) or a fit did not converge."""
