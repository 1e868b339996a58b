"""A burst of small intents through the whole platform: does every one of them end
COMPLETED, and how long does the burst take?

Ours: `SEP_BENCH_BURST_INTENTS` (default 500) small AGGRESSIVE ACQUIREs of WETH with USDC
for the seed strategy, `SEP_BENCH_BURST_IN_FLIGHT` (default 8) POSTs in flight, against the
platform `sep up` starts in an isolated environment (its own ports, names and devnet,
default intent processors, one execution actor for devnet wallet 1); then every intent is
followed to a final status. Printed: the count per final status (the figure that matters:
all COMPLETED), accepted/s, and completed/s from the first POST to the last verdict.
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

import httpx

from benchmarks.bench_http_api import (
    SEED_INTENT,
    TERMINAL,
    NoResult,
    Platform,
    _direct_swaps,
    _platform,
    dev_key,
)
from benchmarks.report import print_table, write_json

INTENTS = int(os.environ.get("SEP_BENCH_BURST_INTENTS", "500"))
IN_FLIGHT = int(os.environ.get("SEP_BENCH_BURST_IN_FLIGHT", "8"))
WETH_EACH = "0.01"  # about 30 USDC: 500 of them move the 0.05 % pool a little
USDC_EACH = 30 * 10**6  # the baseline's swaps: the same size, exact input
FOLLOW_TIMEOUT_S = 900.0
REQUEST_TIMEOUT_S = 60.0


@dataclass
class Burst:
    accepted: list[str] = field(default_factory=list)  # intent ids, in order of acceptance
    refused: Counter[str] = field(default_factory=Counter)  # "status: body" -> count
    outcomes: Counter[str] = field(default_factory=Counter)
    not_final: dict[str, str] = field(default_factory=dict)  # intent id -> last status
    failures: dict[str, str] = field(default_factory=dict)  # intent id -> reason
    submit_s: float = 0.0
    total_s: float = 0.0


def _body() -> bytes:
    intent = json.loads(SEED_INTENT.read_text())
    intent["assets"][0]["amount"] = WETH_EACH
    return json.dumps(intent).encode()


async def _submit_all(client: httpx.AsyncClient, platform: Platform, burst: Burst) -> None:
    body = _body()
    headers = {**platform.headers, "content-type": "application/json"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(INTENTS):
        queue.put_nowait(index)

    async def client_loop() -> None:
        while not queue.empty():
            queue.get_nowait()
            key = {"idempotency-key": f"burst-{uuid.uuid4().hex}"}
            answer = await client.post("/intents", content=body, headers={**headers, **key})
            if answer.status_code == 202:
                burst.accepted.append(answer.json()["intent_id"])
            else:
                burst.refused[f"{answer.status_code}: {answer.text[:160]}"] += 1

    await asyncio.gather(*(client_loop() for _ in range(IN_FLIGHT)))


async def _follow_all(client: httpx.AsyncClient, platform: Platform, burst: Burst) -> None:
    """Poll every open intent until it is final or the timeout passes."""
    open_ids = set(burst.accepted)
    last: dict[str, str] = {}
    deadline = time.monotonic() + FOLLOW_TIMEOUT_S
    while open_ids and time.monotonic() < deadline:
        for intent_id in sorted(open_ids):
            answer = await client.get(f"/intents/{intent_id}", headers=platform.headers)
            if answer.status_code != 200:
                continue
            view = answer.json()
            last[intent_id] = view["status"]
            if view["status"] in TERMINAL:
                open_ids.discard(intent_id)
                burst.outcomes[view["status"]] += 1
                if view["status"] != "completed":
                    burst.failures[intent_id] = await _reason(client, platform, intent_id)
        if open_ids:
            await asyncio.sleep(0.5)
    burst.not_final = {i: last.get(i, "unseen") for i in open_ids}


async def _reason(client: httpx.AsyncClient, platform: Platform, intent_id: str) -> str:
    page = await client.get(f"/intents/{intent_id}/events", headers=platform.headers)
    events = page.json().get("events", []) if page.status_code == 200 else []
    return json.dumps(events[-1]["payload"]) if events else "no events"


async def _burst(platform: Platform) -> Burst:
    burst = Burst()
    async with httpx.AsyncClient(base_url=platform.base, timeout=REQUEST_TIMEOUT_S) as client:
        started = time.monotonic()
        await _submit_all(client, platform, burst)
        burst.submit_s = time.monotonic() - started
        await _follow_all(client, platform, burst)
        burst.total_s = time.monotonic() - started
    return burst


def main() -> None:
    extra = {"SEP_SIGNING_KEY": dev_key(1)}  # the seed strategy trades from devnet wallet 1
    with _platform("burst", extra) as platform:
        ours = asyncio.run(_burst(platform))
        started = time.monotonic()
        try:
            direct = asyncio.run(_direct_swaps(platform.rpc_url, INTENTS, USDC_EACH))
            direct_s: float | None = time.monotonic() - started
        except Exception as exc:
            reason = exc if isinstance(exc, NoResult) else NoResult(repr(exc))
            print(f"  direct swaps not measured: {reason}")
            direct, direct_s = None, None
    completed = ours.outcomes.get("completed", 0)
    ours_rate = completed / ours.total_s if ours.total_s else 0.0
    direct_rate = len(direct.completed_s) / direct_s if direct and direct_s else float("nan")
    print_table(
        f"Burst: {INTENTS} small ACQUIREs, {IN_FLIGHT} in flight, each followed to its verdict, "
        "vs the same swaps sent directly one after another",
        [("swaps completed per second", ours_rate, direct_rate, "1/s")],
    )
    accepted_rate = len(ours.accepted) / ours.submit_s if ours.submit_s else 0.0
    print(f"  accepted {accepted_rate:,.1f}/s over {ours.submit_s:,.1f} s of POSTs")
    print(f"  outcomes: {dict(ours.outcomes)}; accepted {len(ours.accepted)} of {INTENTS}")
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
            "accepted": len(ours.accepted),
            "refused": dict(ours.refused),
            "outcomes": dict(ours.outcomes),
            "not_final": ours.not_final,
            "failures": ours.failures,
            "submit_s": ours.submit_s,
            "total_s": ours.total_s,
            "completed_per_s": ours_rate,
            "baseline_direct_per_s": direct_rate,
        },
    )


if __name__ == "__main__":
    main()
