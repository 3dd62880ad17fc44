"""swapbench: score untrained NAS-benchmark networks with training-free metrics and correlate them."""

__version__ = "0.1.0"
