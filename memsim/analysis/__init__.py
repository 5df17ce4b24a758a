"""The analysis of a trained model: the effective penalty fitted and predicted (linear theory, jitter,
per-cell) and the per-weight comparison of networks. Reads recorded statistics and device formulas only."""
