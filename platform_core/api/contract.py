"""The API's published contract: the error body every non-2xx answer carries, the answers
each route documents, and the rules of the request schema that depend on the configuration.

The OpenAPI document says what the API does: each refusal is documented with `ErrorBody`
(never FastAPI's default `HTTPValidationError`, which this API does not send), with the
headers it always carries, and the request schema carries the rules intake enforces, so a
request valid against the schema is refused only for what it does not know (the chain's
tokens, balances and routes, the strategy's wallet, an Idempotency-Key used before).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from platform_core.chain.devnet import load_deployment
from platform_core.config import get_settings

# A 20-byte hex address. Lower- and upper-case hex carry no checksum and are taken as they
# are; mixed case must be the address's EIP-55 checksum (`format: eip55-address`, a rule a
# pattern cannot state: a client that does not know the format can send lower case).
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
ADDRESS_FORMAT = "eip55-address"

BEARER_SCHEME = "bearer"
API_KEY_SCHEME = "apiKey"
SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}, {API_KEY_SCHEME: []}]


class ErrorDetail(BaseModel):
    """One reason: the field it is about (dotted, or null for the request as a whole), its
    code, and a message for people."""

    model_config = ConfigDict(extra="forbid")

    field: str | None
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every answer that is not a success: `error` names the kind of refusal
    (`validation_failed`, `intent_denied`, `invalid_api_key`, `not_found`...),
    `reason_codes` every distinct code of `detail`, in order."""

    model_config = ConfigDict(extra="allow")  # a gate denial adds intent_id and links

    error: str
    reason_codes: list[str] = Field(min_length=1)
    detail: list[ErrorDetail] = Field(min_length=1)


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


_RETRY_AFTER = {
    "Retry-After": _header("Seconds to wait", {"type": "string", "pattern": "^[0-9]+$"})
}
_ERRORS: dict[int, dict[str, Any]] = {
    401: {
        "description": "Missing or invalid API key (`MISSING_API_KEY`, `INVALID_API_KEY`)",
        "headers": {"WWW-Authenticate": _header("`Bearer`")},
    },
    403: {"description": "The body names another strategy (`STRATEGY_MISMATCH`)"},
    404: {"description": "No such intent, or not this strategy's: the same answer"},
    409: {"description": "The intent has ended already (`INTENT_FINAL`)"},
    413: {"description": "Body over the size limit (`BODY_TOO_LARGE`)"},
    422: {"description": "Invalid input: `reason_codes` names each rule broken, `detail` where"},
    429: {"description": "Rate limit reached (`RATE_LIMITED`)", "headers": _RETRY_AFTER},
    500: {"description": "A bug (`INTERNAL`): never an answer to bad input"},
    503: {
        "description": "A service the request needs is down (`SERVICE_UNAVAILABLE`)",
        "headers": _RETRY_AFTER,
    },
}
# Every authenticated route can answer these.
AUTHENTICATED = (401, 413, 422, 429, 500, 503)


def error_responses(
    *codes: int, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: each code with `ErrorBody`, its headers and description
    (a route's own description replaces the default)."""
    answers: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        answer = {**_ERRORS[code], "model": ErrorBody}
        if descriptions and code in descriptions:
            answer["description"] = descriptions[code]
        answers[code] = answer
    return answers


BOOK_PATH = "/markets/{chain_id}/{base}/{quote}/book"


def _refine_book(paths: dict[str, Any]) -> None:
    """The book route's path as it is checked: a configured chain; each token an address
    (mixed case only as its checksum) or a symbol exactly as the deployment spells it."""
    operation = paths.get(BOOK_PATH, {}).get("get")
    if operation is None:
        return
    settings = get_settings()
    try:
        symbols = sorted(load_deployment(settings.deployment_path).get("tokens", {}))
    except (OSError, ValueError):
        symbols = []
    address = {"type": "string", "pattern": ADDRESS_PATTERN, "format": ADDRESS_FORMAT}
    token: dict[str, Any] = {"anyOf": [address, {"type": "string", "enum": symbols}]}
    if not symbols:
        token = address
    for param in operation.get("parameters", []):
        if param["name"] == "chain_id":
            param["schema"]["enum"] = sorted(settings.known_chain_ids)
        elif param["name"] in ("base", "quote"):
            param["schema"] = {**token, "title": param["name"].capitalize()}


def _refine(schema: dict[str, Any]) -> dict[str, Any]:
    """The configuration's rules in the request schema, and the security schemes."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # FastAPI's default validation error models: this API never sends them.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    asset = schemas.get("Asset")
    if asset is not None:
        props = asset["properties"]
        props["address"].update(
            pattern=ADDRESS_PATTERN,
            format=ADDRESS_FORMAT,
            description="0x and 40 hex digits; mixed case must be the EIP-55 checksum",
        )
        # Intake refuses any chain not configured (`UNKNOWN_CHAIN`): they are the only values.
        props["chain_id"]["enum"] = sorted(get_settings().known_chain_ids)
    _refine_book(schema.get("paths", {}))
    components["securitySchemes"] = {
        BEARER_SCHEME: {"type": "http", "scheme": "bearer", "description": "The strategy's key"},
        API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
    }
    return schema


def install_contract(app: FastAPI) -> None:
    """Serve the refined OpenAPI document at `app.openapi_url` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _refine(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
