"""`make devnet`: start anvil from the saved state in the background and print the addresses.

    python devnet/run.py up      # start (or report the one already running) on SEP_DEVNET_PORT
    python devnet/run.py down    # stop the instance `up` started, and only that

The process is recorded in `<SEP_RUN_DIR>/started.json` under the name "devnet", the same
record `sep up` uses, so `make down` stops it too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from platform_core.chain.devnet import (
    REPO_ROOT,
    load_deployment,
    start_anvil,
)
from platform_core.chain.journal import archive_journals
from platform_core.config import Settings
from platform_core.services.launcher import RunRecord, Started, stop

NAME = "devnet"


def run_dir() -> Path:
    return Path(os.environ.get("SEP_RUN_DIR", REPO_ROOT / ".run"))


def print_addresses(rpc_url: str) -> None:
    deployment = load_deployment()
    print(f"devnet: {rpc_url} (chain id {deployment['chain_id']})")
    for name, address in deployment["uniswap_v3"].items():
        if isinstance(address, str) and address.startswith("0x") and len(address) == 42:
            print(f"  {name:<30} {address}")
    for symbol, token in deployment["tokens"].items():
        print(f"  {symbol:<30} {token['address']} ({token['decimals']} decimals)")
    for pool in deployment["pools"]:
        pair = f"{pool['token0']}/{pool['token1']} {pool['fee'] / 10_000:g}%"
        print(f"  pool {pair:<25} {pool['address']}")
    sushi = deployment.get("sushiswap_v2", {})
    for name in ("factory", "router"):
        if name in sushi:
            print(f"  {'sushiswap_v2 ' + name:<30} {sushi[name]}")
    for v2 in deployment.get("v2_pairs", []):
        pair = f"{v2['token0']}/{v2['token1']} {v2['venue']}"
        print(f"  pair {pair:<25} {v2['address']}")
    wallets = ", ".join(str(w["index"]) for w in deployment["wallets"])
    print(f"  funded wallets: anvil test mnemonic accounts {wallets} (devnet-only keys)")


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def up(port: int) -> int:
    record = RunRecord(run_dir())
    for entry in record.load():
        if entry.name != NAME:
            continue
        if _alive(entry.pid):
            print(f"devnet: already running ({entry.detail}); `make devnet-down` stops it")
            print_addresses(f"http://127.0.0.1:{entry.ports[0]}")
            return 0
        record.remove(NAME)  # a stale record: that anvil is gone
    anvil = start_anvil(run_dir() / "devnet", port=port)
    if any(entry.name == "ray" and _alive(entry.pid) for entry in record.load()):
        # Its execution actors hold the journals open: moving them away underneath would
        # leave the actors writing to the archive. They notice the reset themselves.
        print("devnet: a fresh chain, while the platform runs: its execution journals describe "
              "the previous chain, so new intents end FAILED (JOURNAL_CHAIN_MISMATCH) until "
              "`make down && make up` (which archives them)")  # fmt: skip
    else:
        moved = archive_journals(Settings().journal_path)
        if moved:
            print(f"devnet: a fresh chain; {len(moved)} journal files of the previous one moved "
                  f"to {moved[0].parent}")  # fmt: skip
    record.add(
        Started(NAME, anvil.pid, f"anvil on 127.0.0.1:{port}, log {anvil.log_path}", ports=[port])
    )
    print_addresses(anvil.rpc_url)
    return 0


def down() -> int:
    record = RunRecord(run_dir())
    for entry in record.load():
        if entry.name == NAME:
            stop(entry)
            record.remove(NAME)
            print(f"devnet: stopped ({entry.detail})")
            return 0
    print("devnet: not started by us; nothing to stop")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("SEP_DEVNET_PORT", 8545)))
    args = parser.parse_args()
    return up(args.port) if args.action == "up" else down()


if __name__ == "__main__":
    sys.exit(main())
