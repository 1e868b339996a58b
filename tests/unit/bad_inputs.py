"""Every schema rule, as a mutation of the seed intent and the error it must produce.

Shared by the model tests and the HTTP tests, so both layers are held to the same rules.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WETH_LOWER = "0x82af49447d8a07e3bd95bd0d56f35241523fbab1"
WETH_BAD_CHECKSUM = "0x82Af49447D8a07e3bd95BD0d56f35241523fBab1"  # one letter's case flipped


@dataclass(frozen=True)
class BadInput:
    name: str
    mutate: Callable[[dict[str, Any]], None]
    field: str  # dotted location of the offending field
    code: str  # reason code (upper case)

    def apply(self, seed: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(seed)
        self.mutate(body)
        return body


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


def _duplicate_weth(body: dict[str, Any]) -> None:
    twin = copy.deepcopy(body["assets"][0])
    twin["asset"]["address"] = WETH_LOWER  # same token, other spelling
    body["assets"].insert(1, twin)


def _unsize_all(body: dict[str, Any]) -> None:
    del body["assets"][0]["amount"]


def _two_counter_assets(body: dict[str, Any]) -> None:
    body["assets"].append(
        {
            "asset": {
                "symbol": "USDT",
                "address": "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9",
                "decimals": 6,
                "chain_id": 42161,
            }
        }
    )


BAD_INPUTS: list[BadInput] = [
    BadInput(
        "amount too precise",
        _set("assets.0.amount", "1.0000000000000000001"),
        "assets.0.amount",
        "AMOUNT_PRECISION",
    ),
    BadInput(
        "amount too precise for 6 decimals",
        _set("assets.1.amount", "0.0000001"),
        "assets.1.amount",
        "AMOUNT_PRECISION",
    ),
    BadInput("amount zero", _set("assets.0.amount", "0"), "assets.0.amount", "AMOUNT_NOT_POSITIVE"),
    BadInput(
        "amount negative", _set("assets.0.amount", "-1.5"), "assets.0.amount", "AMOUNT_NOT_POSITIVE"
    ),
    BadInput(
        "amount not a number",
        _set("assets.0.amount", "1.5 ETH"),
        "assets.0.amount",
        "DECIMAL_FORMAT",
    ),
    BadInput("amount NaN", _set("assets.0.amount", "NaN"), "assets.0.amount", "DECIMAL_FORMAT"),
    BadInput(
        "amount infinite", _set("assets.0.amount", "Infinity"), "assets.0.amount", "DECIMAL_FORMAT"
    ),
    BadInput(
        "amount as a JSON float",
        _set("assets.0.amount", 1.5),
        "assets.0.amount",
        "DECIMAL_STRING_REQUIRED",
    ),
    BadInput(
        "amount beyond uint256",
        _set("assets.0.amount", "1" + "0" * 70),
        "assets.0.amount",
        "AMOUNT_TOO_LARGE",
    ),
    BadInput(
        "percentage zero",
        _set("assets.0.percentage", "0"),
        "assets.0.percentage",
        "AMOUNT_AND_PERCENTAGE",
    ),
    BadInput(
        "percentage zero alone",
        lambda b: (_delete("assets.0.amount")(b), _set("assets.0.percentage", "0")(b)),
        "assets.0.percentage",
        "PERCENTAGE_RANGE",
    ),
    BadInput(
        "percentage above 100",
        lambda b: (_delete("assets.0.amount")(b), _set("assets.0.percentage", "100.01")(b)),
        "assets.0.percentage",
        "PERCENTAGE_RANGE",
    ),
    BadInput(
        "amount and percentage",
        _set("assets.0.percentage", "50"),
        "assets.0.percentage",
        "AMOUNT_AND_PERCENTAGE",
    ),
    BadInput(
        "address too short",
        _set("assets.0.asset.address", "0x82aF49447D8a07e3bd95"),
        "assets.0.asset.address",
        "ADDRESS_FORMAT",
    ),
    BadInput(
        "address not hex",
        _set("assets.0.asset.address", "0x" + "g" * 40),
        "assets.0.asset.address",
        "ADDRESS_FORMAT",
    ),
    BadInput(
        "address without 0x",
        _set("assets.0.asset.address", WETH_LOWER[2:]),
        "assets.0.asset.address",
        "ADDRESS_FORMAT",
    ),
    BadInput(
        "address bad checksum",
        _set("assets.0.asset.address", WETH_BAD_CHECKSUM),
        "assets.0.asset.address",
        "ADDRESS_CHECKSUM",
    ),
    BadInput(
        "unknown chain",
        _set("assets.0.asset.chain_id", 1),
        "assets.0.asset.chain_id",
        "UNKNOWN_CHAIN",
    ),
    BadInput(
        "decimals out of range",
        _set("assets.0.asset.decimals", 99),
        "assets.0.asset.decimals",
        "LESS_THAN_EQUAL",
    ),
    BadInput(
        "slippage zero",
        _set("constraints.max_slippage", "0"),
        "constraints.max_slippage",
        "SLIPPAGE_RANGE",
    ),
    BadInput(
        "slippage above half",
        _set("constraints.max_slippage", "0.51"),
        "constraints.max_slippage",
        "SLIPPAGE_RANGE",
    ),
    BadInput(
        "slippage negative",
        _set("constraints.max_slippage", "-0.01"),
        "constraints.max_slippage",
        "SLIPPAGE_RANGE",
    ),
    BadInput(
        "window under a second",
        _set("constraints.time_window_ms", 999),
        "constraints.time_window_ms",
        "TIME_WINDOW_RANGE",
    ),
    BadInput(
        "window over a day",
        _set("constraints.time_window_ms", 86_400_001),
        "constraints.time_window_ms",
        "TIME_WINDOW_RANGE",
    ),
    BadInput(
        "window as a string",
        _set("constraints.time_window_ms", "300000"),
        "constraints.time_window_ms",
        "INT_TYPE",
    ),
    BadInput(
        "unknown execution style",
        _set("constraints.execution_style", "yolo"),
        "constraints.execution_style",
        "ENUM",
    ),
    BadInput(
        "venue allowed and excluded",
        lambda b: (
            _set("constraints.allowed_venues", ["uniswap_v3"])(b),
            _set("constraints.excluded_venues", ["uniswap_v3"])(b),
        ),
        "constraints.excluded_venues",
        "VENUES_CONFLICT",
    ),
    BadInput(
        "empty venue list",
        _set("constraints.allowed_venues", []),
        "constraints.allowed_venues",
        "VENUES_EMPTY",
    ),
    BadInput("no sized asset", _unsize_all, "assets", "NO_SIZED_ASSET"),
    BadInput("asset twice", _duplicate_weth, "assets", "ASSET_DUPLICATE"),
    BadInput("two counter assets", _two_counter_assets, "assets", "COUNTER_ASSET_AMBIGUOUS"),
    BadInput("no assets", _set("assets", []), "assets", "TOO_SHORT"),
    BadInput("unknown top-level field", _set("status", "completed"), "status", "EXTRA_FORBIDDEN"),
    BadInput(
        "client sets the id",
        _set("id", "a1b2c3d4-e5f6-7890-1234-567890abcdef"),
        "id",
        "EXTRA_FORBIDDEN",
    ),
    BadInput(
        "unknown asset field",
        _set("assets.0.asset.price", "1"),
        "assets.0.asset.price",
        "EXTRA_FORBIDDEN",
    ),
    BadInput(
        "unknown constraint",
        _set("constraints.leverage", 10),
        "constraints.leverage",
        "EXTRA_FORBIDDEN",
    ),
    BadInput("missing strategy", _delete("strategy_id"), "strategy_id", "MISSING"),
    BadInput(
        "strategy not a uuid", _set("strategy_id", "strategy-1"), "strategy_id", "UUID_PARSING"
    ),
    BadInput("unknown intent type", _set("intent_type", "borrow"), "intent_type", "ENUM"),
]
