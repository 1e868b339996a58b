"""The gate and decomposition: from a submitted intent to child orders."""
