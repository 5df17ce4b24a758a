"""Shared fixtures: the same test body runs on every available backend."""

import importlib.util

import pytest

from memsim.backends import get_backend

CPU_BACKENDS = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    """Name of each available CPU backend."""
    return request.param


@pytest.fixture(scope="session")
def numba_backend():
    """The Numba backend object (the default)."""
    return get_backend("numba")
