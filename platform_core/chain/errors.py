"""Chain-layer errors. Messages name what went wrong and never carry key material."""

from __future__ import annotations

from platform_core.errors import ErrorCode, PlatformError


class ChainError(PlatformError):
    """Base class for everything the chain layer raises on purpose."""

    code = ErrorCode.CHAIN_ERROR


class FeeCeilingExceeded(ChainError):
    """The node's fee estimate is above our ceiling: we refuse rather than clamp, since a
    clamped fee may never be included."""

    code = ErrorCode.FEE_CEILING_EXCEEDED


class SimulationReverted(ChainError):
    """Pre-flight `eth_call` / `estimateGas` reverted: the transaction was not broadcast."""

    code = ErrorCode.SIMULATION_REVERTED

    def __init__(self, reason: str, data: bytes | None = None) -> None:
        super().__init__(f"pre-flight simulation reverted: {reason}")
        self.reason = reason
        self.data = data


class TransactionMismatch(ChainError):
    """Signed bytes that do not say what was intended: never broadcast."""

    code = ErrorCode.TRANSACTION_MISMATCH


class NonceError(ChainError):
    """The node refused the nonce (too low / already used); the nonce manager resyncs."""

    code = ErrorCode.NONCE_REJECTED


class BroadcastRejected(ChainError):
    """The node refused the transaction for another reason (underpriced, funds, ...)."""

    code = ErrorCode.BROADCAST_REJECTED


class JournalError(ChainError):
    """The journal has no such step, or the step is not in a state that allows this."""

    code = ErrorCode.JOURNAL_ERROR


class JournalChainMismatch(ChainError):
    """The journal belongs to another chain (chain id, genesis), or it records as mined
    transactions this chain does not hold (the chain was reset, the journal restored or
    shared): no retry can mend it, so nothing more is signed with this journal."""

    code = ErrorCode.JOURNAL_CHAIN_MISMATCH
    retryable = False


class TransportError(ChainError):
    """The node could not be reached or did not answer in time: the outcome is unknown."""

    code = ErrorCode.TRANSPORT_ERROR
    retryable = True
