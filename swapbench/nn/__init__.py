"""Generic torch helpers shared by spaces, metrics and studies: forward hooks, the gradient passes several
metrics share, distinct-pattern counting, parameter/FLOP counting and pooling layers with a faster CPU route.

Nothing here knows about metrics or search spaces, so both can build on it without depending on each other.
"""
