"""The HTTP contract of `POST /intents`, in-process (no Ray): 202, 422 naming the field,
413 for oversized bodies, never a 5xx for bad input, and one intent per Idempotency-Key
however the requests race."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from uuid import UUID

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_core.api.app import create_app
from platform_core.api.backends import GateDecision
from platform_core.config import Settings
from platform_core.types import IntentSubmission, IntentSubmitted
from tests.unit.bad_inputs import BAD_INPUTS, BadInput
from tests.unit.memory_backends import MemoryBackends

MAX_BODY = 8 * 1024
SEED_STRATEGY = UUID("a1b2c3d4-e5f6-7890-1234-567890abcdef")
TOKEN = "sep_0123456789abcdef_" + "s" * 43
OTHER_TOKEN = "sep_fedcba9876543210_" + "o" * 43
BACKENDS = MemoryBackends()
BACKENDS.tokens = {TOKEN: SEED_STRATEGY, OTHER_TOKEN: UUID(int=7)}
APP = create_app(Settings(max_body_bytes=MAX_BODY), BACKENDS)
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sep.test", headers=AUTH
    ) as c:
        yield c


async def test_seed_intent_is_accepted(client: httpx.AsyncClient, seed_intent: dict) -> None:
    response = await client.post("/intents", json=seed_intent)
    assert response.status_code == 202
    receipt = response.json()
    assert receipt["strategy_id"] == seed_intent["strategy_id"]
    assert receipt["status"] == "pending"
    assert receipt["links"]["self"] == f"/intents/{receipt['intent_id']}"
    published = BACKENDS.published[-1]
    assert str(published.intent_id) == receipt["intent_id"] and published.sequence == 0
    assert isinstance(published.event(), IntentSubmitted)

    view = await client.get(receipt["links"]["self"])
    assert view.status_code == 200 and view.json()["status"] == "pending"
    events = await client.get(receipt["links"]["events"])
    assert [e["event_type"] for e in events.json()["events"]] == ["IntentSubmitted"]


async def test_unknown_intent_is_404(client: httpx.AsyncClient) -> None:
    missing = "01a218e5-41c4-72b7-aa5f-385392265a1c"
    for path in (f"/intents/{missing}", f"/intents/{missing}/events"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["reason_codes"] == ["NOT_FOUND"]


async def test_malformed_intent_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/intents/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "path.intent_id"


async def test_bad_input_publishes_nothing(client: httpx.AsyncClient, seed_intent: dict):
    before = len(BACKENDS.published)
    seed_intent["constraints"]["max_slippage"] = "2"
    assert (await client.post("/intents", json=seed_intent)).status_code == 422
    assert len(BACKENDS.published) == before


async def test_each_submission_gets_its_own_id(client: httpx.AsyncClient, seed_intent: dict):
    ids = {(await client.post("/intents", json=seed_intent)).json()["intent_id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.name)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, seed_intent: dict, case: BadInput
) -> None:
    response = await client.post("/intents", json=case.apply(seed_intent))
    assert response.status_code == 422
    body = response.json()
    assert case.code in body["reason_codes"]
    assert case.field in [d["field"] for d in body["detail"]]


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/intents", content=b'{"strategy_id": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["reason_codes"] == ["JSON_INVALID"]


async def test_body_over_limit_is_413(client: httpx.AsyncClient, seed_intent: dict) -> None:
    seed_intent["padding"] = "x" * MAX_BODY
    response = await client.post("/intents", json=seed_intent)
    assert response.status_code == 413
    assert response.json()["reason_codes"] == ["BODY_TOO_LARGE"]


async def test_chunked_body_over_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * (MAX_BODY // 2)

    response = await client.post(
        "/intents", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["reason_codes"] == ["NOT_FOUND"]


async def test_openapi_documents_the_intent_schema(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/intents" in spec["paths"]
    assert "IntentSubmission" in spec["components"]["schemas"]
    assert (await client.get("/docs")).status_code == 200


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _mutations(seed: dict) -> st.SearchStrategy[dict]:
    """The seed with one field replaced by an arbitrary JSON value."""
    paths = [
        ("strategy_id",), ("intent_type",), ("assets",), ("constraints",),
        ("assets", 0, "amount"), ("assets", 0, "percentage"), ("assets", 0, "asset"),
        ("assets", 0, "asset", "address"), ("assets", 0, "asset", "decimals"),
        ("assets", 1, "asset", "chain_id"), ("constraints", "max_slippage"),
        ("constraints", "time_window_ms"), ("constraints", "allowed_venues"),
    ]  # fmt: skip

    def replace(path: tuple, value: object) -> dict:
        body = json.loads(json.dumps(seed))
        node = body
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        return body

    return st.builds(replace, st.sampled_from(paths), json_values)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_arbitrary_input_never_causes_a_5xx(seed_intent: dict, data: st.DataObject) -> None:
    body = data.draw(st.one_of(json_values, _mutations(seed_intent)))
    transport = httpx.ASGITransport(app=APP, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sep.test", headers=AUTH
    ) as c:
        response = await c.post("/intents", json=body)
    assert response.status_code in (202, 413, 422), response.text
    if response.status_code != 202:
        assert response.json()["reason_codes"]


async def test_missing_or_bad_key_is_401(seed_intent: dict) -> None:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://sep.test") as c:
        missing = await c.post("/intents", json=seed_intent)
        bad = await c.post("/intents", json=seed_intent,
                           headers={"authorization": "Bearer sep_nope_" + "x" * 40})  # fmt: skip
        basic = await c.get("/intents", headers={"authorization": "Basic dXNlcjpwdw=="})
        by_header = await c.get("/intents", headers={"x-api-key": TOKEN})
    assert by_header.status_code == 200
    for response, code in ((missing, "MISSING_API_KEY"), (bad, "INVALID_API_KEY"),
                           (basic, "MISSING_API_KEY")):  # fmt: skip
        assert response.status_code == 401
        assert response.json()["reason_codes"] == [code]
        assert response.headers["www-authenticate"] == "Bearer"


async def test_body_naming_another_strategy_is_403(client: httpx.AsyncClient, seed_intent):
    seed_intent["strategy_id"] = str(UUID(int=7))
    response = await client.post("/intents", json=seed_intent)
    assert response.status_code == 403
    assert response.json()["reason_codes"] == ["STRATEGY_MISMATCH"]


async def test_another_strategys_intent_is_404_like_a_missing_one(
    client: httpx.AsyncClient, seed_intent: dict
) -> None:
    receipt = (await client.post("/intents", json=seed_intent)).json()
    other = {"authorization": f"Bearer {OTHER_TOKEN}"}
    for path in (receipt["links"]["self"], receipt["links"]["events"]):
        response = await client.get(path, headers=other)
        assert response.status_code == 404
        assert response.json()["reason_codes"] == ["NOT_FOUND"]
    listed = (await client.get("/intents", headers=other)).json()["intents"]
    assert receipt["intent_id"] not in [i["intent_id"] for i in listed]


async def test_idempotency_key_returns_the_original_receipt(
    client: httpx.AsyncClient, seed_intent: dict
) -> None:
    headers = {"idempotency-key": "order-42"}
    first = await client.post("/intents", json=seed_intent, headers=headers)
    before = len(BACKENDS.published)
    again = await client.post("/intents", json=seed_intent, headers=headers)
    assert again.status_code == 202 and again.json() == first.json()
    assert len(BACKENDS.published) == before  # nothing new was created
    seed_intent["constraints"]["max_slippage"] = "0.01"
    changed = await client.post("/intents", json=seed_intent, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["reason_codes"] == ["IDEMPOTENCY_KEY_REUSED"]
    bad_key = await client.post("/intents", json=seed_intent, headers={"idempotency-key": "a b"})
    assert bad_key.json()["reason_codes"] == ["IDEMPOTENCY_KEY_INVALID"]


async def test_rate_limit_is_429_with_retry_after(seed_intent: dict) -> None:
    backends = MemoryBackends(requests_allowed=2)
    backends.tokens = {TOKEN: SEED_STRATEGY}
    transport = httpx.ASGITransport(app=create_app(Settings(), backends))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as c:
        codes = [(await c.post("/intents", json=seed_intent)).status_code for _ in range(3)]
        limited = await c.post("/intents", json=seed_intent)
    assert codes == [202, 202, 429]
    assert limited.json()["reason_codes"] == ["RATE_LIMITED"]
    assert int(limited.headers["retry-after"]) >= 1


async def test_list_filters_by_status(client: httpx.AsyncClient, seed_intent: dict) -> None:
    receipt = (await client.post("/intents", json=seed_intent)).json()
    pending = (await client.get("/intents", params={"status": "pending"})).json()["intents"]
    assert receipt["intent_id"] in [i["intent_id"] for i in pending]
    done = (await client.get("/intents", params={"status": "completed"})).json()["intents"]
    assert receipt["intent_id"] not in [i["intent_id"] for i in done]
    bad = await client.get("/intents", params={"status": "nonsense"})
    assert bad.status_code == 422


async def test_gate_denial_is_422_with_codes_and_an_event(seed_intent: dict) -> None:
    backends = MemoryBackends()
    backends.tokens = {TOKEN: SEED_STRATEGY}
    backends.deny_codes = ["INSUFFICIENT_BALANCE", "NO_ROUTE"]
    transport = httpx.ASGITransport(app=create_app(Settings(), backends))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as c:
        headers = {"idempotency-key": "deny-1"}
        denied = await c.post("/intents", json=seed_intent, headers=headers)
        again = await c.post("/intents", json=seed_intent, headers=headers)
        events = await c.get(denied.json()["links"]["events"])
    assert denied.status_code == 422
    body = denied.json()
    assert body["reason_codes"] == ["INSUFFICIENT_BALANCE", "NO_ROUTE"]
    assert [d["code"] for d in body["detail"]] == body["reason_codes"]
    assert again.status_code == 422 and again.json() == body
    assert backends.decisions == 1  # the retry never passed the gate again
    assert [e["event_type"] for e in events.json()["events"]] == ["IntentDenied"]


async def test_accepted_receipt_carries_the_priority(
    client: httpx.AsyncClient, seed_intent: dict
) -> None:
    receipt = (await client.post("/intents", json=seed_intent)).json()
    assert receipt["priority"] == 5


async def test_cancel_flags_an_open_intent_once(client: httpx.AsyncClient, seed_intent: dict):
    receipt = (await client.post("/intents", json=seed_intent)).json()
    path = f"{receipt['links']['self']}/cancel"
    first = await client.post(path)
    assert first.status_code == 202
    assert first.json()["cancel_requested"] is True and first.json()["first_request"] is True
    assert UUID(receipt["intent_id"]) in BACKENDS.cancel_flags
    again = await client.post(path)
    assert again.status_code == 202 and again.json()["first_request"] is False


async def test_cancel_of_another_strategys_or_a_missing_intent_is_404(
    client: httpx.AsyncClient, seed_intent: dict
) -> None:
    receipt = (await client.post("/intents", json=seed_intent)).json()
    other = {"authorization": f"Bearer {OTHER_TOKEN}"}
    theirs = await client.post(f"{receipt['links']['self']}/cancel", headers=other)
    missing = await client.post("/intents/01a218e5-41c4-72b7-aa5f-385392265a1c/cancel")
    assert theirs.status_code == missing.status_code == 404
    assert UUID(receipt["intent_id"]) not in BACKENDS.cancel_flags


async def test_cancel_of_an_ended_intent_is_409(seed_intent: dict) -> None:
    backends = MemoryBackends()
    backends.tokens = {TOKEN: SEED_STRATEGY}
    backends.deny_codes = ["NO_ROUTE"]
    transport = httpx.ASGITransport(app=create_app(Settings(), backends))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as c:
        denied = (await c.post("/intents", json=seed_intent)).json()
        response = await c.post(f"{denied['links']['self']}/cancel")
    assert response.status_code == 409
    assert response.json()["reason_codes"] == ["INTENT_FINAL"]
    assert not backends.cancel_flags


class RacingBackends(MemoryBackends):
    """Both requests pass the gate before either claims its key: what two replicas (or
    two requests in one) do when nothing serialises them."""

    def __init__(self, racers: int) -> None:
        super().__init__()
        self.tokens = {TOKEN: SEED_STRATEGY}
        self._racers = racers
        self._at_gate = 0
        self._all_there = asyncio.Event()

    async def decide(self, submission: IntentSubmission, strategy_id: UUID) -> GateDecision:
        decision = await super().decide(submission, strategy_id)
        self._at_gate += 1
        if self._at_gate == self._racers:
            self._all_there.set()
        await self._all_there.wait()
        return decision


async def _race(backends: RacingBackends, bodies: list[dict]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=create_app(Settings(), backends))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as c:
        return list(await asyncio.gather(*(
            c.post("/intents", json=body, headers={"idempotency-key": "race-1"})
            for body in bodies
        )))  # fmt: skip


async def test_racing_repeats_get_one_intent_and_the_loser_releases(seed_intent: dict) -> None:
    backends = RacingBackends(racers=3)
    answers = await _race(backends, [seed_intent] * 3)
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({a.json()["intent_id"] for a in answers}) == 1  # the claim's winner, for all
    assert backends.decisions == 3  # each passed the gate (and reserved)...
    assert len(backends.published) == 1  # ...one intent exists...
    winner = backends.published[0].intent_id
    assert len(backends.released) == 2 and winner not in backends.released  # ...two gave back
    assert len(set(backends.released)) == 2


async def test_racing_different_bodies_loser_is_422_and_releases(seed_intent: dict) -> None:
    other = json.loads(json.dumps(seed_intent))
    other["constraints"]["max_slippage"] = "0.01"
    backends = RacingBackends(racers=2)
    answers = await _race(backends, [seed_intent, other])
    assert sorted(a.status_code for a in answers) == [202, 422]
    refused = next(a for a in answers if a.status_code == 422)
    assert refused.json()["reason_codes"] == ["IDEMPOTENCY_KEY_REUSED"]
    assert len(backends.published) == 1 and len(backends.released) == 1
    assert backends.released[0] != backends.published[0].intent_id


async def test_a_denied_loser_has_nothing_to_release(seed_intent: dict) -> None:
    backends = RacingBackends(racers=2)
    backends.deny_codes = ["NO_ROUTE"]
    answers = await _race(backends, [seed_intent] * 2)
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json() == answers[1].json()
    assert backends.released == []
