"""Rebuild the devnet state from scratch: tokens, Uniswap V3, pools, funded wallets,
then SushiSwap V2 and its pairs.

Runs a throwaway anvil on a free port, deploys everything from the published npm
artifacts (real bytecode), then dumps the chain to `devnet/state.json.gz` and writes
`devnet/deployment.json`. Deterministic: one deployer, a fixed order of transactions,
so every address is the same on every rebuild.

    .venv/bin/python devnet/deploy.py          # or: make devnet-rebuild

Devnet only: the accounts are anvil's well-known test mnemonic; never use them elsewhere.
"""

from __future__ import annotations

import gzip
import json
import math
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal, getcontext
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

HERE = Path(__file__).resolve().parent
MODULES = HERE / "node_modules"
ANVIL = MODULES / "@foundry-rs/anvil-linux-amd64/bin/anvil"
STATE_FILE = HERE / "state.json.gz"
DEPLOYMENT_FILE = HERE / "deployment.json"
CHAIN_ID = 42161
# Every pool's address is derived with this hash inside the periphery contracts: the
# factory's pool bytecode must hash to it or routers would call the wrong addresses.
POOL_INIT_CODE_HASH = "e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"
FAR_DEADLINE = 2**64
MAX_UINT = 2**256 - 1
Q96 = 2**96
MIN_TICK, MAX_TICK = -887272, 887272

getcontext().prec = 80

# Canonical Arbitrum One addresses, so intents written for Arbitrum work verbatim.
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
TOKENS: dict[str, tuple[str, str, int]] = {  # symbol -> (address, name, decimals)
    "USDC": ("0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USD Coin", 6),
    "USDT": ("0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9", "Tether USD", 6),
    "WBTC": ("0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f", "Wrapped BTC", 8),
    "ARB": ("0x912CE59144191C1204E64559FE8253a0e49E6548", "Arbitrum", 18),
}
DECIMALS = {"WETH": 18, **{s: d for s, (_, _, d) in TOKENS.items()}}
ADDRESS = {"WETH": WETH, **{s: a for s, (a, _, _) in TOKENS.items()}}
USD_PRICE = {
    "WETH": Decimal(3000),
    "USDC": Decimal(1),
    "USDT": Decimal(1),
    "WBTC": Decimal(60000),
    "ARB": Decimal("0.75"),
}

# (token a, token b, fee, [(range half-width as a fraction of the price, USD value)]).
# The WETH/USDC 0.05 % pool is deep near the price but thin further out, the 0.3 % pool and
# the WETH/USDT + USDT/USDC path are shallower: a large WETH->USDC trade does better split
# across pools or routed through USDT than in the direct pool alone.
POOLS: list[tuple[str, str, int, list[tuple[str, int]]]] = [
    ("WETH", "USDC", 500, [("0.01", 1_000_000), ("0.1", 1_000_000), ("0.5", 2_000_000)]),
    ("WETH", "USDC", 3000, [("0.05", 3_000_000), ("0.5", 1_000_000)]),
    ("WETH", "USDT", 3000, [("0.05", 4_000_000), ("0.5", 1_000_000)]),
    ("USDC", "USDT", 100, [("0.002", 20_000_000), ("0.02", 5_000_000)]),
    ("WBTC", "WETH", 3000, [("0.1", 3_000_000), ("0.5", 1_000_000)]),
    ("WBTC", "USDC", 3000, [("0.1", 2_000_000), ("0.5", 1_000_000)]),
    ("ARB", "WETH", 3000, [("0.2", 2_000_000), ("0.6", 1_000_000)]),
    ("ARB", "USDC", 10000, [("0.5", 1_000_000)]),
]
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}

# SushiSwap V2 at its canonical Arbitrum addresses. @sushiswap/core's npm builds hold no
# factory, pair and router that fit together (1.4.x ships ABIs only; in 1.2.1 the pair
# hashes to 0xf0fc0e4e..., not the router's 0xe18a34eb...), so the bytecode is Uniswap V2's,
# which SushiSwap V2 forked: @uniswap/v2-core's factory and pair, @uniswap/v2-periphery's
# UniswapV2Router02. Its library derives pair addresses with this hash; the pair bytecode
# must hash to it, and the router's must hold it.
SUSHI_FACTORY = "0xc35DADB65012eC5796536bD9864eD8773aBc74C4"
SUSHI_ROUTER = "0x1b02dA8Cb0d097eB8D57A175b88c7D8b47997506"
V2_INIT_CODE_HASH = "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
V2_FEE_PIPS = 3000
# (token a, token b, price of a in b, USD value): a little off the V3 pools' prices, so that
# splitting a large order across venues pays. Liquidity is added after everything else.
V2_PAIRS: list[tuple[str, str, str, int]] = [
    ("WETH", "USDC", "3004.5", 6_000_000),
    ("WETH", "USDT", "2997", 4_000_000),
    ("USDC", "USDT", "1.0004", 10_000_000),
    ("WBTC", "WETH", "20.03", 4_000_000),
    ("WETH", "ARB", "4006", 2_000_000),
]

# anvil's default dev mnemonic: account 0 deploys and provides liquidity, 1..9 are the
# funded strategy wallets. These keys are public; they exist for local testing only.
STRATEGY_WALLETS = range(1, 10)
WALLET_FUNDING = {
    "WETH": Decimal(1000),
    "USDC": Decimal(10_000_000),
    "USDT": Decimal(10_000_000),
    "WBTC": Decimal(100),
    "ARB": Decimal(10_000_000),
}


def artifact(package: str, relative: str) -> dict[str, Any]:
    return json.loads((MODULES / package / relative).read_text())


def uniswap(package: str, name: str, folder: str = "") -> dict[str, Any]:
    return artifact(f"@uniswap/{package}", f"artifacts/contracts/{folder}{name}.sol/{name}.json")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployer:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.account = w3.eth.accounts[0]

    def send(self, fn: Any, sender: str | None = None, value: int = 0) -> Any:
        tx_hash = fn.transact({"from": sender or self.account, "value": value})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction reverted: {fn}")
        return receipt

    def deploy(self, abi: list[Any], bytecode: str, *args: Any) -> Contract:
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        receipt = self.send(factory.constructor(*args))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=abi)

    def deploy_artifact(self, art: dict[str, Any], *args: Any) -> Contract:
        return self.deploy(art["abi"], art["bytecode"], *args)

    def place(self, template: Contract, address: str, slots: int = 0) -> Contract:
        """Copy a deployed contract's runtime code (and its first `slots` storage slots)
        to `address`."""
        code = self.w3.eth.get_code(template.address)
        self.w3.provider.make_request("anvil_setCode", [address, code.to_0x_hex()])
        for slot in range(slots):
            value = self.w3.eth.get_storage_at(template.address, slot)
            self.w3.provider.make_request(
                "anvil_setStorageAt", [address, hex(slot), value.to_0x_hex()]
            )
        return self.w3.eth.contract(address=to_checksum_address(address), abi=template.abi)


def compile_dev_token() -> dict[str, Any]:
    out = subprocess.run(
        ["node", str(HERE / "compile.js")], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def raw_price(base: str, quote: str) -> Decimal:
    """Price of one raw unit of `base` in raw units of `quote`."""
    human = USD_PRICE[base] / USD_PRICE[quote]
    return human * Decimal(10) ** (DECIMALS[quote] - DECIMALS[base])


def sqrt_price_x96(price: Decimal) -> int:
    return math.isqrt(int(price * Q96 * Q96))


def aligned(tick: int, spacing: int, up: bool) -> int:
    tick = max(MIN_TICK, min(MAX_TICK, tick))
    down = (tick // spacing) * spacing
    result = down + spacing if up and down != tick else down
    return max(-(MAX_TICK // spacing) * spacing, min((MAX_TICK // spacing) * spacing, result))


def price_tick(price: Decimal) -> int:
    return math.floor(math.log(float(price)) / math.log(1.0001))


def position_amounts(
    price: Decimal, lower: int, upper: int, usd_value: Decimal, usd_per_token1_raw: Decimal
) -> tuple[int, int]:
    """Token amounts (raw) for a position worth `usd_value` over [lower, upper]."""
    sp = price.sqrt()
    sa = Decimal("1.0001") ** (Decimal(lower) / 2)
    sb = Decimal("1.0001") ** (Decimal(upper) / 2)
    value_per_l = price * (1 / sp - 1 / sb) + (sp - sa)  # in raw token1 per unit of L
    liquidity = usd_value / usd_per_token1_raw / value_per_l
    amount0 = liquidity * (1 / sp - 1 / sb)
    amount1 = liquidity * (sp - sa)
    # A little slack: the position manager takes the binding side exactly.
    return int(amount0 * Decimal("1.001")) + 1, int(amount1 * Decimal("1.001")) + 1


def build(w3: Web3) -> dict[str, Any]:
    d = Deployer(w3)
    lp = d.account
    w3.provider.make_request("anvil_setBalance", [lp, hex(10**6 * 10**18)])

    # Tokens: WETH9 from Uniswap's published build (its constructor-set name, symbol and
    # decimals live in slots 0..2 and are copied), the others a small compiled ERC-20.
    weth_art = artifact("@uniswap/v2-periphery", "build/WETH9.json")
    weth_template = d.deploy(weth_art["abi"], "0x" + weth_art["bytecode"].removeprefix("0x"))
    weth = d.place(weth_template, WETH, slots=3)
    token_art = compile_dev_token()
    token_template = d.deploy(token_art["abi"], token_art["bytecode"])
    tokens: dict[str, Contract] = {"WETH": weth}
    for symbol, (address, name, decimals) in TOKENS.items():
        token = d.place(token_template, address)
        d.send(token.functions.initialize(name, symbol, decimals, lp))
        tokens[symbol] = token

    # Uniswap V3, real bytecode from @uniswap/v3-core and @uniswap/v3-periphery.
    pool_art = uniswap("v3-core", "UniswapV3Pool")
    if keccak(hexstr=pool_art["bytecode"]).hex() != POOL_INIT_CODE_HASH:
        raise RuntimeError("v3-core pool bytecode does not match the periphery's init code hash")
    factory = d.deploy_artifact(uniswap("v3-core", "UniswapV3Factory"))
    factory_block = w3.eth.block_number
    d.send(factory.functions.enableFeeAmount(100, 1))  # Arbitrum's 0.01 % tier
    router = d.deploy_artifact(uniswap("v3-periphery", "SwapRouter"), factory.address, WETH)
    quoter = d.deploy_artifact(uniswap("v3-periphery", "QuoterV2", "lens/"), factory.address, WETH)
    tick_lens = d.deploy_artifact(uniswap("v3-periphery", "TickLens", "lens/"))
    nft_lib = d.deploy_artifact(uniswap("v3-periphery", "NFTDescriptor", "libraries/"))
    descriptor_art = uniswap("v3-periphery", "NonfungibleTokenPositionDescriptor")
    descriptor = d.deploy(
        descriptor_art["abi"],
        link(descriptor_art, {"NFTDescriptor": nft_lib.address}),
        WETH,
        b"ETH".ljust(32, b"\0"),
    )
    positions = d.deploy_artifact(
        uniswap("v3-periphery", "NonfungiblePositionManager"),
        factory.address,
        WETH,
        descriptor.address,
    )

    # Liquidity, provided by account 0 through the position manager.
    d.send(weth.functions.deposit(), value=200_000 * 10**18)
    for symbol in TOKENS:
        d.send(tokens[symbol].functions.mint(lp, 10**12 * 10 ** DECIMALS[symbol]))
    for token in tokens.values():
        d.send(token.functions.approve(positions.address, MAX_UINT))
    pools = []
    for a, b, fee, ranges in POOLS:
        sym0, sym1 = sorted((a, b), key=lambda s: int(ADDRESS[s], 16))
        price = raw_price(sym0, sym1)
        spacing = TICK_SPACING[fee]
        d.send(
            positions.functions.createAndInitializePoolIfNecessary(
                ADDRESS[sym0], ADDRESS[sym1], fee, sqrt_price_x96(price)
            )
        )
        usd_per_raw1 = USD_PRICE[sym1] / Decimal(10) ** DECIMALS[sym1]
        for half_width, usd in ranges:
            width = Decimal(half_width)
            lower = aligned(price_tick(price * (1 - width)), spacing, up=False)
            upper = aligned(price_tick(price * (1 + width)), spacing, up=True)
            amount0, amount1 = position_amounts(price, lower, upper, Decimal(usd), usd_per_raw1)
            params = (ADDRESS[sym0], ADDRESS[sym1], fee, lower, upper, amount0, amount1, 0, 0)
            d.send(positions.functions.mint((*params, lp, FAR_DEADLINE)))
        address = factory.functions.getPool(ADDRESS[sym0], ADDRESS[sym1], fee).call()
        pools.append(
            {"token0": sym0, "token1": sym1, "fee": fee, "tick_spacing": spacing,
             "address": address}
        )  # fmt: skip

    # Strategy wallets: token balances; WETH by depositing their own ETH.
    wallets = []
    for index in STRATEGY_WALLETS:
        wallet = w3.eth.accounts[index]
        d.send(weth.functions.deposit(), sender=wallet, value=int(WALLET_FUNDING["WETH"]) * 10**18)
        for symbol in TOKENS:
            amount = int(WALLET_FUNDING[symbol] * 10 ** DECIMALS[symbol])
            d.send(tokens[symbol].functions.mint(wallet, amount))
        wallets.append({"index": index, "address": wallet})

    # SushiSwap V2 last, so that every address above stays what it was before it existed.
    sushiswap, v2_pairs = deploy_sushiswap(d, tokens)

    return {
        "chain_id": CHAIN_ID,
        "note": "devnet only: anvil's public test mnemonic; never fund these keys elsewhere",
        "deployer": lp,
        "uniswap_v3": {
            "factory": factory.address,
            "swap_router": router.address,
            "quoter_v2": quoter.address,
            "tick_lens": tick_lens.address,
            "nonfungible_position_manager": positions.address,
            "position_descriptor": descriptor.address,
            "init_code_hash": "0x" + POOL_INIT_CODE_HASH,
            "deployed_at_block": factory_block,
        },
        "tokens": {s: {"address": ADDRESS[s], "decimals": DECIMALS[s]} for s in ["WETH", *TOKENS]},
        "pools": pools,
        "wallets": wallets,
        "sushiswap_v2": sushiswap,
        "v2_pairs": v2_pairs,
        "block_number": w3.eth.block_number,
    }


def v2_artifact(package: str, name: str) -> dict[str, Any]:
    art = artifact(f"@uniswap/{package}", f"build/{name}.json")
    return {"abi": art["abi"], "bytecode": "0x" + art["bytecode"].removeprefix("0x")}


def v2_pair_address(token0: str, token1: str) -> str:
    """The CREATE2 address UniswapV2Library.pairFor computes (token0 < token1)."""
    salt = keccak(bytes.fromhex(token0[2:] + token1[2:]))
    digest = keccak(b"\xff" + bytes.fromhex(SUSHI_FACTORY[2:]) + salt
                    + bytes.fromhex(V2_INIT_CODE_HASH))  # fmt: skip
    return to_checksum_address(digest[12:])


def deploy_sushiswap(
    d: Deployer, tokens: dict[str, Contract]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Factory and router at SushiSwap's Arbitrum addresses, then the pairs, created and
    funded by account 0 through the router's addLiquidity."""
    pair_art = v2_artifact("v2-core", "UniswapV2Pair")
    router_art = v2_artifact("v2-periphery", "UniswapV2Router02")
    if keccak(hexstr=pair_art["bytecode"]).hex() != V2_INIT_CODE_HASH:
        raise RuntimeError("v2-core pair bytecode does not match the router's init code hash")
    if router_art["bytecode"].count(V2_INIT_CODE_HASH) != 1:
        raise RuntimeError("the v2-periphery router does not hold the pair init code hash")
    # The factory's constructor sets feeToSetter (slot 1; feeTo is slot 0); the router keeps
    # the factory and WETH in immutables, so its runtime code is all it needs.
    factory = d.place(d.deploy_artifact(v2_artifact("v2-core", "UniswapV2Factory"), d.account),
                      SUSHI_FACTORY, slots=2)  # fmt: skip
    router = d.place(d.deploy_artifact(router_art, SUSHI_FACTORY, WETH), SUSHI_ROUTER)
    deployed_at = d.w3.eth.block_number
    for token in tokens.values():
        d.send(token.functions.approve(router.address, MAX_UINT))
    pairs = []
    for a, b, price, usd in V2_PAIRS:
        human_a = Decimal(usd) / 2 / USD_PRICE[a]
        amount_a = int(human_a * 10 ** DECIMALS[a])
        amount_b = int(human_a * Decimal(price) * 10 ** DECIMALS[b])
        amounts = (amount_a, amount_b, amount_a, amount_b)  # desired = minimum: a new pair
        d.send(router.functions.addLiquidity(ADDRESS[a], ADDRESS[b], *amounts, d.account,
                                             FAR_DEADLINE))  # fmt: skip
        sym0, sym1 = sorted((a, b), key=lambda s: int(ADDRESS[s], 16))
        address = factory.functions.getPair(ADDRESS[sym0], ADDRESS[sym1]).call()
        if address != v2_pair_address(ADDRESS[sym0], ADDRESS[sym1]):
            raise RuntimeError(f"{a}/{b}: the factory's pair is not where the router looks")
        pair = d.w3.eth.contract(address=address, abi=pair_art["abi"])
        reserve0, reserve1, _ = pair.functions.getReserves().call()
        pairs.append(
            {"venue": "sushiswap_v2", "token0": sym0, "token1": sym1, "address": address,
             "reserve0": reserve0, "reserve1": reserve1}
        )  # fmt: skip
    # A pair writes its price accumulators on its first update after a block with time
    # elapsed: two zero-to-nonzero stores (~40k gas) that an estimate made in the same
    # second skips, so the first swap of a fresh pair ran out of gas. A `sync` a second
    # later makes them nonzero, as every pair on a live chain has them.
    d.w3.provider.make_request("evm_increaseTime", [1])  # type: ignore[arg-type]
    for listed in pairs:
        d.send(d.w3.eth.contract(address=listed["address"], abi=pair_art["abi"]).functions.sync())
    sushiswap = {
        "factory": factory.address,
        "router": router.address,
        "init_code_hash": "0x" + V2_INIT_CODE_HASH,
        "fee_pips": V2_FEE_PIPS,
        "deployed_at_block": deployed_at,
    }
    return sushiswap, pairs


def link(art: dict[str, Any], libraries: dict[str, str]) -> str:
    """Fill library placeholders in a Hardhat artifact's creation bytecode."""
    code = art["bytecode"].removeprefix("0x")
    for refs in art["linkReferences"].values():
        for name, spots in refs.items():
            address = libraries[name].removeprefix("0x").lower()
            for spot in spots:
                start = spot["start"] * 2
                code = code[:start] + address + code[start + spot["length"] * 2 :]
    return "0x" + code


def compact(state: dict[str, Any]) -> dict[str, Any]:
    """Drop call traces and return data (debug-only, most of the dump's size); blocks,
    receipts and logs stay, so `eth_getLogs` still finds every pool."""
    for tx in state.get("transactions", []):
        tx["info"]["traces"] = []
        tx["info"]["out"] = None
    state["historical_states"] = None
    return state


def main() -> int:
    if not ANVIL.exists():
        print(f"anvil not found at {ANVIL}: run `npm ci --prefix devnet`", file=sys.stderr)
        return 1
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "state.json"
        anvil = subprocess.Popen(
            [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(CHAIN_ID),
             "--dump-state", str(dump), "--silent"],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 60}))
            deadline = time.monotonic() + 30
            while not w3.is_connected():
                if time.monotonic() > deadline or anvil.poll() is not None:
                    raise RuntimeError("anvil did not start")
                time.sleep(0.1)
            deployment = build(w3)
        finally:
            anvil.terminate()  # anvil writes --dump-state on a clean exit
            anvil.wait(timeout=60)
        state = compact(json.loads(dump.read_text()))
    with gzip.GzipFile(STATE_FILE, "wb", mtime=0) as out:
        out.write(json.dumps(state, separators=(",", ":")).encode())
    DEPLOYMENT_FILE.write_text(json.dumps(deployment, indent=2) + "\n")
    print(f"wrote {STATE_FILE.name} ({STATE_FILE.stat().st_size} bytes) and {DEPLOYMENT_FILE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
