"""A burst of small intents through the whole platform: does every one of them end
COMPLETED, and how long does the burst take?

Ours: `SEP_BENCH_BURST_INTENTS` (default 500) small AGGRESSIVE ACQUIREs of WETH with USDC,
spread round-robin over three strategies on devnet wallets 1, 2 and 3,
`SEP_BENCH_BURST_IN_FLIGHT` (default 8) POSTs in flight, against the platform `sep up`
starts in an isolated environment (its own ports, names and devnet, default intent
processors, one execution actor per wallet); then every intent is followed to a final
status, and the chain is checked: every transaction our wallets sent during the burst is
either the one transaction of a confirmed step or a router approval, and each wallet's
nonces are contiguous. Printed: the count per final status (the figure that matters: all
COMPLETED), the chain check, accepted/s, and completed/s from the first POST to the last
verdict.
Baseline, same run and devnet: the same number of the same swaps sent directly, one after
another, from devnet wallet 2 (quote, sign, send, receipt) with eth-account: 30 USDC in
each, about what each intent pays.

The figures are also written to `.run/bench/burst.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.bench_http_api import TERMINAL, NoResult, Platform, _direct_swaps, _platform
from benchmarks.bench_lanes import STRATEGIES, api_keys, body, platform_env
from benchmarks.report import print_table, write_json

INTENTS = int(os.environ.get("SEP_BENCH_BURST_INTENTS", "500"))
IN_FLIGHT = int(os.environ.get("SEP_BENCH_BURST_IN_FLIGHT", "8"))
USDC_EACH = 30 * 10**6  # the baseline's swaps: about what each intent pays, exact input
FOLLOW_TIMEOUT_S = 900.0
REQUEST_TIMEOUT_S = 60.0
APPROVE = "0x095ea7b3"


@dataclass
class Burst:
    accepted: dict[str, str] = field(default_factory=dict)  # intent id -> strategy
    refused: Counter[str] = field(default_factory=Counter)  # "status: body" -> count
    outcomes: Counter[str] = field(default_factory=Counter)
    not_final: dict[str, str] = field(default_factory=dict)  # intent id -> last status
    failures: dict[str, str] = field(default_factory=dict)  # intent id -> reason
    step_hashes: set[str] = field(default_factory=set)  # every confirmed step's transaction
    submit_s: float = 0.0
    total_s: float = 0.0


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _submit_all(client: httpx.AsyncClient, tokens: dict[str, str], burst: Burst) -> None:
    strategies = list(STRATEGIES)
    bodies = {strategy: body(strategy) for strategy in strategies}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(INTENTS):
        queue.put_nowait(index)

    async def client_loop() -> None:
        while not queue.empty():
            strategy = strategies[queue.get_nowait() % len(strategies)]
            headers = {**_auth(tokens[strategy]), "content-type": "application/json",
                       "idempotency-key": f"burst-{uuid.uuid4().hex}"}  # fmt: skip
            answer = await client.post("/intents", content=bodies[strategy], headers=headers)
            if answer.status_code == 202:
                burst.accepted[answer.json()["intent_id"]] = strategy
            else:
                burst.refused[f"{answer.status_code}: {answer.text[:160]}"] += 1

    await asyncio.gather(*(client_loop() for _ in range(IN_FLIGHT)))


async def _follow_all(client: httpx.AsyncClient, tokens: dict[str, str], burst: Burst) -> None:
    """Poll every open intent until it is final or the timeout passes."""
    open_ids = set(burst.accepted)
    last: dict[str, str] = {}
    deadline = time.monotonic() + FOLLOW_TIMEOUT_S
    while open_ids and time.monotonic() < deadline:
        for intent_id in sorted(open_ids):
            auth = _auth(tokens[burst.accepted[intent_id]])
            answer = await client.get(f"/intents/{intent_id}", headers=auth)
            if answer.status_code != 200:
                continue
            status = answer.json()["status"]
            last[intent_id] = status
            if status in TERMINAL:
                open_ids.discard(intent_id)
                burst.outcomes[status] += 1
                await _record_events(client, auth, intent_id, status, burst)
        if open_ids:
            await asyncio.sleep(0.5)
    burst.not_final = {i: last.get(i, "unseen") for i in open_ids}


async def _record_events(
    client: httpx.AsyncClient, auth: dict[str, str], intent_id: str, status: str, burst: Burst
) -> None:
    page = await client.get(f"/intents/{intent_id}/events", headers=auth)
    events = page.json().get("events", []) if page.status_code == 200 else []
    for event in events:
        if event["event_type"] == "ExecutionStepConfirmed":
            burst.step_hashes.add(event["payload"]["tx_hash"].lower())
    if status != "completed":
        burst.failures[intent_id] = json.dumps(events[-1]["payload"]) if events else "no events"


async def _rpc(client: httpx.AsyncClient, method: str, params: list[Any]) -> Any:
    answer = await client.post("", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                         "params": params})  # fmt: skip
    return answer.json()["result"]


async def _chain_state(rpc_url: str, wallets: list[str]) -> tuple[int, dict[str, int]]:
    async with httpx.AsyncClient(base_url=rpc_url, timeout=30) as client:
        block = int(await _rpc(client, "eth_blockNumber", []), 16)
        nonces = {w: int(await _rpc(client, "eth_getTransactionCount", [w, "latest"]), 16)
                  for w in wallets}  # fmt: skip
    return block, nonces


async def _check_chain(
    rpc_url: str, first_block: int, start: dict[str, int], burst: Burst
) -> dict[str, Any]:
    """Every transaction our wallets sent after `first_block`: a confirmed step's one
    transaction or an approval; each wallet's nonces contiguous from where it started."""
    sent: dict[str, list[int]] = {w.lower(): [] for w in start}
    stray: list[str] = []
    approvals = 0
    seen_steps: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=rpc_url, timeout=30) as client:
        head = int(await _rpc(client, "eth_blockNumber", []), 16)
        for number in range(first_block + 1, head + 1):
            block = await _rpc(client, "eth_getBlockByNumber", [hex(number), True])
            for tx in block["transactions"]:
                sender = tx["from"].lower()
                if sender not in sent:
                    continue
                sent[sender].append(int(tx["nonce"], 16))
                if tx["hash"].lower() in burst.step_hashes:
                    seen_steps[tx["hash"].lower()] += 1
                elif tx["input"].startswith(APPROVE):
                    approvals += 1
                else:
                    stray.append(tx["hash"])
    contiguous = {
        w: sorted(sent[w.lower()]) == list(range(start[w], start[w] + len(sent[w.lower()])))
        for w in start
    }
    return {
        "transactions": {w: len(n) for w, n in sent.items()},
        "approvals": approvals,
        "steps_on_chain": len(seen_steps),
        "steps_confirmed": len(burst.step_hashes),
        "steps_missing_on_chain": len(burst.step_hashes - set(seen_steps)),
        "stray_transactions": stray,
        "nonces_contiguous": contiguous,
    }


async def _burst(platform: Platform, tokens: dict[str, str]) -> Burst:
    burst = Burst()
    async with httpx.AsyncClient(base_url=platform.base, timeout=REQUEST_TIMEOUT_S) as client:
        started = time.monotonic()
        await _submit_all(client, tokens, burst)
        burst.submit_s = time.monotonic() - started
        await _follow_all(client, tokens, burst)
        burst.total_s = time.monotonic() - started
    return burst


def main() -> None:
    env = platform_env()
    wallets = list(json.loads(env["SEP_STRATEGY_WALLETS"]).values())
    with _platform("burst", env) as platform:
        tokens = api_keys(platform)
        first_block, start_nonces = asyncio.run(_chain_state(platform.rpc_url, wallets))
        ours = asyncio.run(_burst(platform, tokens))
        chain = asyncio.run(_check_chain(platform.rpc_url, first_block, start_nonces, ours))
        started = time.monotonic()
        try:
            direct = asyncio.run(_direct_swaps(platform.rpc_url, INTENTS, USDC_EACH))
            direct_s: float | None = time.monotonic() - started
        except Exception as exc:
            reason = exc if isinstance(exc, NoResult) else NoResult(repr(exc))
            print(f"  direct swaps not measured: {reason}")
            direct, direct_s = None, None
    _report(ours, chain, direct, direct_s)


def _report(ours: Burst, chain: dict[str, Any], direct: Any, direct_s: float | None) -> None:
    completed = ours.outcomes.get("completed", 0)
    ours_rate = completed / ours.total_s if ours.total_s else 0.0
    direct_rate = len(direct.completed_s) / direct_s if direct and direct_s else float("nan")
    print_table(
        f"Burst: {INTENTS} small ACQUIREs over {len(STRATEGIES)} strategies and wallets, "
        f"{IN_FLIGHT} in flight, each followed to its verdict, vs the same swaps sent directly "
        "one after another",
        [("swaps completed per second", ours_rate, direct_rate, "1/s")],
    )
    accepted_rate = len(ours.accepted) / ours.submit_s if ours.submit_s else 0.0
    print(f"  accepted {accepted_rate:,.1f}/s over {ours.submit_s:,.1f} s of POSTs")
    print(f"  outcomes: {dict(ours.outcomes)}; accepted {len(ours.accepted)} of {INTENTS}")
    print(f"  chain: {json.dumps(chain, sort_keys=True)}")
    if ours.refused:
        print(f"  refused: {dict(ours.refused)}")
    if ours.not_final:
        print(f"  not final after {FOLLOW_TIMEOUT_S:g} s: {len(ours.not_final)}")
    for intent_id, reason in list(ours.failures.items())[:10]:
        print(f"  {intent_id}: {reason}")
    write_json(
        "burst",
        {
            "intents": INTENTS,
            "in_flight": IN_FLIGHT,
            "strategies": len(STRATEGIES),
            "accepted": len(ours.accepted),
            "refused": dict(ours.refused),
            "outcomes": dict(ours.outcomes),
            "not_final": ours.not_final,
            "failures": ours.failures,
            "chain": chain,
            "submit_s": ours.submit_s,
            "total_s": ours.total_s,
            "completed_per_s": ours_rate,
            "baseline_direct_per_s": direct_rate,
        },
    )


if __name__ == "__main__":
    main()
