"""What the actors build from the settings: the venue adapter on the deployment's chain,
and the names they find each other by."""

from __future__ import annotations

from typing import Any

from platform_core.chain.devnet import load_deployment
from platform_core.config import Settings
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.market.venue_manager import VenueManager

NAMESPACE = "sep"
PLANNER_NAME = "execution-planner"
VENUE = "uniswap_v3"


def processor_name(index: int) -> str:
    return f"intent-processor-{index}"


def executor_name(venue: str, wallet: str) -> str:
    return f"executor:{venue}:{wallet.lower()}"


def venue_adapter(settings: Settings, venue: str = VENUE) -> UniswapV3Adapter:
    """The adapter for `venue` on the deployment's chain (close `adapter.client` after)."""
    deployment: dict[str, Any] = load_deployment(settings.deployment_path)
    adapter = VenueManager.from_settings(settings).get(venue, int(deployment["chain_id"]))
    assert isinstance(adapter, UniswapV3Adapter)
    return adapter
