"""One platform for the end-to-end tier: `sep up` on ports of its own, with its own devnet,
Ray cluster, Serve application and actors, over the shared NATS, Redis and PostgreSQL under
names of its own. The seed strategy trades from devnet wallet 1 and `LEDGER_STRATEGY` from
account 10 of anvil's mnemonic (the devnet does not fund it: its test does); each wallet has
its execution actor, signing with its (public, devnet-only) key. PASSIVE slices are 5 s
apart so windows stay short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from tests.integration.conftest import drop_test_resources
from tests.platform_env import SEED_STRATEGY, isolated_platform_env
from tests.platform_env import WALLET_1 as WALLET

SEP = [sys.executable, "-m", "platform_core.cli"]
DEV_MNEMONIC = "test test test test test test test test test test test junk"  # anvil's, public
SLICE_INTERVAL_MS = 5_000
LEDGER_STRATEGY = "7e57a1b2-0000-4000-8000-000000000007"


def dev_account(index: int) -> Any:
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


FINAL = {"completed", "failed", "expired", "cancelled", "denied"}

Account.enable_unaudited_hdwallet_features()


def auth(env: dict[str, str]) -> dict[str, str]:
    return {"authorization": f"Bearer {env['TEST_API_KEY']}"}


def _tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else ""


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    run_dir = tmp_path_factory.mktemp("run")
    tag = uuid.uuid4().hex[:10]
    wallets = {SEED_STRATEGY: dev_account(1), LEDGER_STRATEGY: dev_account(10)}
    inherited = {k: v for k, v in os.environ.items() if k != "SEP_SIGNING_KEY"}
    env = {
        **inherited,
        **isolated_platform_env(tag, run_dir),
        "SEP_STRATEGY_WALLETS": json.dumps({s: a.address for s, a in wallets.items()}),
        "SEP_SIGNING_KEYS": json.dumps({a.address: a.key.to_0x_hex() for a in wallets.values()}),
        "SEP_PASSIVE_SLICE_INTERVAL_MS": str(SLICE_INTERVAL_MS),
    }
    up = subprocess.run([*SEP, "up"], env=env, capture_output=True, text=True, timeout=600)
    (run_dir / "sep-up.out").write_text(up.stdout + up.stderr)  # what tests may look at
    try:
        assert up.returncode == 0, up.stdout + up.stderr + _tail(run_dir / "ray-head.log")
        assert "ray: started a head node" in up.stdout
        assert "chain: started the devnet" in up.stdout
        assert f"executor:42161:{WALLET.lower()} ready" in up.stdout, up.stdout
        keys = subprocess.run(
            [*SEP, "keys", "create", "--strategy", SEED_STRATEGY], env=env, capture_output=True,
            text=True, timeout=60, check=True,
        )  # fmt: skip
        token = next(line.split()[-1] for line in keys.stdout.splitlines() if "api key" in line)
        env["TEST_API_KEY"] = token
        yield f"http://127.0.0.1:{env['SEP_API_PORT']}", env
    finally:
        subprocess.run([*SEP, "down"], env=env, capture_output=True, text=True, timeout=180)
        drop_test_resources(tag)


def rpc_url(env: dict[str, str]) -> str:
    return json.loads(env["SEP_CHAINS"])["42161"]["rpc_url"]


def rpc(env: dict[str, str], method: str, params: list[Any]) -> Any:
    answer = httpx.post(
        rpc_url(env), json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
        timeout=30,
    ).json()  # fmt: skip
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def erc20_balance(env: dict[str, str], token: str, owner: str = WALLET) -> int:
    data = "0x70a08231" + owner.lower().removeprefix("0x").rjust(64, "0")
    return int(rpc(env, "eth_call", [{"to": token, "data": data}, "latest"]), 16)


def nonce(env: dict[str, str], owner: str = WALLET) -> int:
    return int(rpc(env, "eth_getTransactionCount", [owner, "latest"]), 16)


def wait_for_status(
    base: str, env: dict[str, str], intent_id: str, wanted: set[str], timeout_s: float = 180
) -> dict[str, Any]:
    """The intent's view once its status is in `wanted` (or final: then the test sees it)."""
    deadline = time.monotonic() + timeout_s
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/intents/{intent_id}", headers=auth(env), timeout=10)
        if answer.status_code == 200:
            view = answer.json()
            if view["status"] in wanted | FINAL:
                return view
        time.sleep(0.5)
    raise AssertionError(f"intent {intent_id} still {view.get('status')} after {timeout_s} s")


def events_of(base: str, env: dict[str, str], intent_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/intents/{intent_id}/events", headers=auth(env), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def wait_for_event(
    base: str, env: dict[str, str], intent_id: str, event_type: str, timeout_s: float = 120
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/intents/{intent_id}/events", headers=auth(env), timeout=10)
        if answer.status_code == 200:
            events = answer.json()["events"]
            if any(e["event_type"] == event_type for e in events):
                return events
        time.sleep(0.25)
    raise AssertionError(f"no {event_type} for intent {intent_id} within {timeout_s} s")
