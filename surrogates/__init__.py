"""Surrogate predictors of objectives (accuracy, latency, energy) from genotype features."""
