"""SushiSwap V2 on the devnet as committed: factory and router at their canonical Arbitrum
addresses, pairs where the router's library looks for them, prices a little off the V3 pools,
and a real swap through the router from strategy wallet 1.

Read from the chain with the plain V2 ABIs, independent of the platform's own V2 adapter."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eth_utils import keccak, to_checksum_address

from platform_core.chain.abi import Event, Function
from platform_core.chain.client import ChainClient
from platform_core.chain.journal import StepState
from platform_core.chain.sender import TransactionSender, TxRequest
from platform_core.market import contracts as c
from tests.integration.chain.conftest import CHAIN_ID

FACTORY = "0xc35DADB65012eC5796536bD9864eD8773aBc74C4"
ROUTER = "0x1b02dA8Cb0d097eB8D57A175b88c7D8b47997506"
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
PAIRS = {("WETH", "USDC"), ("WETH", "USDT"), ("USDC", "USDT"), ("WBTC", "WETH"), ("WETH", "ARB")}
FUNDING = {"WETH": 1000, "USDC": 10_000_000, "USDT": 10_000_000, "WBTC": 100, "ARB": 10_000_000}

ROUTER_FACTORY = Function("factory()", ("address",))
ROUTER_WETH = Function("WETH()", ("address",))
FEE_TO = Function("feeTo()", ("address",))
FEE_TO_SETTER = Function("feeToSetter()", ("address",))
ALL_PAIRS_LENGTH = Function("allPairsLength()", ("uint256",))
GET_PAIR = Function("getPair(address,address)", ("address",))
PAIR_CREATED = Event("PairCreated(address,address,address,uint256)", (True, True, False, False))
TOKEN0, TOKEN1 = Function("token0()", ("address",)), Function("token1()", ("address",))
GET_RESERVES = Function("getReserves()", ("uint112", "uint112", "uint32"))
TOTAL_SUPPLY = Function("totalSupply()", ("uint256",))
PRICE0_CUMULATIVE = Function("price0CumulativeLast()", ("uint256",))
PRICE1_CUMULATIVE = Function("price1CumulativeLast()", ("uint256",))
GET_AMOUNTS_OUT = Function("getAmountsOut(uint256,address[])", ("uint256[]",))
SWAP_EXACT_TOKENS_FOR_TOKENS = Function(
    "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)", ("uint256[]",)
)
SLOT0 = Function("slot0()", ("uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool"))


async def read(client: ChainClient, to: str, function: Function, *args: Any) -> Any:
    """One `eth_call`: the output, or its only value."""
    raw = await client.call({"to": to, "data": function.encode(*args)})
    output = function.decode_output(raw)
    return output[0] if len(output) == 1 else output


def amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut: 0.3 % fee, constant product."""
    with_fee = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


def pair_for(token_a: str, token_b: str, init_code_hash: str) -> str:
    """UniswapV2Library.pairFor: CREATE2 from the factory with the init code hash."""
    t0, t1 = sorted((token_a, token_b), key=lambda a: int(a, 16))
    salt = keccak(bytes.fromhex(t0[2:] + t1[2:]))
    raw = b"\xff" + bytes.fromhex(FACTORY[2:]) + salt + bytes.fromhex(init_code_hash[2:])
    return to_checksum_address(keccak(raw)[12:])


async def test_factory_and_router_at_canonical_addresses(
    client: ChainClient, deployment: dict[str, Any]
) -> None:
    sushi = deployment["sushiswap_v2"]
    assert set(sushi) == {"factory", "router", "init_code_hash", "fee_pips", "deployed_at_block"}
    assert (sushi["factory"], sushi["router"], sushi["fee_pips"]) == (FACTORY, ROUTER, 3000)
    for address in (FACTORY, ROUTER):
        assert len(await client.w3.eth.get_code(to_checksum_address(address))) > 1000
    assert await read(client, ROUTER, ROUTER_FACTORY) == FACTORY
    assert (
        await read(client, ROUTER, ROUTER_WETH) == WETH == deployment["tokens"]["WETH"]["address"]
    )
    # The factory's constructor-set storage is there at the canonical address.
    assert await read(client, FACTORY, FEE_TO_SETTER) == deployment["deployer"]
    assert int(await read(client, FACTORY, FEE_TO), 16) == 0
    assert await read(client, FACTORY, ALL_PAIRS_LENGTH) == len(deployment["v2_pairs"])


async def test_pairs_are_where_factory_and_router_say(
    client: ChainClient, deployment: dict[str, Any], tokens: dict[str, str]
) -> None:
    sushi, pairs = deployment["sushiswap_v2"], deployment["v2_pairs"]
    assert {tuple(sorted((p["token0"], p["token1"]))) for p in pairs} == {
        tuple(sorted(pair)) for pair in PAIRS
    }
    logs = await client.get_logs(
        {"address": FACTORY, "fromBlock": sushi["deployed_at_block"], "toBlock": "latest",
         "topics": [PAIR_CREATED.topic]}
    )  # fmt: skip
    created = {PAIR_CREATED.decode(log["topics"], log["data"])[2] for log in logs}
    assert created == {p["address"] for p in pairs}
    for pair in pairs:
        t0, t1, address = tokens[pair["token0"]], tokens[pair["token1"]], pair["address"]
        assert pair["venue"] == "sushiswap_v2"
        assert await read(client, FACTORY, GET_PAIR, t0, t1) == address
        assert await read(client, FACTORY, GET_PAIR, t1, t0) == address
        assert pair_for(t1, t0, sushi["init_code_hash"]) == address
        assert (await read(client, address, TOKEN0), await read(client, address, TOKEN1)) == (
            t0,
            t1,
        )
        reserve0, reserve1, _ = await read(client, address, GET_RESERVES)
        assert (reserve0, reserve1) == (pair["reserve0"], pair["reserve1"]) and reserve0 > 0
        # The router quotes through pairFor: it reads these reserves, in both directions.
        one = 10 ** deployment["tokens"][pair["token0"]]["decimals"]
        quoted = await read(client, ROUTER, GET_AMOUNTS_OUT, one, [t0, t1])
        assert list(quoted) == [one, amount_out(one, reserve0, reserve1)]
        quoted = await read(client, ROUTER, GET_AMOUNTS_OUT, reserve1 // 100, [t1, t0])
        assert quoted[1] == amount_out(reserve1 // 100, reserve1, reserve0)
        # The liquidity is the deployer's (the minimum liquidity is locked at address 0).
        lp = await read(client, address, c.BALANCE_OF, deployment["deployer"])
        assert lp == await read(client, address, TOTAL_SUPPLY) - 1000 > 0
        # Its price accumulators are written, as on a live chain: a first write from zero
        # costs more gas than an estimate in the same second sees, and ran swaps out of gas.
        assert await read(client, address, PRICE0_CUMULATIVE) > 0
        assert await read(client, address, PRICE1_CUMULATIVE) > 0


async def test_wethusdc_is_a_little_above_the_v3_005_pool(
    client: ChainClient, deployment: dict[str, Any]
) -> None:
    (pair,) = (p for p in deployment["v2_pairs"] if (p["token0"], p["token1"]) == ("WETH", "USDC"))
    reserve0, reserve1, _ = await read(client, pair["address"], GET_RESERVES)
    v2 = Decimal(reserve1) / Decimal(reserve0) * Decimal(10) ** (18 - 6)
    (pool,) = (
        p for p in deployment["pools"]
        if (p["token0"], p["token1"], p["fee"]) == ("WETH", "USDC", 500)
    )  # fmt: skip
    sqrt_price = (await read(client, pool["address"], SLOT0))[0]
    v3 = Decimal(sqrt_price) ** 2 / Decimal(2**192) * Decimal(10) ** (18 - 6)
    assert Decimal("0.001") < (v2 - v3) / v3 < Decimal("0.002")  # about 0.15 %
    # Depth: a few $M, so that a 100-300 WETH order is worth splitting across venues.
    assert reserve1 * 2 >= 4_000_000 * 10**6


async def test_strategy_wallets_hold_exactly_their_funding(
    client: ChainClient, deployment: dict[str, Any], tokens: dict[str, str]
) -> None:
    """Liquidity came from the deployer only: wallets 1-9 hold what they were funded with."""
    for wallet in deployment["wallets"]:
        for symbol, amount in FUNDING.items():
            balance = await read(client, tokens[symbol], c.BALANCE_OF, wallet["address"])
            assert balance == amount * 10 ** deployment["tokens"][symbol]["decimals"], symbol


async def test_swap_through_the_router_moves_the_reserves(
    client: ChainClient,
    sender: TransactionSender,
    deployment: dict[str, Any],
    tokens: dict[str, str],
) -> None:
    weth, usdc, usdt, me = tokens["WETH"], tokens["USDC"], tokens["USDT"], sender.address
    pairs = {(p["token0"], p["token1"]): p["address"] for p in deployment["v2_pairs"]}
    direct, via = pairs[("WETH", "USDC")], pairs[("WETH", "USDT")]
    before = {a: await read(client, a, GET_RESERVES) for a in (direct, via)}
    balances = [await read(client, t, c.BALANCE_OF, me) for t in (weth, usdc)]
    amount_in = 50 * 10**18
    expected = amount_out(amount_in, before[direct][0], before[direct][1])
    deadline = 2**64

    approve = TxRequest("v2-1:approve", CHAIN_ID, weth, c.APPROVE.encode(ROUTER, 2 * amount_in))
    swap = TxRequest("v2-1:swap", CHAIN_ID, ROUTER, SWAP_EXACT_TOKENS_FOR_TOKENS.encode(
        amount_in, expected, [weth, usdc], me, deadline))  # fmt: skip
    # WETH -> USDT -> USDC: two hops, each pair found through pairFor.
    path = [weth, usdt, usdc]
    two_hop = (await read(client, ROUTER, GET_AMOUNTS_OUT, amount_in, path))[-1]
    hops = TxRequest("v2-1:two-hop", CHAIN_ID, ROUTER, SWAP_EXACT_TOKENS_FOR_TOKENS.encode(
        amount_in, two_hop, path, me, deadline))  # fmt: skip
    for request in (approve, swap, hops):
        outcome = await sender.execute(request)
        assert outcome.state == StepState.CONFIRMED, request.step_key

    after = await read(client, direct, GET_RESERVES)
    assert after[:2] == (before[direct][0] + amount_in, before[direct][1] - expected)
    assert (await read(client, via, GET_RESERVES))[0] == before[via][0] + amount_in
    assert await read(client, weth, c.BALANCE_OF, me) == balances[0] - 2 * amount_in
    assert await read(client, usdc, c.BALANCE_OF, me) == balances[1] + expected + two_hop
    assert expected > 50 * 2800 * 10**6  # a real price (1000 WETH deep: ~5 % impact)
