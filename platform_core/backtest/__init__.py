"""Backtests on real history: the data (`history`), the pools' state through time
(`replay`), and how well the engine reproduces the historical swaps (`fidelity`).
Plain Python over the Rust engine; no Ray."""
