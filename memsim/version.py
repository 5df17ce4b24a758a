"""The memsim version (one place; the package, provenance and benchmarks read it)."""

__version__ = "0.1.0"
