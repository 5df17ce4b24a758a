"""Workflows: run configs, the one run path, sweeps, results, reports, studies, attribution, benchmarks."""
