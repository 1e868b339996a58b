"""The FastAPI application behind the `IntentAPI` Serve deployment.

Built here, without Ray, so it can be served by Serve, by uvicorn, or called in-process
by tests.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import platform_rust
from platform_core.api.backends import Backends, ServiceBackends, ServiceUnavailable
from platform_core.api.limits import BodySizeLimit
from platform_core.api.views import IntentEventsPage, IntentStatusView
from platform_core.config import Settings, get_settings
from platform_core.types import (
    EventEnvelope,
    Intent,
    IntentReceipt,
    IntentSubmission,
    IntentSubmitted,
)
from platform_core.types.errors import describe_validation_errors

log = logging.getLogger(__name__)


def _error(status_code: int, error: str, detail: list[dict[str, Any]]) -> JSONResponse:
    codes = list(dict.fromkeys(d["code"] for d in detail))
    return JSONResponse(
        status_code=status_code,
        content={"error": error, "reason_codes": codes, "detail": detail},
    )


def create_app(settings: Settings | None = None, backends: Backends | None = None) -> FastAPI:
    settings = settings or get_settings()
    services: Backends = backends or ServiceBackends(settings)
    app = FastAPI(
        title="Strategy Execution Platform",
        version=platform_rust.__version__,
        description="Submit trading intents and follow them to on-chain execution.",
    )

    @app.exception_handler(RequestValidationError)
    async def _validation_failed(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = describe_validation_errors(list(exc.errors()), drop_prefix=("body",))
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_failed", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        detail = [{"field": None, "code": code, "message": str(exc.detail)}]
        return _error(exc.status_code, code.lower(), detail)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        detail = [{"field": None, "code": "SERVICE_UNAVAILABLE", "message": str(exc)}]
        return _error(503, "service_unavailable", detail)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Log the type only: exception text may echo request data.
        log.error("unhandled error in request: %s", type(exc).__name__)
        detail = [{"field": None, "code": "INTERNAL", "message": "internal error"}]
        return _error(500, "internal", detail)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": platform_rust.__version__}

    @app.post(
        "/intents",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=IntentReceipt,
        tags=["intents"],
        responses={
            413: {"description": "Body over the size limit"},
            422: {"description": "The intent is invalid; `reason_codes` says why"},
        },
    )
    async def submit_intent(submission: IntentSubmission) -> IntentReceipt:
        intent = Intent.from_submission(submission)
        await services.publish(
            EventEnvelope.wrap(
                IntentSubmitted(intent=intent),
                intent_id=intent.id,
                strategy_id=intent.strategy_id,
                sequence=0,
            )
        )
        path = f"/intents/{intent.id}"
        return IntentReceipt(
            intent_id=intent.id,
            strategy_id=intent.strategy_id,
            status=intent.status,
            received_at=datetime.now(UTC),
            links={"self": path, "events": f"{path}/events"},
        )

    @app.get(
        "/intents/{intent_id}",
        response_model=IntentStatusView,
        tags=["intents"],
        responses={404: {"description": "No such intent"}},
    )
    async def get_intent(intent_id: UUID) -> IntentStatusView:
        view, source = await services.intent_view(intent_id)
        if view is None:
            raise StarletteHTTPException(404, f"intent {intent_id} not found")
        return IntentStatusView.from_view(view, source)

    @app.get(
        "/intents/{intent_id}/events",
        response_model=IntentEventsPage,
        tags=["intents"],
        responses={404: {"description": "No such intent"}},
    )
    async def get_intent_events(intent_id: UUID) -> IntentEventsPage:
        events = await services.intent_events(intent_id)
        if not events:
            raise StarletteHTTPException(404, f"intent {intent_id} not found")
        return IntentEventsPage(intent_id=intent_id, events=events)

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
