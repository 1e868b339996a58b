"""Stage 2 of the lifecycle: the intent's features, its priority score and the work queue
that orders intents by that score. Plain Python: no Ray here."""

# The priority score's range (the seed's "1-10"): 10 is the most urgent.
MIN_SCORE = 1
MAX_SCORE = 10
