"""Whole-image rendering of a GHNeRF model: encode the sources once (cached), render the target in chunks."""
