"""The intent API's routes: the methods of `IntentRoutes`, registered in `routes`.

One instance serves them: in a Ray Serve replica, the `IntentAPI` deployment (a subclass,
`serve_apps/intent_api.py`, made an ingress by `@serve.ingress`); in process, one bound by
`create_app` (`platform_core/api/app.py`, through `class_views.bind_routes`). No Ray here.

No `from __future__ import annotations`: FastAPI reads the route signatures as the methods
are defined.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import redis.asyncio as aioredis
import redis.exceptions
from fastapi import APIRouter, Depends, Header, Path, Query, status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import platform_rust
from platform_core.api.backends import Backends, GateDecision, ServiceUnavailable
from platform_core.api.class_views import serving_instance
from platform_core.api.contract import AUTHENTICATED, SECURITY, error_responses
from platform_core.api.idempotency import MAX_KEY_LENGTH, IdempotencyConflict, request_hash
from platform_core.api.market_views import BookView
from platform_core.api.refusals import ApiError
from platform_core.api.views import CancelReceipt, IntentEventsPage, IntentList, IntentStatusView
from platform_core.chain.devnet import load_deployment
from platform_core.config import Settings
from platform_core.errors import ErrorCode
from platform_core.market.book import MAX_LEVELS
from platform_core.market.book_store import BookReader, BookStore, deployment_tokens
from platform_core.state.projection import IntentView
from platform_core.types import EventEnvelope, IntentReceipt, IntentStatus, IntentSubmission
from platform_core.types.common import checksum_address

routes = APIRouter()

_IDEMPOTENCY_KEY = re.compile(rf"^[A-Za-z0-9._:\-]{{1,{MAX_KEY_LENGTH}}}$")
_BEARER = {"WWW-Authenticate": "Bearer"}
_SECURED: dict[str, Any] = {"security": SECURITY}
_NOT_THEIRS = error_responses(*AUTHENTICATED, 404)
_SUBMIT_ANSWERS = error_responses(
    *AUTHENTICATED,
    403,
    descriptions={
        422: "The intent is invalid (`error: validation_failed`), or the gate denied it "
        "(`error: intent_denied`: balance, venue, token, route, slippage, window; with the "
        "`IntentDenied` event at `links`), or the Idempotency-Key was used with another body "
        "(`IDEMPOTENCY_KEY_REUSED`); `reason_codes` says why",
        503: "A service the gate needs (chain, database) is down",
    },
)
_BOOK_ANSWERS = error_responses(
    *AUTHENTICATED,
    404,
    descriptions={
        404: "No pool of the chain trades the pair, or base and quote are one token "
        "(`PAIR_NOT_FOUND`)",
        422: "Invalid input: a chain not configured (`UNKNOWN_CHAIN`), a token that is neither "
        "an address nor a symbol as the deployment spells it (`UNKNOWN_TOKEN`), a mixed-case "
        "address failing its checksum (`ADDRESS_CHECKSUM`), `levels` out of range",
        503: "No book written yet (`BOOK_UNAVAILABLE`: the MarketData actor is starting), or "
        "Redis is down (`SERVICE_UNAVAILABLE`)",
    },
)
# A token in a book's path: an address, or a symbol the deployment names (WETH, USDC...).
_TOKEN = Path(pattern=r"^(0x[0-9a-fA-F]{40}|[A-Za-z0-9.]{1,16})$",
              description="a token address, or a symbol the deployment knows")  # fmt: skip
# The key's pattern, published without letting the framework check it: a bad key is refused
# with its own code (`IDEMPOTENCY_KEY_INVALID`, in `_check_submission`).
_IDEMPOTENCY_KEY_SCHEMA = {"pattern": _IDEMPOTENCY_KEY.pattern, "maxLength": MAX_KEY_LENGTH}


async def api_token(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    """The API key the request carries (`Authorization: Bearer`, or `X-Api-Key`): published
    as the OpenAPI security schemes, not as parameters."""
    token = x_api_key
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    if not token:
        raise ApiError(401, ErrorCode.MISSING_API_KEY, "send Authorization: Bearer <api key>",
                       _BEARER)  # fmt: skip
    return token


async def authenticated_strategy(
    api: Annotated[object, Depends(serving_instance)],
    token: Annotated[str, Depends(api_token)],
) -> UUID:
    """The authenticated strategy; every intent route depends on it, and it spends one
    token of the strategy's rate limit."""
    assert isinstance(api, IntentRoutes)
    return await api.strategy_for(token)


Strategy = Annotated[UUID, Depends(authenticated_strategy)]


@dataclass(frozen=True)
class Answer:
    """A submission's response and the event that records it (published after answering
    is decided, so a repeat re-publishes the same event id)."""

    status_code: int
    body: dict[str, Any]
    envelope: EventEnvelope


def _check_submission(
    submission: IntentSubmission, strategy_id: UUID, idempotency_key: str | None
) -> None:
    if submission.strategy_id != strategy_id:
        raise ApiError(403, ErrorCode.STRATEGY_MISMATCH, "strategy_id is not the key's strategy")
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        allowed = f"1 to {MAX_KEY_LENGTH} of A-Z a-z 0-9 . _ : -"
        raise ApiError(422, ErrorCode.IDEMPOTENCY_KEY_INVALID, f"Idempotency-Key: {allowed}")


def _links(intent_id: UUID) -> dict[str, str]:
    path = f"/intents/{intent_id}"
    return {"self": path, "events": f"{path}/events"}


def _messages(decision: GateDecision) -> list[str]:
    """One message per reason code (the details read "CODE: message")."""
    by_code: dict[str, str] = {}
    for detail in decision.details:
        code, _, message = detail.partition(": ")
        by_code.setdefault(code, message)
    return [by_code.get(code, code) for code in decision.reason_codes]


def _verdict(decision: GateDecision) -> Answer:
    """The gate's decision as a 202 receipt or a 422 denial naming every code."""
    intent_id = decision.intent.id
    if not decision.accepted:
        codes = zip(decision.reason_codes, _messages(decision), strict=True)
        body = {
            "error": "intent_denied",
            "reason_codes": decision.reason_codes,
            "detail": [{"field": None, "code": code, "message": m} for code, m in codes],
            "intent_id": str(intent_id),
            "links": _links(intent_id),
        }
        return Answer(422, body, decision.envelope)
    receipt = IntentReceipt(
        intent_id=intent_id,
        strategy_id=decision.intent.strategy_id,
        status=IntentStatus.PENDING,
        priority=decision.priority,
        received_at=datetime.now(UTC),
        links=_links(intent_id),
    )
    return Answer(202, receipt.model_dump(mode="json"), decision.envelope)


class IntentRoutes:
    """The API: each route is a method, served by one instance with its settings and
    services (per Serve replica, or per app in process)."""

    def __init__(self, settings: Settings, services: Backends) -> None:
        self.settings = settings
        self.services = services
        self.books: BookReader | None = None  # the books' read model, connected on first use
        self._book_symbols: dict[tuple[int, str], str] | None = None

    async def strategy_for(self, token: str) -> UUID:
        """The key's strategy, after one token of its rate limit; 401 or 429 otherwise."""
        strategy_id = await self.services.authenticate(token)
        if strategy_id is None:
            raise ApiError(401, ErrorCode.INVALID_API_KEY, "unknown or revoked API key", _BEARER)
        decision = await self.services.take_rate_limit(strategy_id)
        if not decision.allowed:
            retry = max(1, round(decision.retry_after_s + 0.5))
            raise ApiError(429, ErrorCode.RATE_LIMITED, f"rate limit reached; retry in {retry} s",
                           {"Retry-After": str(retry)})  # fmt: skip
        return strategy_id

    @routes.get("/healthz", tags=["ops"], responses=error_responses(413, 500))
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok", "version": platform_rust.__version__}

    @routes.post(
        "/intents",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=IntentReceipt,
        tags=["intents"],
        responses=_SUBMIT_ANSWERS,
        openapi_extra=_SECURED,
    )
    async def submit_intent(
        self,
        submission: IntentSubmission,
        strategy_id: Strategy,
        idempotency_key: Annotated[
            str | None, Header(json_schema_extra=_IDEMPOTENCY_KEY_SCHEMA)
        ] = None,
    ) -> IntentReceipt | JSONResponse:
        _check_submission(submission, strategy_id, idempotency_key)
        try:
            answer = await self._answer(submission, strategy_id, idempotency_key)
        except IdempotencyConflict as exc:
            raise ApiError(422, exc.code, str(exc)) from None
        await self.services.publish(answer.envelope)
        return JSONResponse(status_code=answer.status_code, content=answer.body)

    async def _answer(
        self, submission: IntentSubmission, strategy_id: UUID, key: str | None
    ) -> Answer:
        """The gate's verdict, or under an Idempotency-Key already claimed, the first
        request's: a repeat re-publishes that event (same id: deduplicated), so a first
        attempt that died before publishing is completed, never duplicated."""
        if key is None:
            return _verdict(await self.services.decide(submission, strategy_id))
        body_hash = request_hash(submission.model_dump_json(by_alias=True).encode())
        claim = await self.services.find_idempotency(strategy_id, key, body_hash)
        if claim is None:
            return await self._decide_and_claim(submission, strategy_id, key, body_hash)
        return Answer(claim.status_code, claim.body, EventEnvelope.from_bytes(claim.envelope))

    async def _decide_and_claim(
        self, submission: IntentSubmission, strategy_id: UUID, key: str, body_hash: bytes
    ) -> Answer:
        """Pass the gate, then claim the key with the verdict. The claim (one INSERT in
        PostgreSQL) decides between requests racing under one key, in any replica: a loser
        answers with the winner's verdict and gives back what its own gate reserved."""
        decision = await self.services.decide(submission, strategy_id)
        answer = _verdict(decision)
        try:
            claim = await self.services.claim_idempotency(
                strategy_id, key, body_hash, answer.status_code, answer.body,
                answer.envelope.to_bytes(),
            )  # fmt: skip
        except IdempotencyConflict:
            await self._release(decision)
            raise
        if claim.first:
            return answer
        await self._release(decision)
        return Answer(claim.status_code, claim.body, EventEnvelope.from_bytes(claim.envelope))

    async def _release(self, decision: GateDecision) -> None:
        if decision.accepted:
            await self.services.release(decision.intent.id)

    @routes.get("/intents", response_model=IntentList, tags=["intents"],
                responses=error_responses(*AUTHENTICATED), openapi_extra=_SECURED)  # fmt: skip
    async def list_intents(
        self,
        strategy_id: Strategy,
        status_filter: Annotated[IntentStatus | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> IntentList:
        views = await self.services.list_intents(strategy_id, status_filter, limit)
        return IntentList(intents=[IntentStatusView.from_view(v, "read_model") for v in views])

    async def _owned_view(self, intent_id: UUID, strategy_id: UUID) -> tuple[IntentView, str]:
        view, source = await self.services.intent_view(intent_id)
        # Another strategy's intent answers exactly like a missing one.
        if view is None or view.strategy_id != str(strategy_id):
            raise StarletteHTTPException(404, f"intent {intent_id} not found")
        return view, source

    @routes.get("/intents/{intent_id}", response_model=IntentStatusView, tags=["intents"],
                responses=_NOT_THEIRS, openapi_extra=_SECURED)  # fmt: skip
    async def get_intent(self, intent_id: UUID, strategy_id: Strategy) -> IntentStatusView:
        view, source = await self._owned_view(intent_id, strategy_id)
        return IntentStatusView.from_view(view, source)

    @routes.get("/intents/{intent_id}/events", response_model=IntentEventsPage,
                tags=["intents"], responses=_NOT_THEIRS, openapi_extra=_SECURED)  # fmt: skip
    async def get_intent_events(self, intent_id: UUID, strategy_id: Strategy) -> IntentEventsPage:
        events = await self.services.intent_events(intent_id)
        if not events or events[0].strategy_id != strategy_id:
            raise StarletteHTTPException(404, f"intent {intent_id} not found")
        return IntentEventsPage(intent_id=intent_id, events=events)

    @routes.post(
        "/intents/{intent_id}/cancel",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=CancelReceipt,
        tags=["intents"],
        responses={**_NOT_THEIRS, **error_responses(409)},
        openapi_extra=_SECURED,
    )  # fmt: skip
    async def cancel_intent(self, intent_id: UUID, strategy_id: Strategy) -> CancelReceipt:
        view, _ = await self._owned_view(intent_id, strategy_id)
        if view.status.is_terminal:
            ended = f"intent {intent_id} is {view.status.value}: nothing left to cancel"
            raise ApiError(409, ErrorCode.INTENT_FINAL, ended)
        first = await self.services.request_cancel(intent_id)
        return CancelReceipt(intent_id=intent_id, status=view.status, cancel_requested=True,
                             first_request=first, links=_links(intent_id))  # fmt: skip

    @routes.get("/markets/{chain_id}/{base}/{quote}/book", response_model=BookView,
                tags=["markets"], responses=_BOOK_ANSWERS, openapi_extra=_SECURED)  # fmt: skip
    async def get_book(
        self,
        chain_id: Annotated[int, Path(ge=1)],
        base: Annotated[str, _TOKEN],
        quote: Annotated[str, _TOKEN],
        strategy_id: Strategy,
        levels: Annotated[int, Query(ge=1, le=MAX_LEVELS)] = 10,
    ) -> BookView:
        """The pair's consolidated book over every venue of the chain (the MarketData actor's,
        from Redis): authenticated, so the strategy's rate limit applies."""
        if chain_id not in self.settings.chains:
            raise ApiError(422, ErrorCode.UNKNOWN_CHAIN, f"chain {chain_id} is not configured")
        base_address = self._book_token(chain_id, base)
        quote_address = self._book_token(chain_id, quote)
        if base_address.lower() == quote_address.lower():  # no pool trades a token for itself
            raise ApiError(404, ErrorCode.PAIR_NOT_FOUND, "base and quote are the same token")
        store = self._book_store()
        try:
            stored = await store.read(chain_id, base_address, quote_address)
            listed = None if stored else await store.listed(chain_id, base_address, quote_address)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise ServiceUnavailable("redis", exc) from exc
        if stored is not None:
            return BookView.of(stored, levels)
        if listed is None:
            raise ApiError(503, ErrorCode.BOOK_UNAVAILABLE,
                           f"no book of chain {chain_id} yet", {"Retry-After": "1"})  # fmt: skip
        raise ApiError(404, ErrorCode.PAIR_NOT_FOUND, f"no pool trades {base}/{quote}")

    def _book_token(self, chain_id: int, token: str) -> str:
        """A path's token as a checksum address: a symbol as the deployment of `chain_id`
        spells it, or an address."""
        if not token.startswith("0x"):
            symbols = self._book_symbols
            if symbols is None:
                try:
                    deployment = load_deployment(self.settings.deployment_path)
                except (OSError, ValueError):
                    deployment = {}
                at = int(deployment.get("chain_id", 0))
                symbols = {(at, t.symbol): t.address
                           for t in deployment_tokens(deployment).values()}  # fmt: skip
                self._book_symbols = symbols
            found = symbols.get((chain_id, token))
            if found is None:
                raise ApiError(422, ErrorCode.UNKNOWN_TOKEN,
                               f"{token} is not a token of chain {chain_id}")  # fmt: skip
            return found
        try:
            return checksum_address(token)
        except ValueError:
            raise ApiError(422, ErrorCode.ADDRESS_CHECKSUM,
                           f"{token} fails its EIP-55 checksum") from None  # fmt: skip

    def _book_store(self) -> BookReader:
        """The books' read model (Redis), connected on first use."""
        if self.books is None:
            client = aioredis.from_url(self.settings.redis_url, decode_responses=True)
            self.books = BookStore(client, prefix=self.settings.redis_key_prefix)
        return self.books
