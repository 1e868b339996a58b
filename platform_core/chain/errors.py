"""Chain-layer errors. Messages name what went wrong and never carry key material."""

from __future__ import annotations


class ChainError(Exception):
    """Base class for everything the chain layer raises on purpose."""


class FeeCeilingExceeded(ChainError):
    """The node's fee estimate is above our ceiling: we refuse rather than clamp, since a
    clamped fee may never be included."""


class SimulationReverted(ChainError):
    """Pre-flight `eth_call` / `estimateGas` reverted: the transaction was not broadcast."""

    def __init__(self, reason: str, data: bytes | None = None) -> None:
        super().__init__(f"pre-flight simulation reverted: {reason}")
        self.reason = reason
        self.data = data


class TransactionMismatch(ChainError):
    """Signed bytes that do not say what was intended: never broadcast."""


class NonceError(ChainError):
    """The node refused the nonce (too low / already used); the nonce manager resyncs."""


class BroadcastRejected(ChainError):
    """The node refused the transaction for another reason (underpriced, funds, ...)."""


class JournalError(ChainError):
    """The journal has no such step, or the step is not in a state that allows this."""


class TransportError(ChainError):
    """The node could not be reached or did not answer in time: the outcome is unknown."""
