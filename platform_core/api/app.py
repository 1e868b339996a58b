"""The FastAPI application behind the `IntentAPI` Serve deployment.

Built here, without Ray, so it can be served by Serve, by uvicorn, or called in-process
by tests. Every answer that is not a success carries `reason_codes`, machine-readable.

No `from __future__ import annotations` here: FastAPI resolves the route signatures at
definition time, and they name a dependency local to `create_app`.
"""

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import platform_rust
from platform_core.api.backends import Backends, ServiceBackends, ServiceUnavailable
from platform_core.api.idempotency import MAX_KEY_LENGTH, IdempotencyConflict, request_hash
from platform_core.api.limits import BodySizeLimit
from platform_core.api.views import CancelReceipt, IntentEventsPage, IntentList, IntentStatusView
from platform_core.config import Settings, get_settings
from platform_core.errors import ErrorCode, PlatformError
from platform_core.types import (
    EventEnvelope,
    IntentReceipt,
    IntentStatus,
    IntentSubmission,
)
from platform_core.types.errors import describe_validation_errors

log = logging.getLogger(__name__)

_IDEMPOTENCY_KEY = re.compile(rf"^[A-Za-z0-9._:\-]{{1,{MAX_KEY_LENGTH}}}$")
_HTTP_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}


class ApiError(PlatformError):
    """A refusal with a status, a reason code and a message (never a 5xx for bad input)."""

    code = ErrorCode.HTTP_ERROR

    def __init__(
        self,
        status_code: int,
        code: ErrorCode,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code
        self.headers = headers


def _error(
    status_code: int,
    error: str,
    detail: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    codes = list(dict.fromkeys(d["code"] for d in detail))
    return JSONResponse(
        status_code=status_code,
        content={"error": error, "reason_codes": codes, "detail": detail},
        headers=headers,
    )


def _messages(decision: Any) -> list[str]:
    """One message per reason code (the details read "CODE: message")."""
    by_code: dict[str, str] = {}
    for detail in decision.details:
        code, _, message = detail.partition(": ")
        by_code.setdefault(code, message)
    return [by_code.get(code, code) for code in decision.reason_codes]


def create_app(settings: Settings | None = None, backends: Backends | None = None) -> FastAPI:
    settings = settings or get_settings()
    services: Backends = backends or ServiceBackends(settings)
    app = FastAPI(
        title="Strategy Execution Platform",
        version=platform_rust.__version__,
        description=(
            "Submit trading intents and follow them to on-chain execution. Authenticate with "
            "`Authorization: Bearer <api key>`; keys are per strategy (`sep keys create`)."
        ),
    )

    @app.exception_handler(RequestValidationError)
    async def _validation_failed(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = describe_validation_errors(list(exc.errors()), drop_prefix=("body",))
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_failed", detail)

    @app.exception_handler(ApiError)
    async def _refused(_: Request, exc: ApiError) -> JSONResponse:
        detail = [{"field": None, "code": exc.code, "message": str(exc)}]
        return _error(exc.status_code, exc.code.lower(), detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.HTTP_ERROR)
        detail = [{"field": None, "code": code, "message": str(exc.detail)}]
        return _error(exc.status_code, code.lower(), detail)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        detail = [{"field": None, "code": exc.code, "message": str(exc)}]
        return _error(503, "service_unavailable", detail, {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Log the type only: exception text may echo request data.
        log.error("unhandled error in request: %s", type(exc).__name__)
        detail = [{"field": None, "code": ErrorCode.INTERNAL, "message": "internal error"}]
        return _error(500, "internal", detail)

    async def strategy(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> UUID:
        """The authenticated strategy; every intent route depends on it, and it spends one
        token of the strategy's rate limit."""
        token = x_api_key
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        if not token:
            raise ApiError(401, ErrorCode.MISSING_API_KEY, "send Authorization: Bearer <api key>",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip
        strategy_id = await services.authenticate(token)
        if strategy_id is None:
            raise ApiError(401, ErrorCode.INVALID_API_KEY, "unknown or revoked API key",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip
        decision = await services.take_rate_limit(strategy_id)
        if not decision.allowed:
            retry = max(1, round(decision.retry_after_s + 0.5))
            raise ApiError(429, ErrorCode.RATE_LIMITED, f"rate limit reached; retry in {retry} s",
                           {"Retry-After": str(retry)})  # fmt: skip
        return strategy_id

    Strategy = Annotated[UUID, Depends(strategy)]
    submit_locks: dict[UUID, asyncio.Lock] = {}

    async def owned_view(intent_id: UUID, strategy_id: UUID) -> tuple[Any, str]:
        view, source = await services.intent_view(intent_id)
        # Another strategy's intent answers exactly like a missing one.
        if view is None or view.strategy_id != str(strategy_id):
            raise StarletteHTTPException(404, f"intent {intent_id} not found")
        return view, source

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": platform_rust.__version__}

    @app.post(
        "/intents",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=IntentReceipt,
        tags=["intents"],
        responses={
            401: {"description": "Missing or invalid API key"},
            403: {"description": "The body names another strategy"},
            503: {"description": "A service the gate needs (chain, database) is down"},
            413: {"description": "Body over the size limit"},
            422: {
                "description": "The intent is invalid or the gate denied it (balance, venue, "
                "token, route, slippage, window); `reason_codes` says why"
            },
            429: {"description": "Rate limit reached; see Retry-After"},
        },
    )
    async def submit_intent(
        submission: IntentSubmission,
        strategy_id: Strategy,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> IntentReceipt | JSONResponse:
        if submission.strategy_id != strategy_id:
            raise ApiError(
                403, ErrorCode.STRATEGY_MISMATCH, "strategy_id is not the key's strategy"
            )
        if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
            allowed = f"1 to {MAX_KEY_LENGTH} of A-Z a-z 0-9 . _ : -"
            raise ApiError(422, ErrorCode.IDEMPOTENCY_KEY_INVALID, f"Idempotency-Key: {allowed}")
        body_hash = request_hash(submission.model_dump_json(by_alias=True).encode())
        # One submission per strategy at a time in this replica: a retry under the same key
        # finds the first one's claim instead of passing the gate (and reserving) again.
        async with submit_locks.setdefault(strategy_id, asyncio.Lock()):
            try:
                claim = None
                if idempotency_key is not None:
                    claim = await services.find_idempotency(strategy_id, idempotency_key, body_hash)
                if claim is None:
                    status_code, body, envelope = await gate(submission, strategy_id)
                    if idempotency_key is not None:
                        claim = await services.claim_idempotency(
                            strategy_id, idempotency_key, body_hash, status_code, body,
                            envelope.to_bytes(),
                        )  # fmt: skip
                if claim is not None and not claim.first:
                    # A repeat re-publishes the first attempt's event (same id: deduplicated),
                    # so a first attempt that died before publishing is completed, never
                    # duplicated.
                    status_code, body = claim.status_code, claim.body
                    envelope = EventEnvelope.from_bytes(claim.envelope)
            except IdempotencyConflict as exc:
                raise ApiError(422, exc.code, str(exc)) from None
            await services.publish(envelope)
            return JSONResponse(status_code=status_code, content=body)

    async def gate(
        submission: IntentSubmission, strategy_id: UUID
    ) -> tuple[int, dict[str, Any], EventEnvelope]:
        """The gate's verdict as the response to give and the event to publish."""
        decision = await services.decide(submission, strategy_id)
        path = f"/intents/{decision.intent.id}"
        if not decision.accepted:
            detail = [
                {"field": None, "code": code, "message": message}
                for code, message in zip(decision.reason_codes, _messages(decision), strict=True)
            ]
            body = {
                "error": "intent_denied",
                "reason_codes": decision.reason_codes,
                "detail": detail,
                "intent_id": str(decision.intent.id),
                "links": {"self": path, "events": f"{path}/events"},
            }
            return 422, body, decision.envelope
        receipt = IntentReceipt(
            intent_id=decision.intent.id,
            strategy_id=decision.intent.strategy_id,
            status=IntentStatus.PENDING,
            priority=decision.priority,
            received_at=datetime.now(UTC),
            links={"self": path, "events": f"{path}/events"},
        )
        return 202, receipt.model_dump(mode="json"), decision.envelope

    @app.get("/intents", response_model=IntentList, tags=["intents"])
    async def list_intents(
        strategy_id: Strategy,
        status_filter: Annotated[IntentStatus | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> IntentList:
        views = await services.list_intents(strategy_id, status_filter, limit)
        return IntentList(intents=[IntentStatusView.from_view(v, "read_model") for v in views])

    @app.get(
        "/intents/{intent_id}",
        response_model=IntentStatusView,
        tags=["intents"],
        responses={404: {"description": "No such intent (or not this strategy's)"}},
    )
    async def get_intent(intent_id: UUID, strategy_id: Strategy) -> IntentStatusView:
        view, source = await owned_view(intent_id, strategy_id)
        return IntentStatusView.from_view(view, source)

    @app.get(
        "/intents/{intent_id}/events",
        response_model=IntentEventsPage,
        tags=["intents"],
        responses={404: {"description": "No such intent (or not this strategy's)"}},
    )
    async def get_intent_events(intent_id: UUID, strategy_id: Strategy) -> IntentEventsPage:
        events = await services.intent_events(intent_id)
        if not events or events[0].strategy_id != strategy_id:
            raise StarletteHTTPException(404, f"intent {intent_id} not found")
        return IntentEventsPage(intent_id=intent_id, events=events)

    @app.post(
        "/intents/{intent_id}/cancel",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=CancelReceipt,
        tags=["intents"],
        responses={
            404: {"description": "No such intent (or not this strategy's)"},
            409: {"description": "The intent has ended already (`INTENT_FINAL`)"},
        },
    )
    async def cancel_intent(intent_id: UUID, strategy_id: Strategy) -> CancelReceipt:
        view, _ = await owned_view(intent_id, strategy_id)
        if view.status.is_terminal:
            ended = f"intent {intent_id} is {view.status.value}: nothing left to cancel"
            raise ApiError(409, ErrorCode.INTENT_FINAL, ended)
        first = await services.request_cancel(intent_id)
        path = f"/intents/{intent_id}"
        return CancelReceipt(
            intent_id=intent_id,
            status=view.status,
            cancel_requested=True,
            first_request=first,
            links={"self": path, "events": f"{path}/events"},
        )

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
