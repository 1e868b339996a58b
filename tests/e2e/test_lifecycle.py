"""The intent lifecycle end to end, over HTTP against `sep up`: Ray Serve, the gate, the
processors, the planner, the execution actor, the devnet, NATS, PostgreSQL and Redis.

The tests run in order on one wallet and each waits for its intent's verdict, so balance
and nonce deltas belong to the intent under test.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    SLICE_INTERVAL_MS,
    auth,
    erc20_balance,
    events_of,
    nonce,
    rpc,
    wait_for_event,
    wait_for_status,
)

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
WBTC = "0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f"


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_type"] for e in events]


def _plan(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["event_type"] == "PlanCreated")["payload"]["plan"]


def _submit(base: str, env: dict, body: dict) -> httpx.Response:
    return httpx.post(f"{base}/intents", json=body, headers=auth(env), timeout=60)


def _passive(seed: dict, window_ms: int, amount: str = "0.3") -> dict:
    body = copy.deepcopy(seed)
    body["assets"][0]["amount"] = amount
    body["constraints"].update(
        {"execution_style": "passive", "time_window_ms": window_ms, "max_slippage": "0.01"}
    )
    return body


def assert_ordered_log(events: list[dict[str, Any]]) -> None:
    """Gapless sequences from 0, each event caused by the one before it."""
    assert [e["sequence"] for e in events] == list(range(len(events)))
    for before, after in pairwise(events):
        assert after["causation_id"] == before["event_id"]


def test_seed_intent_completes_on_chain(platform: tuple[str, dict], seed_intent: dict) -> None:
    base, env = platform
    weth_before = erc20_balance(env, WETH)
    response = _submit(base, env, seed_intent)  # the design document's example, verbatim
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["status"] == "pending" and 1 <= receipt["priority"] <= 10

    view = wait_for_status(base, env, receipt["intent_id"], {"completed"})
    assert view["status"] == "completed", view["error"]
    events = events_of(base, env, receipt["intent_id"])
    assert_ordered_log(events)
    types = _types(events)
    steps = len(_plan(events)["steps"])
    assert types == [
        "IntentSubmitted",
        "IntentDecomposed",
        "PlanCreated",
        *["ExecutionStepSubmitted", "ExecutionStepConfirmed"] * steps,
        "ExecutionCompleted",
    ]
    # Every transaction was mined, successfully, on the devnet.
    assert view["tx_hashes"] and len(view["tx_hashes"]) == steps
    for tx_hash in view["tx_hashes"]:
        assert int(rpc(env, "eth_getTransactionReceipt", [tx_hash])["status"], 16) == 1
    # The wallet received at least the quote less the slippage, and at least 1.5 WETH.
    quoted = sum(int(s["expected_amount_out"]) for s in _plan(events)["steps"])
    received = erc20_balance(env, WETH) - weth_before
    assert received >= quoted * (1 - Decimal(seed_intent["constraints"]["max_slippage"]))
    assert received >= 15 * 10**17
    completed = events[-1]["payload"]
    assert int(completed["amount_out"]) == received
    # Redis (the read model) shows it, with the amounts the receipts showed.
    assert view["source"] == "read_model" and view["amount_out"] == str(received)


def test_passive_intent_runs_as_transactions_spread_over_its_window(
    platform: tuple[str, dict], seed_intent: dict
) -> None:
    base, env = platform
    response = _submit(base, env, _passive(seed_intent, window_ms=4 * SLICE_INTERVAL_MS))
    assert response.status_code == 202, response.text
    intent_id = response.json()["intent_id"]
    view = wait_for_status(base, env, intent_id, {"completed"})
    assert view["status"] == "completed", view
    events = events_of(base, env, intent_id)
    assert_ordered_log(events)
    orders = events[1]["payload"]["child_orders"]
    assert len(orders) >= 3  # a 20 s window in 5 s slices
    sent = [e for e in events if e["event_type"] == "ExecutionStepSubmitted"]
    assert len({e["payload"]["tx_hash"] for e in sent}) >= len(orders)
    # Each slice went out no earlier than its start time: the last one seconds after the first.
    starts = [datetime.fromisoformat(o["not_before"]) for o in orders]
    assert _at(sent[-1]) >= starts[-1] and _at(sent[0]) < starts[1]
    assert _at(sent[-1]) - _at(sent[0]) >= timedelta(milliseconds=SLICE_INTERVAL_MS)


def test_multi_asset_intent_with_a_percentage_completes(platform: tuple[str, dict]) -> None:
    base, env = platform
    weth_held = erc20_balance(env, WETH)
    wbtc_before, usdc_before = erc20_balance(env, WBTC), erc20_balance(env, USDC)
    body = {
        "strategy_id": "a1b2c3d4-e5f6-7890-1234-567890abcdef",
        "intent_type": "dispose",
        "assets": [
            {"asset": {"symbol": "WETH", "address": WETH, "decimals": 18, "chain_id": 42161},
             "percentage": "0.2"},
            {"asset": {"symbol": "WBTC", "address": WBTC, "decimals": 8, "chain_id": 42161},
             "amount": "0.05"},
            {"asset": {"symbol": "USDC", "address": USDC, "decimals": 6, "chain_id": 42161}},
        ],
        "constraints": {"max_slippage": "0.01", "time_window_ms": 120_000,
                        "execution_style": "aggressive"},
    }  # fmt: skip
    response = _submit(base, env, body)
    assert response.status_code == 202, response.text
    view = wait_for_status(base, env, response.json()["intent_id"], {"completed"})
    assert view["status"] == "completed", view
    orders = events_of(base, env, view["intent_id"])[1]["payload"]["child_orders"]
    # 0.2 % of the WETH the wallet held, and exactly 0.05 WBTC, both sold for USDC.
    assert {o["token_in"]: int(o["amount_in"]) for o in orders} == {
        WETH: weth_held * 2 // 1000,
        WBTC: 5 * 10**6,
    }
    assert erc20_balance(env, WBTC) == wbtc_before - 5 * 10**6
    assert erc20_balance(env, USDC) > usdc_before


def test_intent_whose_window_runs_out_expires_and_sends_nothing_after(
    platform: tuple[str, dict], seed_intent: dict
) -> None:
    """A congested chain: the first slice is broadcast in time but mined only after the
    window ended, so the router's deadline guard reverts it; the intent ends EXPIRED and the
    slices after it are never sent."""
    base, env = platform
    window_ms = 3 * SLICE_INTERVAL_MS
    nonce_before = nonce(env)
    rpc(env, "evm_setAutomine", [False])
    try:
        response = _submit(base, env, _passive(seed_intent, window_ms=window_ms))
        assert response.status_code == 202, response.text
        intent_id = response.json()["intent_id"]
        events = wait_for_event(base, env, intent_id, "ExecutionStepSubmitted")
        created = datetime.fromisoformat(events[0]["payload"]["intent"]["created_at"])
        deadline = created + timedelta(milliseconds=window_ms)
        time.sleep(max(0.0, (deadline - _at(events[-1])).total_seconds()) + 2.0)
    finally:
        rpc(env, "evm_setAutomine", [True])
        rpc(env, "evm_mine", [])
    view = wait_for_status(base, env, intent_id, {"expired"})
    assert view["status"] == "expired", view["error"]
    events = events_of(base, env, intent_id)
    assert_ordered_log(events)
    assert _types(events)[-2:] == ["ExecutionStepFailed", "IntentExpired"]
    assert events[-2]["payload"]["reverted"] is True
    sent = [e for e in events if e["event_type"] == "ExecutionStepSubmitted"]
    assert sent and all(_at(e) < deadline for e in sent)
    assert len(sent) < len(_plan(events)["steps"])
    # The chain agrees: the wallet sent exactly the transactions the log shows.
    assert nonce(env) - nonce_before == len(sent)


def test_cancel_stops_the_remaining_child_orders(
    platform: tuple[str, dict], seed_intent: dict
) -> None:
    base, env = platform
    nonce_before = nonce(env)
    response = _submit(base, env, _passive(seed_intent, window_ms=6 * SLICE_INTERVAL_MS))
    assert response.status_code == 202, response.text
    intent_id = response.json()["intent_id"]
    wait_for_event(base, env, intent_id, "ExecutionStepConfirmed")
    cancel = httpx.post(f"{base}/intents/{intent_id}/cancel", headers=auth(env), timeout=10)
    assert cancel.status_code == 202, cancel.text
    view = wait_for_status(base, env, intent_id, {"cancelled"})
    assert view["status"] == "cancelled", view
    events = events_of(base, env, intent_id)
    assert_ordered_log(events)
    assert events[-1]["event_type"] == "IntentCancelled"
    assert events[-1]["payload"]["steps_cancelled"] > 0
    sent = [e for e in events if e["event_type"] == "ExecutionStepSubmitted"]
    assert 0 < len(sent) < len(_plan(events)["steps"])
    assert nonce(env) - nonce_before == len(sent)
    again = httpx.post(f"{base}/intents/{intent_id}/cancel", headers=auth(env), timeout=10)
    assert again.status_code == 409 and again.json()["reason_codes"] == ["INTENT_FINAL"]


def _insufficient(body: dict) -> None:
    body["intent_type"] = "dispose"
    body["assets"][0]["amount"] = "5000"  # the wallet holds about 1,000 WETH


def _unsupported_venue(body: dict) -> None:
    body["constraints"]["allowed_venues"] = ["curve"]


def _absurd_slippage(body: dict) -> None:
    body["constraints"]["max_slippage"] = "0.00001"  # below the pool's own fee


def _unknown_token(body: dict) -> None:
    body["assets"][0]["asset"]["address"] = "0x000000000000000000000000000000000000dEaD"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_insufficient, "INSUFFICIENT_BALANCE"),
        (_unsupported_venue, "UNSUPPORTED_VENUE"),
        (_absurd_slippage, "SLIPPAGE_TOO_TIGHT"),
        (_unknown_token, "TOKEN_NOT_FOUND"),
    ],
)
def test_denied_intents_are_422_with_their_code_and_send_nothing(
    platform: tuple[str, dict], seed_intent: dict, change: Any, code: str
) -> None:
    base, env = platform
    nonce_before = nonce(env)
    change(seed_intent)
    response = _submit(base, env, seed_intent)
    assert response.status_code == 422, response.text
    body = response.json()
    assert code in body["reason_codes"]
    view = wait_for_status(base, env, body["intent_id"], {"denied"}, timeout_s=60)
    assert view["status"] == "denied" and code in view["reason_codes"]
    assert _types(events_of(base, env, body["intent_id"])) == ["IntentDenied"]
    time.sleep(1.0)  # a processor acting on a denial would have sent by now
    assert nonce(env) == nonce_before


def test_metrics_reach_the_cluster_exporter(platform: tuple[str, dict]) -> None:
    """The counters and histograms of the runs above, as Prometheus scrapes them."""
    _, env = platform
    url = f"http://127.0.0.1:{env['SEP_RAY_METRICS_EXPORT_PORT']}/metrics"
    wanted = (
        "sep_intents_total{",
        'status="completed"',
        'status="denied"',
        "sep_stage_seconds_bucket{",
        'stage="broadcast"',
        "sep_route_fill_pct_bucket{",
    )
    deadline = time.monotonic() + 90
    text = ""
    while time.monotonic() < deadline:
        try:
            text = httpx.get(url, timeout=10).text
        except httpx.HTTPError:
            text = ""
        if all(w in text for w in wanted):
            break
        time.sleep(2)
    missing = [w for w in wanted if w not in text]
    assert not missing, f"not exported: {missing}"
