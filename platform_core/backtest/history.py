"""Real market history, read from the project's `data/history/` (see its README.md).

The files are demeter-fetch's decoding of public chain data: one row per Swap, Mint, Burn
and Collect log of a Uniswap V3 pool, and per-minute bars. Token0 is USDC (6 decimals),
token1 is WETH (18); amounts are signed base units from the pool's point of view (positive:
paid into the pool).

What each row's state columns are, checked on the data (`tests/unit/test_backtest_replay.py`):

- On a SWAP row, `sqrtPriceX96`, `current_tick` and `total_liquidity` are the Swap log's own
  fields: the pool's price, tick and ACTIVE liquidity after the swap, exact.
- Mint, Burn and Collect do not move the price: their rows repeat the last swap's price and
  tick. Their `total_liquidity` is demeter-fetch's own running figure, not a pool field, and
  it is wrong on some rows: a position whose lower tick IS the current tick is counted out
  of range (the pool counts it in: `tickLower <= tick < tickUpper`, and the next swap's
  liquidity shows it), and a Collect row, or a Burn of zero liquidity, can carry a stale
  figure. `PoolEvent.liquidity` keeps the file's figure as is; the replay recomputes the
  active liquidity after position events by the pool's rule.
- `current_tick`, `tick_lower` and `tick_upper` are written as floats (`199045.0`); they are
  read as integers. The `liquidity` column (a position's liquidity) is read as an exact
  integer: going through a float would lose its low digits.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from platform_core.config import PROJECT_ROOT
from platform_core.errors import ErrorCode, PlatformError
from platform_core.market.pool_state import PoolInfo

HISTORY_DIR = PROJECT_ROOT / "data" / "history"
USDC_WETH_500_EVENTS = HISTORY_DIR / "eth_usdc_weth_500_2024-01-05.events.csv"
USDC_WETH_3000_EVENTS = HISTORY_DIR / "eth_usdc_weth_3000_2024-01-05.events.csv"
USDC_WETH_500_MINUTES = HISTORY_DIR / "eth_usdc_weth_500_2024-01-05.minute.csv"
POLYGON_USDC_WETH_500_MINUTES = HISTORY_DIR / "polygon_usdc_weth_500_minutes"

EVENT_KINDS = ("SWAP", "MINT", "BURN", "COLLECT")
_Q96 = 1 << 96


class HistoryError(PlatformError, ValueError):
    """A history file that cannot be read as it should be (missing, malformed, or not
    consistent with itself), or a replay asked something it cannot answer."""

    code = ErrorCode.HISTORY_INVALID


@dataclass(frozen=True)
class PoolSpec:
    """What a pool is: its address, tokens (checksum addresses, pool order) and fee tier."""

    address: str
    token0: str
    token1: str
    decimals0: int
    decimals1: int
    fee_pips: int
    tick_spacing: int

    @property
    def info(self) -> PoolInfo:
        """The pool as the platform's market code names it."""
        return PoolInfo(self.address, self.token0, self.token1, self.fee_pips, self.tick_spacing)

    def price_of_token1(self, sqrt_price_x96: int) -> float:
        """Whole token0 per whole token1 at this price (USDC per WETH for these pools)."""
        raw = (sqrt_price_x96 / _Q96) ** 2  # token1 base units per token0 base unit
        return float(10 ** (self.decimals1 - self.decimals0)) / raw


USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
USDC_WETH_500 = PoolSpec("0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640", USDC, WETH, 6, 18, 500, 10)
USDC_WETH_3000 = PoolSpec("0x8ad599c3A0ff1De082011EFDDc58f1908eb6e6D8", USDC, WETH, 6, 18, 3000, 60)


@dataclass(frozen=True)
class PoolEvent:
    """One log of a pool, as the file has it.

    `sqrt_price_x96` and `tick` are the pool's after the event. `liquidity` is the file's
    `total_liquidity`: the active liquidity after a SWAP (exact); after a position event
    demeter-fetch's running figure (see the module docstring). `liquidity_delta` is the
    position's liquidity change: +L for a MINT, -L for a BURN, None otherwise; the range
    is set for MINT, BURN and COLLECT."""

    block_number: int
    timestamp: datetime
    kind: str
    tx_hash: str
    tx_index: int
    log_index: int
    amount0: int
    amount1: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    tick_lower: int | None = None
    tick_upper: int | None = None
    liquidity_delta: int | None = None


@dataclass(frozen=True)
class MinuteBar:
    """One minute of a pool: net and gross (paid in) amounts, ticks, active liquidity."""

    timestamp: datetime
    net_amount0: int
    net_amount1: int
    open_tick: int
    close_tick: int
    low_tick: int
    high_tick: int
    in_amount0: int
    in_amount1: int
    liquidity: int


def _int(text: str) -> int:
    """An exact integer, also from the file's `199045.0` form (never through a float)."""
    whole, dot, fraction = text.strip().partition(".")
    if dot and fraction.strip("0"):
        raise ValueError(f"{text!r} is not an integer")
    return int(whole)


def _optional_int(text: str) -> int | None:
    return _int(text) if text.strip() else None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data line; HistoryError for a missing file."""
    if not path.is_file():
        raise HistoryError(f"{path}: missing (see data/README.md)")
    with path.open(newline="") as handle:
        yield from enumerate(csv.DictReader(handle), start=2)


def _event(row: Mapping[str, str]) -> PoolEvent:
    kind = row["tx_type"].strip()
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown tx_type {kind!r}")
    position = _optional_int(row["liquidity"])
    if position is not None and kind not in ("MINT", "BURN"):
        raise ValueError(f"a {kind} row with a position liquidity")
    delta = None if position is None else (position if kind == "MINT" else -position)
    return PoolEvent(
        block_number=_int(row["block_number"]),
        timestamp=_utc(row["block_timestamp"]),
        kind=kind,
        tx_hash=row["transaction_hash"].strip(),
        tx_index=_int(row["tx_index"]),
        log_index=_int(row["log_index"]),
        amount0=_int(row["amount0"]),
        amount1=_int(row["amount1"]),
        sqrt_price_x96=_int(row["sqrtPriceX96"]),
        tick=_int(row["current_tick"]),
        liquidity=_int(row["total_liquidity"]),
        tick_lower=_optional_int(row["tick_lower"]),
        tick_upper=_optional_int(row["tick_upper"]),
        liquidity_delta=delta,
    )


def _checked(event: PoolEvent) -> PoolEvent:
    if event.kind in ("MINT", "BURN") and event.liquidity_delta is None:
        raise ValueError(f"a {event.kind} row without its liquidity")
    if event.kind != "SWAP" and (event.tick_lower is None or event.tick_upper is None):
        raise ValueError(f"a {event.kind} row without its tick range")
    return event


def load_pool_events(path: Path) -> list[PoolEvent]:
    """Every event of a pool's events CSV, in chain order (block, then log index)."""
    events = []
    for number, row in _rows(path):
        try:
            events.append(_checked(_event(row)))
        except (KeyError, ValueError) as exc:
            raise HistoryError(f"{path}:{number}: {exc!r}") from exc
    return sorted(events, key=lambda e: (e.block_number, e.log_index))


def _bar(row: Mapping[str, str]) -> MinuteBar:
    return MinuteBar(
        timestamp=_utc(row["timestamp"]),
        net_amount0=_int(row["netAmount0"]),
        net_amount1=_int(row["netAmount1"]),
        open_tick=_int(row["openTick"]),
        close_tick=_int(row["closeTick"]),
        low_tick=_int(row["lowestTick"]),
        high_tick=_int(row["highestTick"]),
        in_amount0=_int(row["inAmount0"]),
        in_amount1=_int(row["inAmount1"]),
        liquidity=_int(row["currentLiquidity"]),
    )


def load_minutes(path: Path) -> list[MinuteBar]:
    """The minute bars of one CSV, or of every CSV in a folder (one file a day), in time
    order."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    bars = []
    for file in files:
        for number, row in _rows(file):
            try:
                bars.append(_bar(row))
            except (KeyError, ValueError) as exc:
                raise HistoryError(f"{file}:{number}: {exc!r}") from exc
    return sorted(bars, key=lambda bar: bar.timestamp)
