"""The devnet as committed: chain id, real contracts, canonical tokens, pools, funded wallets,
and liquidity shaped so that routing matters."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import AnvilProcess
from platform_core.market import contracts as c
from platform_core.market.adapter import Route
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from tests.integration.chain.conftest import CHAIN_ID, dev_key
from tests.integration.chain.quoter import decimals, mid_price, quoted_out

EXPECTED_TOKENS = {
    "WETH": ("0x82aF49447D8a07e3bd95BD0d56f35241523fBab1", 18),
    "USDC": ("0xaf88d065e77c8cC2239327C5EDb3A432268e5831", 6),
    "USDT": ("0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9", 6),
    "WBTC": ("0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f", 8),
    "ARB": ("0x912CE59144191C1204E64559FE8253a0e49E6548", 18),
}


async def test_chain_and_contracts(client: ChainClient, deployment: dict[str, Any]) -> None:
    assert await client.chain_id() == CHAIN_ID == deployment["chain_id"]
    for name, address in deployment["uniswap_v3"].items():
        if isinstance(address, str) and len(address) == 42:
            code = await client.w3.eth.get_code(address)
            assert len(code) > 100, f"{name} has no code"


async def test_tokens_at_canonical_addresses(
    client: ChainClient, uniswap: UniswapV3Adapter, deployment: dict[str, Any]
) -> None:
    for symbol, (address, token_decimals) in EXPECTED_TOKENS.items():
        assert deployment["tokens"][symbol] == {"address": address, "decimals": token_decimals}
        assert await decimals(uniswap, address) == token_decimals
        (on_chain_symbol,) = c.SYMBOL.decode_output(
            await client.call({"to": address, "data": c.SYMBOL.encode()})
        )
        assert on_chain_symbol == symbol


async def test_pools_from_factory_logs_match_deployment(
    uniswap: UniswapV3Adapter, deployment: dict[str, Any]
) -> None:
    pools = await uniswap.discover_pools()
    assert {p.address for p in pools} == {p["address"] for p in deployment["pools"]}
    assert {p.fee_pips for p in pools} >= {100, 500, 3000, 10000}
    price = await mid_price(uniswap, EXPECTED_TOKENS["WETH"][0], EXPECTED_TOKENS["USDC"][0])
    assert 2990 < price < 3010
    btc = await mid_price(uniswap, EXPECTED_TOKENS["WBTC"][0], EXPECTED_TOKENS["USDC"][0])
    assert 59_000 < btc < 61_000


async def test_wallets_are_funded(uniswap: UniswapV3Adapter, deployment: dict[str, Any]) -> None:
    for wallet in deployment["wallets"]:
        assert (
            Account.from_key(dev_key(wallet["index"]).get_secret_value()).address
            == (wallet["address"])
        )
        for symbol, (address, token_decimals) in EXPECTED_TOKENS.items():
            balance = await uniswap.balance_of(address, wallet["address"])
            assert balance >= 100 * 10**token_decimals, f"{symbol} of wallet {wallet['index']}"


async def test_large_trades_beat_the_direct_pool_by_routing(uniswap: UniswapV3Adapter) -> None:
    weth, usdc, usdt = (EXPECTED_TOKENS[s][0] for s in ("WETH", "USDC", "USDT"))
    amount = 500 * 10**18

    async def out(route: Route, amount_in: int) -> int:
        return await quoted_out(uniswap, route, amount_in)

    direct = await out(Route((weth, usdc), (500,)), amount)
    split = await out(Route((weth, usdc), (500,)), amount // 2) + await out(
        Route((weth, usdc), (3000,)), amount // 2
    )
    two_hop = await out(Route((weth, usdt, usdc), (3000, 100)), amount)
    assert split > direct and two_hop > direct
    # ...while a small trade is best in the deep 0.05 % pool.
    small = 10**18
    assert await out(Route((weth, usdc), (500,)), small) > await out(
        Route((weth, usdc), (3000,)), small
    )


async def test_the_devnet_log_holds_no_key(anvil: AnvilProcess, client: ChainClient) -> None:
    """anvil's banner lists its accounts' private keys, the platform's devnet wallets among
    them: the devnet runs it quiet, so that no log holds a signing key."""
    assert await client.chain_id() == CHAIN_ID  # it runs, and has answered
    log = anvil.log_path.read_text()
    for index in (0, 1, 2, 3):
        key = dev_key(index).get_secret_value()
        assert key.removeprefix("0x").lower() not in log.lower()
    assert "Private Keys" not in log
