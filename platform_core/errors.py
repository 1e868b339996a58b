"""The platform's errors: one base, one enum of stable codes.

Every error the platform raises on purpose is a `PlatformError` carrying an `ErrorCode`.
The codes are the ones clients and the event log already see (the gate's `reason_codes`,
the planner's codes in `IntentFailed.reason`, the API's `error` field), so they never
change spelling: compare `ErrorCode` members, never strings.

`retryable` says whether running the same operation again can succeed (a node that did not
answer, a service that was down) or cannot (a journal that belongs to another chain, a
plan that has no route): a retry loop stops on the second kind and ends with a verdict.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # -- the gate (IntentDenied.reason_codes, 422) ----------------------------------------
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    UNSUPPORTED_VENUE = "UNSUPPORTED_VENUE"
    UNSUPPORTED_CHAIN = "UNSUPPORTED_CHAIN"
    TOKEN_NOT_FOUND = "TOKEN_NOT_FOUND"
    DECIMALS_MISMATCH = "DECIMALS_MISMATCH"
    SYMBOL_MISMATCH = "SYMBOL_MISMATCH"
    CANNOT_APPROVE = "CANNOT_APPROVE"
    SLIPPAGE_TOO_TIGHT = "SLIPPAGE_TOO_TIGHT"
    WINDOW_TOO_SHORT = "WINDOW_TOO_SHORT"
    UNKNOWN_STRATEGY_WALLET = "UNKNOWN_STRATEGY_WALLET"
    MARKET_DATA_INVALID = "MARKET_DATA_INVALID"
    # -- planning (IntentFailed.reason "<CODE>: ...", gate NO_ROUTE) ---------------------
    NO_ROUTE = "NO_ROUTE"
    INSUFFICIENT_LIQUIDITY = "INSUFFICIENT_LIQUIDITY"
    UNKNOWN_POOL = "UNKNOWN_POOL"
    QUOTE_UNAVAILABLE = "QUOTE_UNAVAILABLE"
    VENUE_NOT_ALLOWED = "VENUE_NOT_ALLOWED"
    WINDOW_ELAPSED = "WINDOW_ELAPSED"
    PERCENTAGE_OF_NOTHING = "PERCENTAGE_OF_NOTHING"
    NO_COUNTER_ASSET = "NO_COUNTER_ASSET"
    NO_CHILD_ORDERS = "NO_CHILD_ORDERS"
    AMOUNT_TOO_SMALL = "AMOUNT_TOO_SMALL"
    # -- processing and execution (IntentFailed.reason) ----------------------------------
    NO_WALLET = "NO_WALLET"
    NO_EXECUTOR = "NO_EXECUTOR"
    # -- the API (error field of 4xx / 503 bodies) ----------------------------------------
    MISSING_API_KEY = "MISSING_API_KEY"
    INVALID_API_KEY = "INVALID_API_KEY"
    STRATEGY_MISMATCH = "STRATEGY_MISMATCH"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    JSON_INVALID = "JSON_INVALID"  # a body that does not decode (not UTF-8, not JSON)
    JSON_TOO_DEEP = "JSON_TOO_DEEP"  # a body nested deeper than the API reads
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"  # a request that did not arrive in time (408)
    RATE_LIMITED = "RATE_LIMITED"
    INTENT_FINAL = "INTENT_FINAL"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_INVALID = "IDEMPOTENCY_KEY_INVALID"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    HTTP_ERROR = "HTTP_ERROR"
    # -- market data (GET /markets/{chain_id}/{base}/{quote}/book) ------------------------
    UNKNOWN_CHAIN = "UNKNOWN_CHAIN"  # a chain id not configured (SEP_CHAINS)
    UNKNOWN_TOKEN = "UNKNOWN_TOKEN"  # neither an address nor a symbol the deployment knows
    ADDRESS_CHECKSUM = "ADDRESS_CHECKSUM"  # a mixed-case address failing its EIP-55 checksum
    PAIR_NOT_FOUND = "PAIR_NOT_FOUND"  # no pool of the chain trades the pair (404)
    BOOK_UNAVAILABLE = "BOOK_UNAVAILABLE"  # no book written yet (MarketData starting): 503
    # -- the chain (the execution actor; ExecutionStepFailed / IntentFailed reasons) -------
    CHAIN_ERROR = "CHAIN_ERROR"
    FEE_CEILING_EXCEEDED = "FEE_CEILING_EXCEEDED"
    SIMULATION_REVERTED = "SIMULATION_REVERTED"
    TRANSACTION_MISMATCH = "TRANSACTION_MISMATCH"
    NONCE_REJECTED = "NONCE_REJECTED"
    BROADCAST_REJECTED = "BROADCAST_REJECTED"
    JOURNAL_ERROR = "JOURNAL_ERROR"
    JOURNAL_CHAIN_MISMATCH = "JOURNAL_CHAIN_MISMATCH"
    TRANSPORT_ERROR = "TRANSPORT_ERROR"
    EXECUTION_UNDECIDED = "EXECUTION_UNDECIDED"
    SIGNING_KEY_INVALID = "SIGNING_KEY_INVALID"
    IN_FLIGHT_FULL = "IN_FLIGHT_FULL"
    # -- the event backbone and the read model -------------------------------------------
    EVENT_UNPROCESSABLE = "EVENT_UNPROCESSABLE"
    PUBLISH_FAILED = "PUBLISH_FAILED"
    OUT_OF_ORDER = "OUT_OF_ORDER"
    SEQUENCE_TAKEN = "SEQUENCE_TAKEN"
    CAUSE_BROKEN = "CAUSE_BROKEN"  # not caused by the event the log holds before it
    STALE_BALANCE = "STALE_BALANCE"  # a balance older than reservations already let go
    LEDGER_REBUILDING = "LEDGER_REBUILDING"  # Redis lost the ledger: rebuilding from the log
    # -- the chaos harness ----------------------------------------------------------------
    FAULT_NOT_INJECTED = "FAULT_NOT_INJECTED"  # no target for it, or not the platform's own
    WORKLOAD_OVER_BUDGET = "WORKLOAD_OVER_BUDGET"  # it would spend more than a wallet may
    # -- prioritisation --------------------------------------------------------------------
    PRIORITY_MODEL_INVALID = "PRIORITY_MODEL_INVALID"
    QUEUE_FULL = "QUEUE_FULL"
    # -- backtests ------------------------------------------------------------------------
    HISTORY_INVALID = "HISTORY_INVALID"
    BACKTEST_INVALID = "BACKTEST_INVALID"
    # -- anything else raised on purpose --------------------------------------------------
    INTERNAL = "INTERNAL"


class PlatformError(Exception):
    """Base of every error the platform raises on purpose.

    Subclasses set a default `code` (and `retryable`); an instance may name a more precise
    code. The message never carries key material.
    """

    code: ErrorCode = ErrorCode.INTERNAL
    retryable: bool = False

    def __init__(self, message: str = "", *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments than `args` holds: rebuild without
        # calling __init__, so an error crossing a process boundary (Ray pickles it) arrives
        # whole, with its class, code and attributes.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[PlatformError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.__dict__.update(state)
    return error


class PlanningError(PlatformError, ValueError):
    """No plan can be made for the intent, by decomposition (sizing, slicing) or by
    routing; `code` says why and `message` says what (`str()` is "CODE: message", the form
    `IntentFailed.reason` records)."""

    code = ErrorCode.NO_ROUTE

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message, code=code)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
