"""What the actors build from the settings: the venue adapters on the deployment's chain,
and the names they find each other by."""

from __future__ import annotations

from typing import Any

from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import load_deployment
from platform_core.config import Settings
from platform_core.market.adapter import VenueAdapter
from platform_core.market.venue_manager import VenueManager, deployed_venues

NAMESPACE = "sep"
PLANNER_NAME = "execution-planner"
VENUE = "uniswap_v3"  # the venue the planner routes on (and the default venue adapter)


def processor_name(index: int) -> str:
    return f"intent-processor-{index}"


def venue_actor_name(chain_id: int, venue: str) -> str:
    """The venue adapter actor of (chain, venue): the only reader of its pools."""
    return f"venue:{chain_id}:{venue}"


def market_data_name(chain_id: int) -> str:
    """The MarketData actor of a chain: its consolidated books, across every venue."""
    return f"market-data:{chain_id}"


def chain_monitor_name(chain_id: int) -> str:
    """The ChainMonitor actor of a chain: follows its blocks for our transactions."""
    return f"chain-monitor:{chain_id}"


def executor_name(chain_id: int, wallet: str) -> str:
    """The execution actor of (chain, wallet): the one that numbers and signs the wallet's
    transactions on that chain, for every venue."""
    return f"executor:{chain_id}:{wallet.lower()}"


def execution_chains(settings: Settings) -> list[int]:
    """The configured chains the deployment has venues on: one execution actor per wallet
    on each."""
    deployment: dict[str, Any] = load_deployment(settings.deployment_path)
    return [chain_id for chain_id in settings.chains if chain_id == int(deployment["chain_id"])]


def market_venues(settings: Settings) -> list[tuple[int, str]]:
    """Every (chain, venue) with a venue adapter actor: each venue configured for a chain
    (`ChainSettings.venues`) that the deployment has there."""
    deployment: dict[str, Any] = load_deployment(settings.deployment_path)
    deployed = deployed_venues(deployment)
    return [
        (chain_id, venue)
        for chain_id in execution_chains(settings)
        for venue in settings.chains[chain_id].venues
        if venue in deployed
    ]


def chain_venues(settings: Settings, chain_id: int) -> tuple[ChainClient, list[VenueAdapter]]:
    """A client on `chain_id` and every configured venue adapter the deployment has there,
    all on that client (close it after); no adapter when the deployment is elsewhere."""
    chain = settings.chains[chain_id]
    client = ChainClient(chain.rpc_url, timeout_s=settings.rpc_timeout_s)
    deployment: dict[str, Any] = load_deployment(settings.deployment_path)
    if int(deployment["chain_id"]) != chain_id:
        return client, []
    manager = VenueManager.for_deployment(client, chain_id, deployment)
    venues = [venue for venue in manager.venues(chain_id) if venue in chain.venues]
    return client, [manager.get(venue, chain_id) for venue in venues]


def venue_adapter(settings: Settings, venue: str = VENUE) -> VenueAdapter:
    """The adapter for `venue` on the deployment's chain (close `adapter.client` after)."""
    deployment: dict[str, Any] = load_deployment(settings.deployment_path)
    return VenueManager.from_settings(settings).get(venue, int(deployment["chain_id"]))
