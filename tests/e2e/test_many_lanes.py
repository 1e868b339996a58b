"""Many lanes, end to end: the reservation ledger holds across the API's replicas.

`sep up` runs `SEP_API_REPLICAS` (2 by default) Serve replicas of the gate, none holding a
lock. `LEDGER_STRATEGY` trades from a wallet of its own (account 10 of anvil's mnemonic,
which the devnet does not fund), given gas and exactly 1,000 USDC by the test; 40 concurrent
DISPOSEs of 100 USDC each could only all fit if the replicas over-commit: exactly 10 are
accepted, and the 10 complete, spending exactly 1,000 USDC.

Nothing but the platform sends from that wallet: its execution actor numbers its nonces.
"""

from __future__ import annotations

import asyncio
import copy
import subprocess
from collections import Counter
from typing import Any

import httpx

from tests.e2e.conftest import (
    LEDGER_STRATEGY,
    SEP,
    dev_account,
    erc20_balance,
    rpc,
    wait_for_status,
)
from tests.e2e.test_lifecycle import USDC, WETH

HOLDING = 1_000 * 10**6
EACH = "100"
CONCURRENT = 40
DONOR = dev_account(8).address  # a funded devnet wallet the platform does not trade from


def _fund_exactly(env: dict[str, str], owner: str, amount: int) -> None:
    """Gas, and exactly `amount` USDC sent by the donor (anvil impersonation, devnet only)."""
    rpc(env, "anvil_setBalance", [owner, hex(10**20)])
    data = ("0xa9059cbb" + owner.lower().removeprefix("0x").rjust(64, "0")
            + hex(amount)[2:].rjust(64, "0"))  # fmt: skip
    rpc(env, "anvil_impersonateAccount", [DONOR])
    try:
        tx = rpc(env, "eth_sendTransaction", [{"from": DONOR, "to": USDC, "data": data}])
        assert int(rpc(env, "eth_getTransactionReceipt", [tx])["status"], 16) == 1
    finally:
        rpc(env, "anvil_stopImpersonatingAccount", [DONOR])
    assert erc20_balance(env, USDC, owner) == amount


def _api_key(env: dict[str, str], strategy: str) -> str:
    out = subprocess.run([*SEP, "keys", "create", "--strategy", strategy], env=env,
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return next(line.split()[-1] for line in out.stdout.splitlines() if "api key" in line)


def _dispose(seed: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(seed)
    body["strategy_id"] = LEDGER_STRATEGY
    body["intent_type"] = "dispose"
    usdc, weth = body["assets"][1]["asset"], body["assets"][0]["asset"]
    assert (usdc["address"], weth["address"]) == (USDC, WETH)
    body["assets"] = [{"asset": usdc, "amount": EACH}, {"asset": weth}]
    return body


async def _submit_all(base: str, token: str, body: dict[str, Any]) -> list[httpx.Response]:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as client:
        return list(
            await asyncio.gather(*(client.post("/intents", json=body) for _ in range(CONCURRENT)))
        )


def test_replicas_never_over_commit_a_wallet(
    platform: tuple[str, dict[str, str]], seed_intent: dict[str, Any]
) -> None:
    base, env = platform
    wallet = dev_account(10).address
    _fund_exactly(env, wallet, HOLDING)
    token = _api_key(env, LEDGER_STRATEGY)

    answers = asyncio.run(_submit_all(base, token, _dispose(seed_intent)))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {202: 10, 422: 30}, [a.text for a in answers if a.status_code != 202]
    for answer in answers:
        if answer.status_code == 422:
            assert answer.json()["reason_codes"] == ["INSUFFICIENT_BALANCE"], answer.text
    accepted = [a.json()["intent_id"] for a in answers if a.status_code == 202]
    auth_env = {**env, "TEST_API_KEY": token}
    finals = [wait_for_status(base, auth_env, i, {"completed"})["status"] for i in accepted]
    assert finals == ["completed"] * 10
    assert erc20_balance(env, USDC, wallet) == 0
