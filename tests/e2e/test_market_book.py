"""The consolidated book end to end, over HTTP against `sep up`: the MarketData actor is
started with the platform, the Serve replicas answer
`GET /markets/{chain_id}/{base}/{quote}/book` from its Redis read model with both venues'
WETH/USDC pools, and a swap the platform itself executes moves the book at its block."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.conftest import auth, events_of, wait_for_status

BOOK = "/markets/42161/WETH/USDC/book"


def book_after(base: str, env: dict[str, str], block: int, timeout_s: float = 60) -> dict:
    """The book once it is as of `block` or later (bounded wait)."""
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}{BOOK}", headers=auth(env), timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["block_number"] >= block:
            return body
        time.sleep(0.25)
    raise AssertionError(f"book still at block {body.get('block_number')}, not {block}")


def test_the_book_is_served_and_follows_the_platforms_own_swap(
    platform: tuple[str, dict], seed_intent: dict
) -> None:
    base, env = platform
    book = book_after(base, env, 0)
    assert sorted(book["venues"]) == ["sushiswap_v2", "uniswap_v3"]
    assert book["best_bid"] < book["mid"] < book["best_ask"]
    assert len(book["bids"]) == 10 and len(book["asks"]) == 10
    for level in book["bids"] + book["asks"]:
        assert abs(sum(level["venues"].values()) - level["size"]) <= 1e-9 * level["size"]
    no_key = httpx.get(f"{base}{BOOK}", timeout=10)
    assert no_key.status_code == 401
    missing = httpx.get(f"{base}/markets/42161/ARB/USDT/book", headers=auth(env), timeout=10)
    assert missing.status_code == 404 and missing.json()["reason_codes"] == ["PAIR_NOT_FOUND"]

    # The seed intent buys 1.5 WETH with USDC: once mined, WETH is dearer in the book.
    response = httpx.post(f"{base}/intents", json=seed_intent, headers=auth(env), timeout=60)
    assert response.status_code == 202, response.text
    view = wait_for_status(base, env, response.json()["intent_id"], {"completed"})
    assert view["status"] == "completed", view
    confirmed = [e["payload"] for e in events_of(base, env, view["intent_id"])
                 if e["event_type"] == "ExecutionStepConfirmed"]  # fmt: skip
    block = max(int(c["block_number"]) for c in confirmed)
    moved = book_after(base, env, block)
    assert moved["mid"] > book["mid"]
