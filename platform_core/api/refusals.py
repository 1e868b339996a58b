"""Every answer of the API that is not a success, as JSON with machine-readable codes.

`ApiError` is a refusal a route raises; `install_error_handlers` gives each kind of failure
(a refusal, invalid input, an unknown route, a service down, a bug) the same body:
`{"error", "reason_codes", "detail": [{"field", "code", "message"}]}`, and never a 5xx
for bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Router

from platform_core.api.backends import ServiceUnavailable
from platform_core.errors import ErrorCode, PlatformError
from platform_core.types.errors import describe_validation_errors

log = logging.getLogger(__name__)

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


def error_response(
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


def _one(code: ErrorCode, message: str) -> list[dict[str, Any]]:
    return [{"field": None, "code": code, "message": message}]


async def _validation_failed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = describe_validation_errors(list(exc.errors()), drop_prefix=("body",))
    return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_failed", detail)


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code.lower(), _one(exc.code, str(exc)), exc.headers)


def allowed_methods(request: Request, router: Router) -> str:
    """The methods of every route of `router` (the API's own: behind Serve, `request.app`
    is Serve's app around it) at the request's path (Starlette's 405 names only the first
    route's, and the API has one route per method)."""
    return ", ".join(sorted(_methods_at(router.routes, request.scope.get("path", ""))))


def _methods_at(routes: Sequence[Any], path: str) -> set[str]:
    """The methods of the routes at `path`, included routers' too."""
    methods: set[str] = set()
    for route in routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= getattr(route, "methods", None) or set()
        # FastAPI keeps an included router as one entry (its `original_router`).
        inner = getattr(route, "routes", None) or getattr(
            getattr(route, "original_router", None), "routes", None
        )
        if inner:
            methods |= _methods_at(inner, path)
    return methods


async def _http_error(request: Request, exc: Exception, router: Router) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.__cause__ is not None:
        # FastAPI's answer to a body it could not decode (bytes that are not UTF-8): invalid
        # input, answered as a JSON syntax error is (pydantic's `json_invalid`).
        message = f"the body does not decode: {type(exc.__cause__).__name__}"
        detail = _one(ErrorCode.JSON_INVALID, message)
        return error_response(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_failed", detail)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.HTTP_ERROR)
    headers = dict(exc.headers or {})
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers["Allow"] = allowed_methods(request, router)  # RFC 9110: every 405 names them
    detail = _one(code, str(exc.detail))
    return error_response(exc.status_code, code.lower(), detail, headers or None)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceUnavailable)
    detail = _one(exc.code, str(exc))
    return error_response(503, "service_unavailable", detail, {"Retry-After": "1"})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Log the type only: exception text may echo request data.
    log.error("unhandled error in request: %s", type(exc).__name__)
    return error_response(500, "internal", _one(ErrorCode.INTERNAL, "internal error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(ApiError, _refused)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        return await _http_error(request, exc, app.router)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ServiceUnavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
