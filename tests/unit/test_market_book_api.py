"""`GET /markets/{chain_id}/{base}/{quote}/book` in process: the stored book cut to `levels`,
symbols or addresses, and each refusal's status and code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from platform_core.api.app import bound_app
from platform_core.api.routes import IntentRoutes
from platform_core.config import Settings
from platform_core.market.book import Token, build_book
from platform_core.market.pool_registry import PoolRegistry
from platform_rust import ExecutionEngine
from tests.unit.memory_backends import MemoryBackends
from tests.unit.pool_graphs import USDC, WETH, add_v3_pool, whole

TOKEN = "sep_0123456789abcdef_" + "s" * 43
AUTH = {"authorization": f"Bearer {TOKEN}"}
CHAIN = 42161
ARB = "0x912CE59144191C1204E64559FE8253a0e49E6548"


class MemoryBooks:
    """The read model as a dict; `held` False: MarketData has written nothing yet."""

    def __init__(self) -> None:
        self.books: dict[tuple[int, str, str], dict[str, Any]] = {}
        self.held = True

    async def read(self, chain_id: int, base: str, quote: str) -> dict[str, Any] | None:
        return self.books.get((chain_id, base.lower(), quote.lower()))

    async def listed(self, chain_id: int, base: str, quote: str) -> bool | None:
        return ((chain_id, base.lower(), quote.lower()) in self.books) if self.held else None


def stored_book() -> dict[str, Any]:
    registry = PoolRegistry(ExecutionEngine())
    add_v3_pool(registry, "a", WETH, whole(WETH, 2_000), USDC, whole(USDC, 6_000_000), 500)
    registry.upsert_v2_pool("b", WETH, USDC, whole(WETH, 1_000), whole(USDC, 3_000_000),
                            venue="sushiswap_v2")  # fmt: skip
    book = build_book(registry.engine, registry.pools, Token(WETH, "WETH", 18),
                      Token(USDC, "USDC", 6), chain_id=CHAIN, block_number=42,
                      as_of=datetime(2026, 12, 6, tzinfo=UTC))  # fmt: skip
    assert book is not None
    return book.to_json()


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, MemoryBooks]]:
    backends = MemoryBackends()
    backends.tokens = {TOKEN: UUID(int=1)}
    routes = IntentRoutes(Settings(), backends)
    books = MemoryBooks()
    books.books[(CHAIN, WETH.lower(), USDC.lower())] = stored_book()
    routes.books = books
    transport = httpx.ASGITransport(app=bound_app(routes))
    async with httpx.AsyncClient(transport=transport, base_url="http://sep.test",
                                 headers=AUTH) as client:  # fmt: skip
        yield client, books


async def test_book_by_symbols_or_addresses(api: tuple[httpx.AsyncClient, MemoryBooks]) -> None:
    client, _ = api
    response = await client.get(f"/markets/{CHAIN}/WETH/USDC/book", params={"levels": 3})
    assert response.status_code == 200, response.text
    book = response.json()
    assert len(book["bids"]) == 3 and len(book["asks"]) == 3
    assert book["best_bid"] < book["mid"] < book["best_ask"]
    assert book["block_number"] == 42 and set(book["venues"]) == {"uniswap_v3", "sushiswap_v2"}
    assert [d["bps"] for d in book["depth"]] == [10, 50, 100]
    by_address = await client.get(f"/markets/{CHAIN}/{WETH.lower()}/{USDC}/book")
    assert by_address.status_code == 200 and len(by_address.json()["bids"]) == 10
    assert by_address.json()["mid"] == book["mid"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"/markets/{CHAIN}/WETH/ARB/book", 404, "PAIR_NOT_FOUND"),
        (f"/markets/{CHAIN}/{ARB}/{USDC}/book", 404, "PAIR_NOT_FOUND"),
        (f"/markets/{CHAIN}/PEPE/USDC/book", 422, "UNKNOWN_TOKEN"),
        (f"/markets/{CHAIN}/WETH/{WETH.lower()}/book", 404, "PAIR_NOT_FOUND"),
        (f"/markets/{CHAIN}/weth/USDC/book", 422, "UNKNOWN_TOKEN"),  # symbols as spelt
        (f"/markets/{CHAIN}/WETH/{USDC.lower()}/book?levels=0", 422, None),
        (f"/markets/{CHAIN}/WETH/USDC/book?levels=101", 422, None),
        (f"/markets/{CHAIN}/{WETH[:-1]}B/USDC/book", 422, "ADDRESS_CHECKSUM"),
        ("/markets/1/WETH/USDC/book", 422, "UNKNOWN_CHAIN"),
        (f"/markets/{CHAIN}/WE$TH/USDC/book", 422, None),
    ],
)
async def test_refusals_have_stable_codes(
    api: tuple[httpx.AsyncClient, MemoryBooks], path: str, status: int, code: str | None
) -> None:
    client, _ = api
    response = await client.get(path)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["reason_codes"] and body["detail"]
    if code is not None:
        assert body["reason_codes"] == [code]


async def test_no_book_yet_is_503_and_no_key_is_401(
    api: tuple[httpx.AsyncClient, MemoryBooks],
) -> None:
    client, books = api
    books.books.clear()
    books.held = False
    response = await client.get(f"/markets/{CHAIN}/WETH/USDC/book")
    assert response.status_code == 503
    assert response.json()["reason_codes"] == ["BOOK_UNAVAILABLE"]
    assert response.headers["retry-after"] == "1"
    anonymous = await client.get(f"/markets/{CHAIN}/WETH/USDC/book", headers={"authorization": ""})
    assert anonymous.status_code == 401


async def test_the_route_is_documented(api: tuple[httpx.AsyncClient, MemoryBooks]) -> None:
    client, _ = api
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/markets/{chain_id}/{base}/{quote}/book"]["get"]
    assert set(operation["responses"]) >= {"200", "401", "404", "422", "429", "503"}
    assert operation["security"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["chain_id"]["enum"] == [CHAIN]
    address, symbol = params["base"]["anyOf"]
    assert address["format"] == "eip55-address" and "WETH" in symbol["enum"]
    assert params["levels"]["minimum"] == 1 and params["levels"]["maximum"] == 100
    schema = spec["components"]["schemas"]["BookView"]
    assert {"best_bid", "best_ask", "mid", "bids", "asks", "depth", "venues", "block_number",
            "as_of"} <= set(schema["properties"])  # fmt: skip
