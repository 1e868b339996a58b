"""Proof under load and faults: a seeded workload, a seeded fault schedule, and a checker
of the whole history (the API's answers, the event log, the journals, the chain)."""
