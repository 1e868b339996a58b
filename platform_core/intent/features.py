"""`build_features`: the prioritiser's inputs from an intent and the market around it.

The market side (`MarketContext`) is gathered by the caller from its quotes, pool state and
the strategy's book; this module only turns numbers into `MLFeatures` and refuses values
that cannot describe a real market, rather than scoring them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from platform_core.errors import ErrorCode, PlatformError
from platform_core.types import ExecutionStyle, Intent, IntentType, MLFeatures


class FeatureError(PlatformError, ValueError):
    """A market value that cannot be real (negative liquidity, NaN volatility, ...)."""

    code = ErrorCode.MARKET_DATA_INVALID


@dataclass(frozen=True, slots=True)
class MarketContext:
    """What the market looks like for this intent, all in plain numbers.

    notional_usd: the intent's size valued in USD.
    available_liquidity_usd: the liquidity the allowed venues hold for the pair, in USD.
    volatility: the pair's recent realised volatility, a fraction (0.05 = 5 %).
    drawdown: the current drawdown of the strategy or market from its peak, in [0, 1].
    """

    notional_usd: float
    available_liquidity_usd: float
    volatility: float
    drawdown: float

    def __post_init__(self) -> None:
        for name in ("notional_usd", "available_liquidity_usd", "volatility", "drawdown"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise FeatureError(f"{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value):
                raise FeatureError(f"{name} must be finite, got {value}")
        if self.notional_usd <= 0:
            raise FeatureError(f"notional_usd must be positive, got {self.notional_usd}")
        if self.available_liquidity_usd <= 0:
            # No liquidity is not "infinitely urgent": nothing can be routed; deny upstream.
            raise FeatureError(
                f"available_liquidity_usd must be positive, got {self.available_liquidity_usd}"
            )
        if self.volatility < 0:
            raise FeatureError(f"volatility cannot be negative, got {self.volatility}")
        if not 0 <= self.drawdown <= 1:
            raise FeatureError(f"drawdown must be in [0, 1], got {self.drawdown}")


def build_features(intent: Intent, market: MarketContext) -> MLFeatures:
    """The feature vector for `intent` under `market` (pure: same inputs, same features)."""
    aggressive = intent.constraints.execution_style is ExecutionStyle.AGGRESSIVE
    return MLFeatures(
        time_window_s=intent.constraints.time_window_ms / 1000.0,
        log10_notional_usd=math.log10(market.notional_usd),
        size_to_liquidity=market.notional_usd / market.available_liquidity_usd,
        volatility=float(market.volatility),
        drawdown=float(market.drawdown),
        is_dispose=1.0 if intent.type is IntentType.DISPOSE else 0.0,
        is_aggressive=1.0 if aggressive else 0.0,
    )
