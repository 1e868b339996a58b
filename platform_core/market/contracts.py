"""The contract functions and events the Uniswap V3 adapter uses (canonical signatures)."""

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
