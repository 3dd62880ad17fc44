"""Benchmark tables (ground truth, stored proxy scores) and image batches, read from a data dir."""
