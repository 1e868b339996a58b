"""Stages 2 and 3 of the lifecycle: the intent's features, its priority score, the work
queue ordered by that score, and decomposition into child orders. Plain Python: no Ray."""

# The priority score's range (the seed's "1-10"): 10 is the most urgent.
MIN_SCORE = 1
MAX_SCORE = 10
