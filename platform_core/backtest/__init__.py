"""Backtests on real history: the data (`history`), the pools' state through time
(`replay`), how well the engine reproduces the historical swaps (`fidelity`), the
simulated venue and chain (`simulator`, `sim_chain`), and one cell: an intent through the
platform's own decomposer, planner and orchestrator on them (`cell`).
Plain Python over the Rust engine; no Ray."""
