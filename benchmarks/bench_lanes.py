"""Many lanes: an intent's time from `POST /intents` to its first broadcast, with 1 intent
in flight and with 30 in flight over 3 wallets, against sending the same swaps directly.

Ours: the platform `sep up` starts in an isolated environment, with three strategies on
devnet wallets 1, 2 and 3 (one execution actor each, keys from `SEP_SIGNING_KEYS`). Each
strategy first runs one intent to its end (the router approval, untimed). Then, with 1 in
flight, `SINGLE` small ACQUIREs one after another; with 30 in flight, `ROUNDS` waves of 30
(10 per strategy) submitted at once. An intent's figure is the time from the moment its POST
starts to the `occurred_at` of its first `ExecutionStepSubmitted` (the execution actor
stamps it once the node took the transaction).

Baseline, same run and devnet, from wallets 4, 5 and 6 (the router approved first,
untimed): the same swap done directly with eth-account: quote, build, sign, send; the figure
is the time until the node took it. With 30 in flight, each wallet sends 10 at once,
numbering its own nonces. The platform's overhead is ours minus the baseline.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from benchmarks.bench_http_api import (
    REPO_ROOT,
    SEED_INTENT,
    SEP,
    TERMINAL,
    WETH_USDC_FEE,
    NoResult,
    Platform,
    _platform,
    dev_key,
)
from benchmarks.report import percentile, print_table

STRATEGIES = {  # strategy -> devnet wallet index (anvil's public test accounts)
    "a1b2c3d4-e5f6-7890-1234-567890abcdef": 1,
    "5e1f7a2c-0b3d-4c8e-9f6a-1d2e3f4a5b01": 2,
    "5e1f7a2c-0b3d-4c8e-9f6a-1d2e3f4a5b02": 3,
}
DIRECT_WALLETS = (4, 5, 6)
SINGLE = 10
ROUNDS = 2
WAVE = 30
WETH_EACH = "0.01"
USDC_EACH = 30 * 10**6
FOLLOW_TIMEOUT_S = 300.0


def _address(index: int) -> str:
    from eth_account import Account

    return str(Account.from_key(dev_key(index)).address)


def platform_env() -> dict[str, str]:
    wallets = {strategy: _address(index) for strategy, index in STRATEGIES.items()}
    keys = {_address(index): dev_key(index) for index in STRATEGIES.values()}
    return {"SEP_STRATEGY_WALLETS": json.dumps(wallets), "SEP_SIGNING_KEYS": json.dumps(keys)}


def api_keys(platform: Platform) -> dict[str, str]:
    """strategy -> API key (the platform made the seed strategy's)."""
    import subprocess

    tokens = {}
    for strategy in STRATEGIES:
        out = subprocess.run([*SEP, "keys", "create", "--strategy", strategy], env=platform.env,
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        tokens[strategy] = next(
            line.split()[-1] for line in out.stdout.splitlines() if line.startswith("api key")
        )
    return tokens


def body(strategy: str) -> bytes:
    intent = json.loads(SEED_INTENT.read_text())
    intent["strategy_id"] = strategy
    intent["assets"][0]["amount"] = WETH_EACH
    return json.dumps(intent).encode()


@dataclass
class Series:
    first_broadcast_s: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


async def _one(client: httpx.AsyncClient, token: str, strategy: str, series: Series) -> None:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json",
               "idempotency-key": f"lanes-{uuid.uuid4().hex}"}  # fmt: skip
    started = datetime.now(UTC)
    answer = await client.post("/intents", content=body(strategy), headers=headers)
    if answer.status_code != 202:
        series.problems.append(f"POST {answer.status_code}: {answer.text[:200]}")
        return
    intent_id = answer.json()["intent_id"]
    auth = {"authorization": f"Bearer {token}"}
    deadline = time.monotonic() + FOLLOW_TIMEOUT_S
    status = "unseen"
    while time.monotonic() < deadline:
        view = await client.get(f"/intents/{intent_id}", headers=auth)
        status = view.json()["status"] if view.status_code == 200 else status
        if status in TERMINAL:
            break
        await asyncio.sleep(0.1)
    series.outcomes[status] = series.outcomes.get(status, 0) + 1
    page = await client.get(f"/intents/{intent_id}/events", headers=auth)
    sent = [
        datetime.fromisoformat(e["occurred_at"])
        for e in page.json().get("events", [])
        if e["event_type"] == "ExecutionStepSubmitted"
    ]
    if sent:
        series.first_broadcast_s.append((min(sent) - started).total_seconds())
    else:
        series.problems.append(f"{intent_id}: {status}, no broadcast")


async def _ours(platform: Platform, tokens: dict[str, str]) -> tuple[Series, Series]:
    single, wave = Series(), Series()
    async with httpx.AsyncClient(base_url=platform.base, timeout=60.0) as client:
        warm = Series()
        await asyncio.gather(*(_one(client, tokens[s], s, warm) for s in STRATEGIES))
        if warm.problems:
            raise NoResult(f"warm-up: {warm.problems[0]}")
        seed = next(iter(STRATEGIES))
        for _ in range(SINGLE):
            await _one(client, tokens[seed], seed, single)
        per = WAVE // len(STRATEGIES)
        for _ in range(ROUNDS):
            await asyncio.gather(
                *(_one(client, tokens[s], s, wave) for s in STRATEGIES for _ in range(per))
            )
    return single, wave


class DirectWallet:
    """One devnet wallet swapping USDC for WETH with eth-account, numbering its nonces."""

    def __init__(self, w3: Any, index: int, deployment: dict[str, Any], chain_id: int) -> None:
        from eth_account import Account

        self.w3, self.chain_id = w3, chain_id
        self.account = Account.from_key(dev_key(index))
        self.usdc = deployment["tokens"]["USDC"]["address"]
        self.weth = deployment["tokens"]["WETH"]["address"]
        self.router = deployment["uniswap_v3"]["swap_router"]
        self.quoter = deployment["uniswap_v3"]["quoter_v2"]
        self.nonce = 0
        self.sent: list[bytes] = []

    async def start(self) -> None:
        self.nonce = await self.w3.eth.get_transaction_count(self.account.address, "pending")
        await self.send(self.usdc, _call("approve", ["address", "uint256"],
                                         [self.router, 2**256 - 1]), gas=100_000)  # fmt: skip
        await self.w3.eth.wait_for_transaction_receipt(self.sent[-1], timeout=60)

    async def send(self, to: str, data: bytes, gas: int) -> None:
        nonce, self.nonce = self.nonce, self.nonce + 1
        tx = {"to": to, "data": data, "value": 0, "gas": gas, "nonce": nonce,
              "chainId": self.chain_id, "gasPrice": await self.w3.eth.gas_price}  # fmt: skip
        signed = self.account.sign_transaction(tx)
        self.sent.append(await self.w3.eth.send_raw_transaction(signed.raw_transaction))

    async def swap(self) -> float:
        """Seconds from now until the node took the swap."""
        from eth_abi import decode

        started = time.perf_counter()
        quote = _call("quoteExactInputSingle", ["(address,address,uint256,uint24,uint160)"],
                      [(self.usdc, self.weth, USDC_EACH, WETH_USDC_FEE, 0)])  # fmt: skip
        raw = await self.w3.eth.call({"to": self.quoter, "data": quote})
        out = decode(["uint256", "uint160", "uint32", "uint256"], raw)[0]
        deadline = int(time.time()) + 600
        params = (self.usdc, self.weth, WETH_USDC_FEE, self.account.address, deadline,
                  USDC_EACH, out * 995 // 1000, 0)  # fmt: skip
        swap = _call("exactInputSingle",
                     ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
                     [params])  # fmt: skip
        await self.send(self.router, swap, gas=300_000)
        return time.perf_counter() - started


def _call(name: str, types: list[str], args: list[Any]) -> bytes:
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector

    return function_signature_to_4byte_selector(f"{name}({','.join(types)})") + encode(types, args)


async def _direct(rpc_url: str) -> tuple[list[float], list[float]]:
    from web3 import AsyncHTTPProvider, AsyncWeb3

    deployment = json.loads((REPO_ROOT / "devnet" / "deployment.json").read_text())
    w3 = AsyncWeb3(AsyncHTTPProvider(rpc_url))
    chain_id = await w3.eth.chain_id
    wallets = [DirectWallet(w3, index, deployment, chain_id) for index in DIRECT_WALLETS]
    for wallet in wallets:
        await wallet.start()
    single = [await wallets[0].swap() for _ in range(SINGLE)]
    wave: list[float] = []
    per = WAVE // len(wallets)
    for _ in range(ROUNDS):
        wave += await asyncio.gather(*(w.swap() for w in wallets for _ in range(per)))
    for wallet in wallets:
        for tx_hash in wallet.sent:
            receipt = await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
            if receipt["status"] != 1:
                raise NoResult(f"direct swap 0x{bytes(tx_hash).hex()} reverted")
    return single, wave


def _stat(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    return (statistics.median(samples) if q == 0.5 else percentile(samples, q)) * 1e3


def main() -> None:
    with _platform("lanes", platform_env()) as platform:
        tokens = api_keys(platform)
        direct_single, direct_wave = asyncio.run(_direct(platform.rpc_url))
        single, wave = asyncio.run(_ours(platform, tokens))
    rows = []
    for label, ours, base in (
        ("1 in flight", single.first_broadcast_s, direct_single),
        (f"{WAVE} in flight, 3 wallets", wave.first_broadcast_s, direct_wave),
    ):
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            rows.append((f"submit -> first broadcast, {label}, {name}", _stat(ours, q),
                         _stat(base, q), "ms"))  # fmt: skip
        overhead = _stat(ours, 0.5) - _stat(base, 0.5)
        print(f"  {label}: platform overhead p50 {overhead:,.1f} ms")
    print_table(
        "Submit -> first broadcast: the platform (3 strategies, 3 wallets) vs the same swap "
        "sent directly (eth-account, 3 other wallets)",
        rows,
    )
    for name, series in (("1 in flight", single), ("30 in flight", wave)):
        print(f"  {name}: outcomes {series.outcomes}; problems {len(series.problems)}")
        for problem in series.problems[:5]:
            print(f"    {problem}")


if __name__ == "__main__":
    main()
