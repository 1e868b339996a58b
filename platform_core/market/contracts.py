"""The contract functions and events the venue adapters use (canonical signatures)."""

from __future__ import annotations

from platform_core.chain.abi import Event, Function

# ERC-20 and WETH9
BALANCE_OF = Function("balanceOf(address)", ("uint256",))
ALLOWANCE = Function("allowance(address,address)", ("uint256",))
APPROVE = Function("approve(address,uint256)", ("bool",))
DECIMALS = Function("decimals()", ("uint8",))
SYMBOL = Function("symbol()", ("string",))
WETH_DEPOSIT = Function("deposit()")
WETH_WITHDRAW = Function("withdraw(uint256)")
TRANSFER = Event("Transfer(address,address,uint256)", (True, True, False))

# Factory and pool
POOL_CREATED = Event(
    "PoolCreated(address,address,uint24,int24,address)", (True, True, True, False, False)
)
SLOT0 = Function("slot0()", ("uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool"))
LIQUIDITY = Function("liquidity()", ("uint128",))
TICK_BITMAP = Function("tickBitmap(int16)", ("uint256",))
MINT = Event(
    "Mint(address,address,int24,int24,uint128,uint256,uint256)",
    (False, True, True, True, False, False, False),
)
BURN = Event(
    "Burn(address,int24,int24,uint128,uint256,uint256)", (True, True, True, False, False, False)
)
SWAP = Event(
    "Swap(address,address,int256,int256,uint160,uint128,int24)",
    (True, True, False, False, False, False, False),
)

# Periphery
POPULATED_TICKS = Function("getPopulatedTicksInWord(address,int16)", ("(int24,int128,uint128)[]",))
EXACT_INPUT_SINGLE = Function(
    "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))",
    ("uint256",),
)
EXACT_INPUT = Function("exactInput((bytes,address,uint256,uint256,uint256))", ("uint256",))
UNWRAP_WETH9 = Function("unwrapWETH9(uint256,address)")
MULTICALL = Function("multicall(bytes[])", ("bytes[]",))

# Uniswap V2 (and its forks: SushiSwap V2): factory, pair, Router02
PAIR_CREATED = Event("PairCreated(address,address,address,uint256)", (True, True, False, False))
GET_PAIR = Function("getPair(address,address)", ("address",))
ALL_PAIRS_LENGTH = Function("allPairsLength()", ("uint256",))
GET_RESERVES = Function("getReserves()", ("uint112", "uint112", "uint32"))
TOKEN0 = Function("token0()", ("address",))
TOKEN1 = Function("token1()", ("address",))
SYNC = Event("Sync(uint112,uint112)", (False, False))
V2_SWAP = Event(
    "Swap(address,uint256,uint256,uint256,uint256,address)",
    (True, False, False, False, False, True),
)
SWAP_EXACT_TOKENS_FOR_TOKENS = Function(
    "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)", ("uint256[]",)
)
SWAP_EXACT_ETH_FOR_TOKENS = Function(
    "swapExactETHForTokens(uint256,address[],address,uint256)", ("uint256[]",)
)
SWAP_EXACT_TOKENS_FOR_ETH = Function(
    "swapExactTokensForETH(uint256,uint256,address[],address,uint256)", ("uint256[]",)
)
GET_AMOUNTS_OUT = Function("getAmountsOut(uint256,address[])", ("uint256[]",))
