"""Venues: adapters that read pool state, quote and build swaps; the manager that hands
them out. Plain asyncio; no Ray."""
